"""`manage.py backtest --symbol S --timeframe TF (--csv FILE | --since DATE --until DATE) [--json]`.

Replays the live decision, risk and exit code over historical candles and prints the metrics; a progress
bar on a terminal. Exit codes (CONTRACT.md): 0 done, 1 a failure it detected (unusable candles, the
exchange), 2 bad arguments (both or neither source, a bad date, a missing file, a bad parameter).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.actors import Actor
from apps.backtest.history import CandleDataError, parse_time
from apps.backtest.services import BacktestInputError, backtest_run
from apps.exchange.broker import ExchangeError
from apps.signals.build import FeatureInputError

SUMMARY = (
    ("trades", "trades"),
    ("win_rate_pct", "win rate %"),
    ("total_return_pct", "total return %"),
    ("realized_pnl", "realized PnL"),
    ("fees", "fees"),
    ("max_drawdown_pct", "max drawdown %"),
    ("profit_factor", "profit factor"),
    ("sharpe", "Sharpe (annualised)"),
    ("exposure_pct", "exposure %"),
    ("average_trade", "average trade"),
)


class Command(BaseCommand):
    help = "Replay the signal, risk and exit code over historical candles (CSV or exchange) and print the metrics."
    # The system checks import every URL module and the API (about a second): not needed to replay candles.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--symbol", required=True, help="unified symbol, e.g. BTC/USDT")
        parser.add_argument("--timeframe", default=None, help="candle timeframe (default: TIMEFRAME)")
        parser.add_argument("--csv", default=None, help="candles file with columns time,open,high,low,close,volume")
        parser.add_argument("--since", default=None, help="exchange history from this date (UTC), e.g. 2024-01-01")
        parser.add_argument("--until", default=None, help="exchange history up to this date (UTC, exclusive)")
        parser.add_argument(
            "--param", action="append", default=[], metavar="NAME=VALUE", help="override a parameter, e.g. fee_pct=0.1"
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")

    def handle(self, *args: Any, **options: Any) -> None:
        as_json = options["json"]
        csv_path, since_text, until_text = options["csv"], options["since"], options["until"]
        if csv_path and (since_text or until_text):
            self._fail(as_json, 2, "give either --csv or --since/--until, not both", field="csv")
        if not csv_path and not (since_text and until_text):
            self._fail(as_json, 2, "give --csv FILE or both --since DATE and --until DATE", field="since")
        since = self._date(as_json, since_text, "since")
        until = self._date(as_json, until_text, "until")
        params = self._params(as_json, options["param"])
        progress = self._progress if self.stdout.isatty() and not as_json else None
        try:
            run = backtest_run(
                symbol=options["symbol"],
                timeframe=options["timeframe"] or settings.TIMEFRAME,
                csv_path=csv_path,
                since=since,
                until=until,
                params=params,
                actor=Actor.system("command:backtest"),
                progress=progress,
            )
        except BacktestInputError as exc:
            self._fail(as_json, 2, str(exc), field=exc.field)
        except (CandleDataError, FeatureInputError) as exc:
            self._fail(as_json, 1, f"unusable candles: {exc}")
        except ExchangeError as exc:
            self._fail(as_json, 1, f"exchange error ({type(exc).__name__}): {exc}")
        finally:
            if progress is not None:
                self.stdout.write("")
        if as_json:
            self.stdout.write(json.dumps({"id": run.pk, "status": run.status, "metrics": run.metrics}, default=str))
            return
        m = run.metrics
        self.stdout.write(
            f"Backtest #{run.pk} {run.symbol} {run.timeframe}: {run.candles} candles "
            f"({run.source}), {m['trades']} trades"
        )
        for key, label in SUMMARY:
            self.stdout.write(f"  {label:<22} {m.get(key) if m.get(key) is not None else '-'}")
        if m.get("blocked"):
            self.stdout.write(f"  {'entries blocked':<22} {m['blocked']}")

    def _date(self, as_json: bool, text: str | None, field: str) -> datetime | None:
        if text is None:
            return None
        try:
            return parse_time(text)
        except (ValueError, OverflowError, OSError):
            self._fail(as_json, 2, f"--{field} {text!r} is not a date (YYYY-MM-DD or ISO 8601)", field=field)

    def _params(self, as_json: bool, pairs: list[str]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for pair in pairs:
            name, sep, value = pair.partition("=")
            if not sep or not name.strip():
                self._fail(as_json, 2, f"--param {pair!r} is not NAME=VALUE", field="param")
            try:
                params[name.strip()] = json.loads(value) if value.strip().startswith("{") else value.strip()
            except ValueError:
                self._fail(as_json, 2, f"--param {name.strip()}: {value!r} is not a JSON object", field="param")
        return params

    def _progress(self, done: int, total: int) -> None:
        width = 30
        filled = width * done // total
        self.stdout.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} candles", ending="")
        self.stdout.flush()

    def _fail(self, as_json: bool, code: int, message: str, *, field: str | None = None):
        if as_json:
            self.stdout.write(json.dumps({"error": message, "field": field, "exit_code": code}))
        raise CommandError(message, returncode=code)
