"""Django settings. Every tradebot setting comes from `tradebot.config` (environment and `.env`).

`load_config()` reads and validates them all (a bad value stops here with a `ConfigError` naming it); each
one is then named below, with the type `Config` gives it, so readers, mypy and django-stubs see it.
tests/foundation/test_settings_names.py checks that none is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

from tradebot.config import BASE_DIR, load_config

CONFIG = load_config()

# --- trading ----------------------------------------------------------------------------------------
MODE = CONFIG.MODE
ENABLE_TRADING = CONFIG.ENABLE_TRADING
SYMBOLS = CONFIG.SYMBOLS
TIMEFRAME = CONFIG.TIMEFRAME
POSITION_SIZE_USD = CONFIG.POSITION_SIZE_USD
# --- exchange ---------------------------------------------------------------------------------------
EXCHANGE = CONFIG.EXCHANGE
GATEIO_API_KEY = CONFIG.GATEIO_API_KEY
GATEIO_API_SECRET = CONFIG.GATEIO_API_SECRET
GATEIO_SANDBOX = CONFIG.GATEIO_SANDBOX
GATEIO_API_URL = CONFIG.GATEIO_API_URL
GATEIO_ORDER_EXPIRY_SEC = CONFIG.GATEIO_ORDER_EXPIRY_SEC
GATEIO_VISIBILITY_LAG_SEC = CONFIG.GATEIO_VISIBILITY_LAG_SEC
GATEIO_CLOCK_SKEW_SEC = CONFIG.GATEIO_CLOCK_SKEW_SEC
GATEIO_UNIFIED_ACCOUNT = CONFIG.GATEIO_UNIFIED_ACCOUNT
RATE_LIMIT_CALLS = CONFIG.RATE_LIMIT_CALLS
RATE_LIMIT_PERIOD_SEC = CONFIG.RATE_LIMIT_PERIOD_SEC
RATE_LIMIT_MAX_WAIT_SEC = CONFIG.RATE_LIMIT_MAX_WAIT_SEC
BREAKER_FAILURE_THRESHOLD = CONFIG.BREAKER_FAILURE_THRESHOLD
BREAKER_COOLDOWN_SEC = CONFIG.BREAKER_COOLDOWN_SEC
PAPER_FEE_PCT = CONFIG.PAPER_FEE_PCT
PAPER_SLIPPAGE_BPS = CONFIG.PAPER_SLIPPAGE_BPS
SIMULATOR_PORT = CONFIG.SIMULATOR_PORT
# --- risk, exits, reconciliation ------------------------------------------------------------------------
MAX_POSITIONS = CONFIG.MAX_POSITIONS
STOP_LOSS_PCT = CONFIG.STOP_LOSS_PCT
TAKE_PROFIT_PCT = CONFIG.TAKE_PROFIT_PCT
MAX_DRAWDOWN_PCT = CONFIG.MAX_DRAWDOWN_PCT
MAX_CONSECUTIVE_LOSSES = CONFIG.MAX_CONSECUTIVE_LOSSES
LOSS_COOLDOWN_MIN = CONFIG.LOSS_COOLDOWN_MIN
RISK_HOURS_UTC = CONFIG.RISK_HOURS_UTC
RECONCILE_INTERVAL_SEC = CONFIG.RECONCILE_INTERVAL_SEC
RECONCILE_LOOKBACK_HOURS = CONFIG.RECONCILE_LOOKBACK_HOURS
EXITS_CHECK_INTERVAL_SEC = CONFIG.EXITS_CHECK_INTERVAL_SEC
EXITS_STUCK_AFTER_SEC = CONFIG.EXITS_STUCK_AFTER_SEC
EXITS_MAX_ATTEMPTS = CONFIG.EXITS_MAX_ATTEMPTS
EXITS_ON_EXCHANGE = CONFIG.EXITS_ON_EXCHANGE
# --- signals ----------------------------------------------------------------------------------------
SIGNAL_WEIGHTS = CONFIG.SIGNAL_WEIGHTS
SIGNAL_ENTRY_THRESHOLD = CONFIG.SIGNAL_ENTRY_THRESHOLD
SIGNAL_EXIT_THRESHOLD = CONFIG.SIGNAL_EXIT_THRESHOLD
# --- performance budgets ----------------------------------------------------------------------------
PERF_BUDGET_DECISION_P99_MS = CONFIG.PERF_BUDGET_DECISION_P99_MS
PERF_BUDGET_ORDER_P99_MS = CONFIG.PERF_BUDGET_ORDER_P99_MS
PERF_BUDGET_FLOW_P99_MS = CONFIG.PERF_BUDGET_FLOW_P99_MS
# --- storage: everything the product writes is under DATA_DIR ---------------------------------------
DATA_DIR = CONFIG.DATA_DIR
DATABASE_URL = CONFIG.DATABASE_URL
DB_BACKUP_INTERVAL_HOURS = CONFIG.DB_BACKUP_INTERVAL_HOURS
DB_BACKUP_DIR = CONFIG.DB_BACKUP_DIR
DB_BACKUP_KEEP = CONFIG.DB_BACKUP_KEEP
REDIS_URL = CONFIG.REDIS_URL
# --- Telegram ---------------------------------------------------------------------------------------
TELEGRAM_BOT_TOKEN = CONFIG.TELEGRAM_BOT_TOKEN
TELEGRAM_WEBHOOK_SECRET = CONFIG.TELEGRAM_WEBHOOK_SECRET
TELEGRAM_ALLOWED_CHAT_IDS = CONFIG.TELEGRAM_ALLOWED_CHAT_IDS
TELEGRAM_TRADING_CHAT_IDS = CONFIG.TELEGRAM_TRADING_CHAT_IDS
ALERT_TELEGRAM_CHAT_ID = CONFIG.ALERT_TELEGRAM_CHAT_ID
TELEGRAM_API_BASE_URL = CONFIG.TELEGRAM_API_BASE_URL
# --- Django, logging, operator security -------------------------------------------------------------
SECRET_KEY = CONFIG.SECRET_KEY
DEBUG = CONFIG.DEBUG
ALLOWED_HOSTS = CONFIG.ALLOWED_HOSTS
SENTRY_DSN = CONFIG.SENTRY_DSN
LOG_LEVEL = CONFIG.LOG_LEVEL
LOG_FORMAT = CONFIG.LOG_FORMAT
SECURE_HTTPS = CONFIG.SECURE_HTTPS
METRICS_TOKEN = CONFIG.METRICS_TOKEN
ADMIN_LOGIN_FAILURE_LIMIT = CONFIG.ADMIN_LOGIN_FAILURE_LIMIT
ADMIN_LOGIN_COOLOFF_MIN = CONFIG.ADMIN_LOGIN_COOLOFF_MIN
ADMIN_2FA_PAPER = CONFIG.ADMIN_2FA_PAPER
ADMIN_SESSION_HOURS = CONFIG.ADMIN_SESSION_HOURS
ADMIN_REAUTH_WINDOW_SEC = CONFIG.ADMIN_REAUTH_WINDOW_SEC
DISPLAY_TIMEZONE = CONFIG.DISPLAY_TIMEZONE

DATA_DIR.mkdir(parents=True, exist_ok=True)

# prometheus_client picks multiprocess mode when first imported: set PROMETHEUS_MULTIPROC_DIR before that.
from apps.monitoring.multiproc import ensure_env as _ensure_multiproc  # noqa: E402
from apps.monitoring.multiproc import install as _install_multiproc  # noqa: E402

PROMETHEUS_MULTIPROC_DIR = _ensure_multiproc(DATA_DIR / "prometheus")
_install_multiproc()  # metric files named by pid and host (containers sharing the folder)

INSTALLED_APPS = [
    "tradebot.admin.TradebotAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "django_celery_beat",
    "ninja",  # its templates and static: /api/docs served from our own origin, no CDN
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "apps.security",
    "apps.audit",
    "apps.trading",
    "apps.exits",
    "apps.signals",
    "apps.risk",
    "apps.reconciliation",
    "apps.exchange",
    "apps.api",
    "apps.monitoring",
    "apps.notifications",
    "apps.telegram_bot",
    "apps.operations",
    "apps.backtest",
    "apps.console",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "apps.monitoring.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "apps.security.middleware.BodySizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "apps.security.middleware.SessionLifetimeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "apps.console.middleware.DisplayTimezoneMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "tradebot.urls"
WSGI_APPLICATION = "tradebot.wsgi.application"
ASGI_APPLICATION = "tradebot.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------------
# Persistent connections: opening one per request cost more than the request itself (for SQLite, closing the
# last connection also checkpoints the WAL). Django closes a connection that errored or outlived the age at
# the next request or task; CONN_HEALTH_CHECKS pings a reused connection once per request before trusting it.
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=600, conn_health_checks=True)
if _db["ENGINE"] == "django.db.backends.postgresql":
    # A database that went away must fail a connection attempt within seconds, not the kernel's two minutes.
    _db.setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _name = Path(_db["NAME"])
    if not _name.is_absolute():
        _name = BASE_DIR / _name
    _name.parent.mkdir(parents=True, exist_ok=True)
    _db["NAME"] = str(_name)
    # WAL + a busy timeout let web, worker and beat processes share one file; IMMEDIATE transactions
    # take the write lock up front, so two writers queue instead of failing with "database is locked".
    _db["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
    }
    _db["TEST"] = {"NAME": str(_name.with_name("test_" + _name.name))}
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache: Redis when configured, else a per-process memory cache ---------------------------------
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery (read by celery_app.py with namespace CELERY) -----------------------------------------
CELERY_BROKER_DIR = Path(os.environ.get("CELERY_BROKER_DIR") or DATA_DIR / "celery-broker")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, str | int | bool]
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # An unacknowledged task (its worker died) is delivered again after this many seconds.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "300"))}
else:
    # Embedded default: kombu's filesystem transport works across processes of one machine.
    for _sub in ("out", "processed", "control"):
        (CELERY_BROKER_DIR / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "out"),
        "data_folder_out": str(CELERY_BROKER_DIR / "out"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_BEAT_SCHEDULER = "apps.operations.beat:Scheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# SIGTERM: stop taking work, give in-flight tasks this long to finish, then exit (30 s budget in all).
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = 25.0
CELERY_WORKER_ENABLE_SOFT_SHUTDOWN_ON_IDLE = False
CELERY_TASK_SOFT_TIME_LIMIT = 120
CELERY_TASK_TIME_LIMIT = 180

# --- i18n / time ----------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# The console's date and time formats (seconds, zone named): apps/console/formats/.
FORMAT_MODULE_PATH = ["apps.console.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
# Served by WhiteNoise from the app directories, so the admin works under gunicorn with no collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- security (production-like when DEBUG is off) -------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
_https = SECURE_HTTPS
SESSION_COOKIE_SECURE = _https
CSRF_COOKIE_SECURE = _https
SECURE_SSL_REDIRECT = _https
# Probes and scrapes inside the network speak plain HTTP to the web process.
SECURE_REDIRECT_EXEMPT = [r"^health", r"^metrics$"]
SECURE_HSTS_SECONDS = 31536000 if _https else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = _https
SECURE_HSTS_PRELOAD = _https
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _https else None
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Admin sessions: ADMIN_SESSION_HOURS at most (counted from the login, see SessionLifetimeMiddleware), and
# the cookie ends with the browser.
SESSION_COOKIE_AGE = ADMIN_SESSION_HOURS * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# Login throttling (django-axes): ADMIN_LOGIN_FAILURE_LIMIT failures per user and, separately, per IP
# lock that user / that IP out for ADMIN_LOGIN_COOLOFF_MIN minutes. Unlock: `manage.py axes_reset_username
# NAME` / `axes_reset_ip IP` / `axes_reset` (README, Security).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = ADMIN_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = ADMIN_LOGIN_COOLOFF_MIN / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # its INFO lines on every start and attempt; lockouts are logged by apps.security
AXES_LOCKOUT_TEMPLATE = "security/lockout.html"
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token", "reauth_password", "reauth_otp", "csrfmiddlewaretoken"]
# The client address: REMOTE_ADDR, or behind the HTTPS proxy (SECURE_HTTPS) the address it appended last;
# a client-supplied X-Forwarded-For never chooses whose counter is charged.
AXES_IPWARE_PROXY_COUNT = 1 if _https else None
AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if _https else ["REMOTE_ADDR"]

# Two-factor login (django-otp, TOTP + static recovery codes); see apps/security/otp.py.
OTP_TOTP_ISSUER = "tradebot"
OTP_TOTP_THROTTLE_FACTOR = 1
# No admin page shows another user's TOTP secret or its QR code (enrolment is per user, at /admin/security/otp/).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# Content-Security-Policy (django-csp) on every response: nothing but our own origin, no inline script or
# style, no framing. The admin, the console and /api/docs (django-ninja's Swagger UI from static) fit it.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

CSRF_TRUSTED_ORIGINS = [f"http://{h}:8000" for h in ALLOWED_HOSTS if h not in ("*",)]

# --- logging --------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "console": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- observability: structured logs with context and redaction, safe error pages, Sentry ----------
from tradebot.logging_config import build_logging, init_sentry  # noqa: E402

LOGGING = build_logging(LOG_FORMAT, LOG_LEVEL)
DEFAULT_EXCEPTION_REPORTER_FILTER = "apps.monitoring.errors.SecretsExceptionReporterFilter"
init_sentry(SENTRY_DSN, environment=MODE)
