"""`manage.py backtest --symbol S --timeframe TF (--csv FILE | --since DATE --until DATE) [--json]`.

Replays the live decision, risk and exit code over historical candles and prints the metrics; a progress
bar on a terminal. With `--grid NAME=v1,v2,...` (repeatable) it runs a sweep instead: every combination as
a Celery task on the workers, a progress bar while they run, then the combinations ranked by `--rank-by`.
Running the same sweep command again resumes it (finished combinations are kept).
Exit codes (CONTRACT.md): 0 done, 1 a failure it detected (unusable candles, the
exchange), 2 bad arguments (both or neither source, a bad date, a missing file, a bad parameter).
"""

from __future__ import annotations

import gc
import json
import time
from datetime import datetime
from typing import Any, NoReturn

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
        parser.add_argument(
            "--grid",
            action="append",
            default=[],
            metavar="NAME=V1,V2,...",
            help="sweep a parameter over these values (repeatable; a JSON list for objects, e.g. weights=[{...}])",
        )
        parser.add_argument("--rank-by", default="total_return_pct", help="the metric a sweep is ranked by")
        parser.add_argument("--no-wait", action="store_true", help="start the sweep and return at once")
        parser.add_argument("--top", type=int, default=10, help="how many ranked combinations a sweep prints")
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")

    def handle(self, *args: Any, **options: Any) -> None:
        # start-up cost: the objects of Django's set-up live as long as the process; leaving them out of the
        # collector's passes saves its scans during the run and at exit (about half a second on 2 cores).
        gc.freeze()
        as_json = options["json"]
        csv_path, since_text, until_text = options["csv"], options["since"], options["until"]
        if csv_path and (since_text or until_text):
            self._fail(as_json, 2, "give either --csv or --since/--until, not both", field="csv")
        if not csv_path and not (since_text and until_text):
            self._fail(as_json, 2, "give --csv FILE or both --since DATE and --until DATE", field="since")
        since = self._date(as_json, since_text, "since")
        until = self._date(as_json, until_text, "until")
        params = self._params(as_json, options["param"])
        if options["grid"]:
            return self._sweep(options, params, since, until)
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

    def _sweep(self, options: dict[str, Any], params: dict[str, Any], since, until) -> None:
        # start-up cost: a single run's path does not load the sweep machinery
        from apps.backtest.sweeps import sweep_json, sweep_progress, sweep_start

        as_json = options["json"]
        grid = self._grid(as_json, options["grid"])
        try:
            sweep = sweep_start(
                symbol=options["symbol"],
                timeframe=options["timeframe"] or settings.TIMEFRAME,
                grid=grid,
                csv_path=options["csv"],
                since=since,
                until=until,
                params=params,
                rank_by=options["rank_by"],
                actor=Actor.system("command:backtest"),
            )
        except BacktestInputError as exc:
            self._fail(as_json, 2, str(exc), field=exc.field)
        except (CandleDataError, FeatureInputError) as exc:
            self._fail(as_json, 1, f"unusable candles: {exc}")
        except ExchangeError as exc:
            self._fail(as_json, 1, f"exchange error ({type(exc).__name__}): {exc}")
        if not options["no_wait"]:
            bar = self.stdout.isatty() and not as_json
            if not as_json:
                self.stdout.write(f"Sweep #{sweep.pk}: {sweep.total} combinations on the Celery workers")
            while True:
                sweep.refresh_from_db()
                done, total = sweep_progress(sweep)
                if bar:
                    self._progress(done, total, unit="combinations")
                if sweep.status in (sweep.Status.DONE, sweep.Status.FAILED):
                    break
                time.sleep(0.5)
            if bar:
                self.stdout.write("")
        body = sweep_json(sweep, top=options["top"])
        if as_json:
            self.stdout.write(json.dumps(body, default=str))
            return
        self.stdout.write(
            f"Sweep #{sweep.pk} {sweep.symbol} {sweep.timeframe}: {body['finished']}/{body['total']} combinations "
            f"{sweep.status}, ranked by {sweep.rank_by}"
        )
        for row in body["ranking"]:
            m = row["metrics"]
            values = row["combination"].items()
            combo = " ".join(f"{k}={json.dumps(v) if isinstance(v, dict) else v}" for k, v in values)
            outcome = row["error"] or (
                f"{sweep.rank_by} {row[sweep.rank_by]}  trades {m.get('trades')}  return % {m.get('total_return_pct')}"
                f"  max drawdown % {m.get('max_drawdown_pct')}"
            )
            self.stdout.write(f"  {row['rank']:>3}. run #{row['run']}  {combo}  {outcome}")

    def _grid(self, as_json: bool, pairs: list[str]) -> dict[str, list[Any]]:
        grid: dict[str, list[Any]] = {}
        for pair in pairs:
            name, sep, values = pair.partition("=")
            name, values = name.strip(), values.strip()
            if not sep or not name or not values:
                self._fail(as_json, 2, f"--grid {pair!r} is not NAME=V1,V2,...", field="grid")
            if values.startswith("["):
                try:
                    parsed = json.loads(values)
                except ValueError:
                    self._fail(as_json, 2, f"--grid {name}: {values!r} is not a JSON list", field="grid")
            else:
                parsed = [v.strip() for v in values.split(",") if v.strip()]
            if name in grid:
                self._fail(as_json, 2, f"--grid {name} is given twice", field="grid")
            grid[name] = parsed
        return grid

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

    def _progress(self, done: int, total: int, unit: str = "candles") -> None:
        width = 30
        filled = width * done // max(1, total)
        self.stdout.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {unit}", ending="")
        self.stdout.flush()

    def _fail(self, as_json: bool, code: int, message: str, *, field: str | None = None) -> NoReturn:
        if as_json:
            self.stdout.write(json.dumps({"error": message, "field": field, "exit_code": code}))
        raise CommandError(message, returncode=code)
