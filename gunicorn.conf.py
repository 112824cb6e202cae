"""gunicorn settings for tradebot: `gunicorn tradebot.wsgi` picks this file up from the working directory."""

import os

from apps.monitoring.gunicorn_hooks import child_exit, on_starting  # noqa: F401 - gunicorn hooks

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = 30
graceful_timeout = 25
accesslog = None
