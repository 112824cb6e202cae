"""`manage.py evaluate SYMBOL [--timeframe TF] [--limit N] [--json]`: decide without acting.

Exit codes (CONTRACT.md): 0 decided, 1 a failure it detected (exchange, unusable candles), 2 bad arguments.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.exchange import services as exchange_services
from apps.exchange.broker import ExchangeError
from apps.signals.build import FeatureInputError
from apps.signals.selectors import decision_explain
from apps.signals.services import SignalInputError, clean_limit, clean_symbol, evaluate, timeframe_delta

DEFAULT_LIMIT = 200


class Command(BaseCommand):
    help = "Decide for SYMBOL on closed candles without placing any order; prints decision, score, explanation."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("symbol", help="unified symbol, e.g. BTC/USDT")
        parser.add_argument("--timeframe", default=None, help="candle timeframe (default: TIMEFRAME)")
        parser.add_argument("--limit", default=str(DEFAULT_LIMIT), help=f"closed candles (default {DEFAULT_LIMIT})")
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")

    def handle(self, *args, **options) -> None:
        as_json = options["json"]
        try:
            symbol = clean_symbol(options["symbol"])
            timeframe = options["timeframe"] or settings.TIMEFRAME
            timeframe_delta(timeframe)
            limit = clean_limit(options["limit"])
        except SignalInputError as exc:
            self._fail(as_json, 2, str(exc), field=exc.field)

        try:
            broker = exchange_services.get_broker()
        except (ValueError, ExchangeError) as exc:  # e.g. MODE=backtest has no exchange broker
            self._fail(as_json, 1, f"no broker available: {exc}")
        try:
            decision = evaluate(symbol=symbol, timeframe=timeframe, limit=limit, broker=broker, source="command")
        except SignalInputError as exc:
            self._fail(as_json, 2, str(exc), field=exc.field)
        except FeatureInputError as exc:
            self._fail(as_json, 1, f"unusable candles: {exc}")
        except ExchangeError as exc:
            self._fail(as_json, 1, f"exchange error ({type(exc).__name__}): {exc}")

        if as_json:
            self.stdout.write(json.dumps(decision_explain(decision), default=str))
            return
        self.stdout.write(
            f"Decision #{decision.pk} {decision.symbol} {decision.timeframe}: {decision.action.upper()} "
            f"score {decision.score:+.3f} (rule {decision.rule}, regime {decision.regime}, "
            f"{decision.latency_ms:.1f} ms)"
        )
        self.stdout.write(decision.explanation)

    def _fail(self, as_json: bool, code: int, message: str, *, field: str | None = None):
        if as_json:
            self.stdout.write(json.dumps({"error": message, "field": field, "exit_code": code}))
        raise CommandError(message, returncode=code)
