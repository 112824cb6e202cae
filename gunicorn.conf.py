"""gunicorn settings for tradebot: `gunicorn tradebot.wsgi` picks this file up from the working directory."""

import os

from apps.monitoring.gunicorn_hooks import child_exit, on_starting  # noqa: F401 - gunicorn hooks

# GUNICORN_BIND wins; a platform that assigns the port (Railway, Heroku) sets PORT: listen on it everywhere
bind = os.environ.get("GUNICORN_BIND") or (
    f"0.0.0.0:{os.environ['PORT']}" if os.environ.get("PORT") else "127.0.0.1:8000"
)
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = 30
graceful_timeout = 25
accesslog = None
