"""Which books an order, fill or position belongs to: the paper broker's or the live exchange's.

Paper and live run on the same database (an operator tries paper, then goes live without a new database), so
every order, fill and position records its venue, and every reading of the books of a mode goes through the
venue of that mode. A broker states its venue (`broker.venue`); an order is only ever sent to a broker of its
own venue (`check_venue`), so nothing of paper ever reaches the exchange.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.exchange.broker import Broker


class Venue(models.TextChoices):
    PAPER = "paper", "Paper (simulated fills)"
    LIVE = "live", "Live (Gate.io)"


class WrongVenue(RuntimeError):
    """An order or position of one venue was about to reach the broker of another: nothing was sent."""


def current_venue() -> str:
    """The venue of this process's mode: `live` for MODE=live, `paper` otherwise (backtests keep no books)."""

    return Venue.LIVE if getattr(settings, "MODE", "paper") == "live" else Venue.PAPER


def venue_of(broker: Broker) -> str:
    """The books a broker trades for (apps.exchange.broker.Broker.venue, declared by every broker and wrapper).
    A broker naming no known venue is a programming error: refused rather than guessed from the mode."""
    venue = broker.venue
    if venue not in Venue.values:
        raise ValueError(f"broker {type(broker).__name__} names venue {venue!r}, not one of {', '.join(Venue.values)}")
    return venue


def check_venue(*, venue: str, broker: Broker, what: str) -> None:
    """Refuse (WrongVenue) before anything is sent when `what` lives on another venue than the broker's."""
    broker_venue = venue_of(broker)
    if venue != broker_venue:
        raise WrongVenue(
            f"{what} lives on the {venue} books; the {broker_venue} broker never trades it (nothing was sent)"
        )
