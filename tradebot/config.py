"""Every setting tradebot reads from the environment (and `.env`), parsed and validated in one place.

`load_config()` returns a frozen `Config`; a bad value raises `ConfigError` naming the variable and the
accepted form. `tradebot/settings.py` names each field as a Django setting of the same name (plain
module-level names, so type checkers and readers see them).

Everything the product writes lives under DATA_DIR: the default SQLite database, the generated development
SECRET_KEY (`.secret_key`), backups, logs, metrics, the embedded broker, limiter and history caches.
"""

from __future__ import annotations

import math
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent

MODES = ("paper", "live", "backtest")
TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "4h", "8h", "1d")
_TIMEFRAME_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def timeframe_seconds(timeframe: str) -> int:
    """The length of one candle in seconds (1m -> 60, 4h -> 14400); ValueError for anything else."""
    match = re.fullmatch(r"(\d+)([smhd])", timeframe or "")
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"{timeframe!r} is not a candle timeframe like 1m, 5m, 1h or 1d")
    return int(match.group(1)) * _TIMEFRAME_UNITS[match.group(2)]


LOG_FORMATS = ("json", "console")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,15}/[A-Z0-9]{2,15}$")
HOURS_RE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
# The directional features the signal fusion can weight (apps/signals/build.py computes them).
SIGNAL_FEATURES = ("ema", "rsi", "macd", "bb", "volume")


class ConfigError(ValueError):
    """A setting has a value tradebot cannot accept."""

    def __init__(self, variable: str, value: str, accepted: str) -> None:
        self.variable = variable
        self.value = value
        self.accepted = accepted
        super().__init__(f"{variable}={value!r} is not valid: expected {accepted}")


@dataclass(frozen=True)
class HoursWindow:
    """A daily UTC window; `end` before `start` wraps midnight, 00:00-24:00 is the whole day."""

    start: time
    end_minutes: int  # minutes after midnight, 1440 meaning the end of the day
    start_minutes: int

    def contains(self, moment: time) -> bool:
        m = moment.hour * 60 + moment.minute
        if self.start_minutes == self.end_minutes:
            return self.start_minutes == 0 and self.end_minutes in (0, 1440)
        if self.start_minutes < self.end_minutes:
            return self.start_minutes <= m < self.end_minutes
        return m >= self.start_minutes or m < self.end_minutes

    def __str__(self) -> str:
        end_h, end_m = divmod(self.end_minutes, 60)
        return f"{self.start:%H:%M}-{end_h:02d}:{end_m:02d}"


def parse_hours(text: str) -> HoursWindow:
    match = HOURS_RE.match(text.strip())
    if not match:
        raise ValueError(text)
    sh, sm, eh, em = (int(g) for g in match.groups())
    if sh > 23 or sm > 59 or em > 59 or eh > 24 or (eh == 24 and em != 0):
        raise ValueError(text)
    start = sh * 60 + sm
    end = eh * 60 + em
    if start == end and not (start == 0 and end == 0):
        raise ValueError(text)
    if start == 0 and end == 0:
        end = 1440
    return HoursWindow(start=time(sh, sm), start_minutes=start, end_minutes=end)


