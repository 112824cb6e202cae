"""`manage.py reconcile [--json] [--symbol S ...] [--lookback-hours N]`: one reconciliation pass now.

Prints the counts of checked, fixed, imported and missing orders. Exit codes (CONTRACT.md): 0 the pass ran,
1 a failure it detected (no broker, exchange error: the run is stored as failed), 2 bad arguments.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.actors import Actor
from apps.exchange import services as exchange_services
from apps.exchange.broker import ExchangeError
from apps.reconciliation.models import ReconciliationRun
from apps.reconciliation.selectors import run_summary
from apps.reconciliation.services import reconcile


class Command(BaseCommand):
    help = "Run one reconciliation pass; prints checked, fixed, imported and missing counts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--symbol", action="append", dest="symbols", help="only this symbol (repeatable)")
        parser.add_argument(
            "--lookback-hours", default=None, help="hours to look back (default RECONCILE_LOOKBACK_HOURS)"
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")

    def handle(self, *args, **options) -> None:
        as_json = options["json"]
        lookback = options["lookback_hours"]
        if lookback is not None:
            try:
                lookback = int(lookback)
            except ValueError:
                lookback = 0
            if not 1 <= lookback <= 720:
                self._fail(as_json, 2, "--lookback-hours must be a whole number from 1 to 720")
        symbols = options["symbols"]
        if symbols is not None:
            for symbol in symbols:
                base, _, quote = symbol.partition("/")
                if not base or not quote or "/" in quote:
                    self._fail(as_json, 2, f"--symbol {symbol!r} is not a unified symbol like BTC/USDT")
        if settings.MODE == "backtest":
            self._fail(as_json, 1, "MODE=backtest has no exchange to reconcile with")
        try:
            broker = exchange_services.get_broker()
        except (ValueError, ExchangeError) as exc:
            self._fail(as_json, 1, f"no broker available: {exc}")

        run = reconcile(
            broker=broker, actor=Actor.system("command"), trigger="command", symbols=symbols, lookback_hours=lookback
        )
        summary = run_summary(run)
        if as_json:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(
                f"Reconciliation #{run.pk} {run.status}: checked {run.checked}, fixed {run.fixed}, "
                f"imported {run.imported}, missing {run.missing} ({run.exchange_calls} exchange calls)"
            )
            for kind, count in sorted(summary["discrepancies"].items()):
                self.stdout.write(f"  {kind}: {count}")
            if run.error:
                self.stderr.write(run.error)
        if run.status == ReconciliationRun.Status.FAILED:
            raise CommandError(f"reconciliation failed: {run.error[:200]}", returncode=1)

    def _fail(self, as_json: bool, code: int, message: str):
        if as_json:
            self.stdout.write(json.dumps({"error": message, "exit_code": code}))
        raise CommandError(message, returncode=code)
