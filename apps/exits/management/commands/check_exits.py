"""`manage.py check_exits [--json]`: one protective-exit pass.

Exit codes (CONTRACT.md): 0 the pass ran clean, 1 a failure it detected (exchange unreachable, an exit that
failed or an order that could not be sent), 2 bad arguments.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.actors import Actor
from apps.exchange import services as exchange_services
from apps.exchange.broker import ExchangeError
from apps.exits.services import exits_check


class Command(BaseCommand):
    help = "Run one protective-exit pass: check prices, send exit orders, follow up stuck ones, sync exchange stops."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")

    def handle(self, *args, **options) -> None:
        as_json = options["json"]
        try:
            broker = exchange_services.get_broker()
            result = exits_check(broker=broker, actor=Actor.system("check_exits"))
        except (ValueError, ExchangeError) as exc:
            self._fail(as_json, f"exits pass failed ({type(exc).__name__}): {exc}")
        if as_json:
            self.stdout.write(json.dumps(result.as_dict(), default=str))
        else:
            self.stdout.write(
                f"Exits pass: {result.checked} armed checked on {result.symbols} symbol(s), "
                f"{result.triggered} triggered, {result.orders_sent} order(s) sent, {result.in_progress} in "
                f"progress, {result.stuck} stuck, {result.failed} failed ({result.duration_ms:.1f} ms)"
            )
            if result.stops_placed or result.stops_cancelled or result.stops_fired:
                self.stdout.write(
                    f"Exchange stops: {result.stops_placed} placed, {result.stops_cancelled} cancelled, "
                    f"{result.stops_fired} fired"
                )
            for error in result.errors:
                self.stderr.write(f"error: {error}")
        if not result.ok:
            raise CommandError("the exits pass reported failures", returncode=1)

    def _fail(self, as_json: bool, message: str):
        if as_json:
            self.stdout.write(json.dumps({"error": message, "exit_code": 1}))
        raise CommandError(message, returncode=1)