@dataclass(frozen=True)
class Config:
    MODE: str
    ENABLE_TRADING: bool
    SYMBOLS: tuple[str, ...]
    TIMEFRAME: str
    POSITION_SIZE_USD: Decimal
    EXCHANGE: str
    GATEIO_API_KEY: str
    GATEIO_API_SECRET: str
    GATEIO_SANDBOX: bool
    GATEIO_API_URL: str
    GATEIO_ORDER_EXPIRY_SEC: Decimal
    GATEIO_VISIBILITY_LAG_SEC: Decimal
    GATEIO_CLOCK_SKEW_SEC: Decimal
    GATEIO_UNIFIED_ACCOUNT: bool
    MAX_POSITIONS: int
    STOP_LOSS_PCT: Decimal
    TAKE_PROFIT_PCT: Decimal
    MAX_DRAWDOWN_PCT: Decimal
    MAX_CONSECUTIVE_LOSSES: int
    LOSS_COOLDOWN_MIN: int
    RISK_HOURS_UTC: HoursWindow
    RECONCILE_INTERVAL_SEC: int
    RECONCILE_LOOKBACK_HOURS: int
    EXITS_CHECK_INTERVAL_SEC: int
    EXITS_STUCK_AFTER_SEC: int
    EXITS_MAX_ATTEMPTS: int
    PERF_BUDGET_DECISION_P99_MS: int
    PERF_BUDGET_ORDER_P99_MS: int
    PERF_BUDGET_FLOW_P99_MS: int
    DATABASE_URL: str
    DB_BACKUP_INTERVAL_HOURS: int
    DB_BACKUP_DIR: Path
    DB_BACKUP_KEEP: int
    REDIS_URL: str
    TELEGRAM_BOT_TOKEN: str
    TELEGRAM_WEBHOOK_SECRET: str
    TELEGRAM_ALLOWED_CHAT_IDS: tuple[int, ...]
    TELEGRAM_TRADING_CHAT_IDS: tuple[int, ...]
    ALERT_TELEGRAM_CHAT_ID: int | None
    TELEGRAM_API_BASE_URL: str
    EXITS_ON_EXCHANGE: bool
    SENTRY_DSN: str
    LOG_LEVEL: str
    LOG_FORMAT: str
    SECRET_KEY: str
    DEBUG: bool
    ALLOWED_HOSTS: tuple[str, ...]
    RATE_LIMIT_CALLS: int
    RATE_LIMIT_PERIOD_SEC: int
    RATE_LIMIT_MAX_WAIT_SEC: Decimal
    BREAKER_FAILURE_THRESHOLD: int
    BREAKER_COOLDOWN_SEC: int
    PAPER_FEE_PCT: Decimal
    PAPER_SLIPPAGE_BPS: Decimal
    SIMULATOR_PORT: int
    SIGNAL_WEIGHTS: dict[str, float]
    SIGNAL_ENTRY_THRESHOLD: float
    SIGNAL_EXIT_THRESHOLD: float
    # --- operator security (issue 12) ---
    SECURE_HTTPS: bool
    METRICS_TOKEN: str
    ADMIN_LOGIN_FAILURE_LIMIT: int
    ADMIN_LOGIN_COOLOFF_MIN: int
    ADMIN_2FA_PAPER: bool
    ADMIN_SESSION_HOURS: int
    ADMIN_REAUTH_WINDOW_SEC: int
    DISPLAY_TIMEZONE: str
    DATA_DIR: Path = field(default=BASE_DIR / "data")

    def as_settings(self) -> dict[str, Any]:
        """Every field by name (tests compare it with the Django settings)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


# --- parsers: each takes the raw text and returns the value or raises ValueError -------------------


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(text)


def _optional_bool(text: str) -> bool | None:
    return None if not text.strip() else _bool(text)


def _int_range(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text.strip())
        if not low <= value <= high:
            raise ValueError(text)
        return value

    return parse


def _decimal_range(
    low: Decimal, high: Decimal, *, low_inclusive: bool = False, high_inclusive: bool = True
) -> Callable[[str], Decimal]:
    def parse(text: str) -> Decimal:
        try:
            value = Decimal(text.strip())
        except InvalidOperation as exc:
            raise ValueError(text) from exc
        if not value.is_finite() or value > high or value < low or (value == low and not low_inclusive):
            raise ValueError(text)
        if value == high and not high_inclusive:
            raise ValueError(text)
        return value

    return parse


def _choice(options: tuple[str, ...], *, upper: bool = False) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().upper() if upper else text.strip().lower()
        if value not in options:
            raise ValueError(text)
        return value

    return parse


def _symbols(text: str) -> tuple[str, ...]:
    items = [s.strip().upper() for s in text.split(",") if s.strip()]
    if not items or any(not SYMBOL_RE.match(s) for s in items):
        raise ValueError(text)
    return tuple(dict.fromkeys(items))


def _chat_ids(text: str) -> tuple[int, ...]:
    return tuple(int(s.strip()) for s in text.split(",") if s.strip())


def _optional_chat_id(text: str) -> int | None:
    return int(text.strip()) if text.strip() else None


def _database_url(text: str) -> str:
    value = text.strip()
    if not re.match(r"^(sqlite:///.+|postgres(ql)?://.+)$", value):
        raise ValueError(text)
    return value


def _redis_url(text: str) -> str:
    value = text.strip()
    if value and not re.match(r"^rediss?://[^\s]+$", value):
        raise ValueError(text)
    return value


def _http_url(text: str) -> str:
    value = text.strip().rstrip("/")
    if value and not re.match(r"^https?://[^\s/]+(/[^\s]*)?$", value):
        raise ValueError(text)
    return value


def _hosts(text: str) -> tuple[str, ...]:
    items = tuple(h.strip() for h in text.split(",") if h.strip())
    if not items:
        raise ValueError(text)
    return items


def _nonempty(text: str) -> str:
    if not text.strip():
        raise ValueError(text)
    return text.strip()


def _text(text: str) -> str:
    return text.strip()


def _token(text: str) -> str:
    value = text.strip()
    if value and (len(value) < 16 or len(value) > 200 or re.search(r"\s", value)):
        raise ValueError(text)
    return value


def _float_range(low: float, high: float, *, low_inclusive: bool, high_inclusive: bool) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = float(text.strip())
        if not math.isfinite(value) or value < low or value > high:
            raise ValueError(text)
        if (value == low and not low_inclusive) or (value == high and not high_inclusive):
            raise ValueError(text)
        return value

    return parse


def _timezone(text: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = text.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(name) from exc
    return name


def _signal_weights(text: str) -> dict[str, float]:
    """`ema=0.3,rsi=0.2,...`: every feature named at most once; features not named weigh 0."""
    weights = dict.fromkeys(SIGNAL_FEATURES, 0.0)
    seen: set[str] = set()
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, number = item.partition("=")
        name = name.strip().lower()
        if not sep or name not in weights or name in seen:
            raise ValueError(text)
        value = float(number.strip())
        if not math.isfinite(value):
            raise ValueError(text)
        weights[name] = value
        seen.add(name)
    if not any(weights.values()):
        raise ValueError(text)
    return weights


LIVE_SECRET_KEY_MIN = 50

# variable -> (default, parser, accepted form shown in errors)
SPEC: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "MODE": ("paper", _choice(MODES), "one of paper, live, backtest"),
    "ENABLE_TRADING": ("false", _bool, "true or false"),
    "SYMBOLS": ("BTC/USDT", _symbols, "comma-separated unified symbols such as BTC/USDT,ETH/USDT"),
    "TIMEFRAME": ("1m", _choice(TIMEFRAMES), "one of " + ", ".join(TIMEFRAMES)),
    "POSITION_SIZE_USD": ("100", _decimal_range(Decimal(0), Decimal(10**9)), "a positive decimal amount"),
    "EXCHANGE": ("gateio", _choice(("gateio", "gate")), "gateio"),
    "GATEIO_API_KEY": ("", _text, "the API key text"),
    "GATEIO_API_SECRET": ("", _text, "the API secret text"),
    "GATEIO_SANDBOX": ("false", _bool, "true or false"),
    "GATEIO_API_URL": ("", _http_url, "an http(s) URL such as http://127.0.0.1:8765/api/v4, or empty"),
    # An order request carries x-gate-exptime = when it leaves + this; Gate.io drops it if it arrives later.
    "GATEIO_ORDER_EXPIRY_SEC": (
        "10",
        _decimal_range(Decimal("0.1"), Decimal(120), low_inclusive=True),
        "seconds from 0.1 to 120",
    ),
    # How long a new order may be missing from every lookup (Gate.io's maintainers: report it after 10 s).
    "GATEIO_VISIBILITY_LAG_SEC": (
        "10",
        _decimal_range(Decimal(0), Decimal(120), low_inclusive=True),
        "seconds from 0 to 120",
    ),
    # How far Gate.io's clock may be from ours (it refuses requests more than 60 s off).
    "GATEIO_CLOCK_SKEW_SEC": ("2", _decimal_range(Decimal(0), Decimal(60), low_inclusive=True), "seconds from 0 to 60"),
    "GATEIO_UNIFIED_ACCOUNT": ("false", _bool, "true or false"),
    "MAX_POSITIONS": ("3", _int_range(0, 1000), "an integer from 0 to 1000"),
    # A stop 50% or more below the entry protects nothing (100% would be a stop at price 0).
    "STOP_LOSS_PCT": (
        "2.0",
        _decimal_range(Decimal(0), Decimal(50), high_inclusive=False),
        "a percentage greater than 0 and below 50",
    ),
    "TAKE_PROFIT_PCT": ("4.0", _decimal_range(Decimal(0), Decimal(10000)), "a percentage greater than 0"),
    "MAX_DRAWDOWN_PCT": (
        "5.0",
        _decimal_range(Decimal(0), Decimal(100), high_inclusive=False),
        "a percentage greater than 0 and below 100",
    ),
    "MAX_CONSECUTIVE_LOSSES": ("3", _int_range(1, 1000), "an integer from 1 to 1000"),
    "LOSS_COOLDOWN_MIN": ("60", _int_range(0, 100000), "a whole number of minutes, 0 or more"),
    "RISK_HOURS_UTC": ("00:00-24:00", parse_hours, "HH:MM-HH:MM in UTC, e.g. 08:00-20:00 or 22:00-06:00"),
    "RECONCILE_INTERVAL_SEC": ("60", _int_range(5, 86400), "seconds from 5 to 86400"),
    "RECONCILE_LOOKBACK_HOURS": ("24", _int_range(1, 720), "hours from 1 to 720"),
    "EXITS_CHECK_INTERVAL_SEC": ("5", _int_range(1, 3600), "seconds from 1 to 3600"),
    # A triggered exit not filled this long after its last attempt is stuck: retried, alerted, escalated.
    "EXITS_STUCK_AFTER_SEC": ("15", _int_range(1, 86400), "seconds from 1 to 86400"),
    "EXITS_MAX_ATTEMPTS": ("3", _int_range(1, 100), "an integer from 1 to 100"),
    "PERF_BUDGET_DECISION_P99_MS": ("5000", _int_range(1, 600000), "milliseconds, a positive integer"),
    "PERF_BUDGET_ORDER_P99_MS": ("3000", _int_range(1, 600000), "milliseconds, a positive integer"),
    "PERF_BUDGET_FLOW_P99_MS": ("8000", _int_range(1, 600000), "milliseconds, a positive integer"),
    "DATABASE_URL": ("", _database_url, "sqlite:///path/to/file.sqlite3 or postgres://user@host:port/name"),
    "DB_BACKUP_INTERVAL_HOURS": ("6", _int_range(1, 8760), "hours from 1 to 8760"),
    # Empty: DATA_DIR/backups.
    "DB_BACKUP_DIR": ("", _text, "a directory path, or empty for DATA_DIR/backups"),
    "DB_BACKUP_KEEP": ("14", _int_range(1, 10000), "an integer from 1 to 10000"),
    "REDIS_URL": ("", _redis_url, "redis://host:port/db, or empty for the embedded default"),
    "TELEGRAM_BOT_TOKEN": ("", _text, "the token BotFather gave, or empty"),
    "TELEGRAM_WEBHOOK_SECRET": ("", _text, "a secret string, or empty"),
    "TELEGRAM_ALLOWED_CHAT_IDS": ("", _chat_ids, "comma-separated integer chat ids"),
    "TELEGRAM_TRADING_CHAT_IDS": ("", _chat_ids, "comma-separated integer chat ids"),
    "ALERT_TELEGRAM_CHAT_ID": ("", _optional_chat_id, "an integer chat id, or empty"),
    "TELEGRAM_API_BASE_URL": ("", _http_url, "an http(s) URL of a Bot API server, or empty"),
    # Empty: true when MODE=live (the stop also lives on the exchange, guarding through our own outages).
    "EXITS_ON_EXCHANGE": ("", _optional_bool, "true or false, or empty (true for MODE=live, else false)"),
    "SENTRY_DSN": ("", _http_url, "a Sentry DSN URL, or empty"),
    "LOG_LEVEL": ("INFO", _choice(LOG_LEVELS, upper=True), "one of " + ", ".join(LOG_LEVELS)),
    "LOG_FORMAT": ("console", _choice(LOG_FORMATS), "json or console"),
    "SECRET_KEY": ("", _text, "a long random string"),
    "DEBUG": ("false", _bool, "true or false"),
    "ALLOWED_HOSTS": ("localhost,127.0.0.1", _hosts, "comma-separated host names"),
    "RATE_LIMIT_CALLS": ("270", _int_range(1, 100000), "a positive integer (calls per period)"),
    "RATE_LIMIT_PERIOD_SEC": ("10", _int_range(1, 3600), "seconds, a positive integer"),
    "RATE_LIMIT_MAX_WAIT_SEC": ("10", _decimal_range(Decimal(0), Decimal(600), low_inclusive=True), "seconds"),
    "BREAKER_FAILURE_THRESHOLD": ("5", _int_range(1, 1000), "an integer from 1 to 1000"),
    "BREAKER_COOLDOWN_SEC": ("30", _int_range(1, 3600), "seconds from 1 to 3600"),
    "PAPER_FEE_PCT": ("0.2", _decimal_range(Decimal(0), Decimal(10), low_inclusive=True), "a percentage 0-10"),
    "PAPER_SLIPPAGE_BPS": ("5", _decimal_range(Decimal(0), Decimal(1000), low_inclusive=True), "basis points"),
    "SIMULATOR_PORT": ("8765", _int_range(1, 65535), "a TCP port"),
    "DATA_DIR": ("data", _nonempty, "a directory path (relative paths start at the project folder)"),
    "SIGNAL_WEIGHTS": (
        "ema=0.30,macd=0.25,rsi=0.20,bb=0.15,volume=0.10",
        _signal_weights,
        "comma-separated name=number pairs, not all zero, names from " + ", ".join(SIGNAL_FEATURES),
    ),
    "SIGNAL_ENTRY_THRESHOLD": (
        "0.30",
        _float_range(0.0, 1.0, low_inclusive=False, high_inclusive=True),
        "a number greater than 0 and at most 1",
    ),
    "SIGNAL_EXIT_THRESHOLD": (
        "-0.10",
        _float_range(-1.0, 1.0, low_inclusive=True, high_inclusive=False),
        "a number from -1 up to (not including) 1, below SIGNAL_ENTRY_THRESHOLD",
    ),
    # --- operator security ---
    "SECURE_HTTPS": ("false", _bool, "true or false"),
    "METRICS_TOKEN": ("", _token, "empty, or a token of 16 to 200 characters without spaces"),
    "ADMIN_LOGIN_FAILURE_LIMIT": ("5", _int_range(1, 100), "an integer from 1 to 100"),
    "ADMIN_LOGIN_COOLOFF_MIN": ("15", _int_range(1, 10080), "minutes from 1 to 10080"),
    "ADMIN_2FA_PAPER": ("false", _bool, "true or false (2FA is always required when MODE=live)"),
    "ADMIN_SESSION_HOURS": ("12", _int_range(1, 720), "hours from 1 to 720"),
    "ADMIN_REAUTH_WINDOW_SEC": ("300", _int_range(0, 3600), "seconds from 0 to 3600 (0: every time)"),
    # The console shows times in this zone (named on every time); storage, logs and the API stay UTC.
    "DISPLAY_TIMEZONE": ("UTC", _timezone, "an IANA time zone name such as UTC or Europe/Berlin"),
}


def read_dotenv(path: Path) -> dict[str, str]:
    """The variables of a `.env` file; the process environment wins over them."""
    if not path.exists():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def _dev_secret_key(data_dir: Path) -> str:
    """The development SECRET_KEY kept in DATA_DIR/.secret_key, made on first use."""
    key_file = data_dir / ".secret_key"
    try:
        return key_file.read_text().strip()
    except FileNotFoundError:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        key_file.write_text(key)
        return key


def _parse(env: Mapping[str, str], name: str) -> Any:
    default, parse, accepted = SPEC[name]
    raw = env.get(name, default)
    try:
        return parse(raw)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise ConfigError(name, raw, accepted) from exc


def _under_project(path: Path) -> Path:
    return path if path.is_absolute() else BASE_DIR / path


def load_config(environ: Mapping[str, str] | None = None, *, dotenv: Path | None = None) -> Config:
    """Read and validate every setting; raises ConfigError for the first bad one."""
    env: dict[str, str] = {}
    if environ is None:
        env.update(read_dotenv(dotenv or BASE_DIR / ".env"))
        env.update(os.environ)
    else:
        env.update(environ)
    if "SYMBOLS" not in env and env.get("SYMBOL"):
        env["SYMBOLS"] = env["SYMBOL"]

    # DATA_DIR first: the database, backups and the development key default to places inside it.
    data_dir = Path(_parse(env, "DATA_DIR"))  # as written; relative paths start at the project folder
    if not env.get("DATABASE_URL"):
        db_path = env.get("DB_PATH", "").strip() or str(data_dir / "tradebot.sqlite3")
        env["DATABASE_URL"] = f"sqlite:///{db_path}"

    values: dict[str, Any] = {name: _parse(env, name) for name in SPEC}

    if values["EXITS_ON_EXCHANGE"] is None:
        values["EXITS_ON_EXCHANGE"] = values["MODE"] == "live"
    if values["TAKE_PROFIT_PCT"] <= 0:
        raise ConfigError("TAKE_PROFIT_PCT", env.get("TAKE_PROFIT_PCT", ""), "a percentage greater than 0")
    if values["SIGNAL_EXIT_THRESHOLD"] >= values["SIGNAL_ENTRY_THRESHOLD"]:
        raise ConfigError(
            "SIGNAL_EXIT_THRESHOLD",
            env.get("SIGNAL_EXIT_THRESHOLD", SPEC["SIGNAL_EXIT_THRESHOLD"][0]),
            f"a number below SIGNAL_ENTRY_THRESHOLD ({values['SIGNAL_ENTRY_THRESHOLD']})",
        )
    if values["MODE"] == "live" and values["ENABLE_TRADING"] and not values["GATEIO_API_KEY"]:
        raise ConfigError("GATEIO_API_KEY", "", "API credentials when MODE=live and ENABLE_TRADING=true")
    if values["MODE"] == "live" and len(values["SECRET_KEY"]) < LIVE_SECRET_KEY_MIN:
        # Sessions, CSRF and password resets of a console that moves real money are signed with it.
        shown = f"<{len(values['SECRET_KEY'])} characters>" if values["SECRET_KEY"] else ""
        raise ConfigError(
            "SECRET_KEY", shown, f"a random string of at least {LIVE_SECRET_KEY_MIN} characters when MODE=live"
        )
    values["DATA_DIR"] = _under_project(data_dir)
    if not values["SECRET_KEY"]:
        values["SECRET_KEY"] = _dev_secret_key(values["DATA_DIR"])
    values["DB_BACKUP_DIR"] = _under_project(Path(values["DB_BACKUP_DIR"] or data_dir / "backups"))
    return Config(**values)
