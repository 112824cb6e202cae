"""gunicorn server hooks for multiprocess metrics (imported by gunicorn.conf.py and bench/api_load.py)."""

from __future__ import annotations

import os
from typing import Any

import django

from apps.monitoring.multiproc import clean_dead, default_dir, ensure_env, mark_dead


def on_starting(server: Any) -> None:
    """In the master, before any worker: refuse to start when the database or Redis cannot be reached (exit 2,
    naming the variable); multiprocess mode on in DATA_DIR/prometheus (the folder the settings, the Celery
    worker and beat use too), files of exited processes removed."""
    ensure_env(default_dir())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradebot.settings")
    django.setup()
    # start-up order: needs the apps django.setup() just loaded (gunicorn.conf imports this module before)
    from apps.operations.preflight import require_services

    require_services("web")
    clean_dead()


def child_exit(server: Any, worker: Any) -> None:
    """A worker exited: drop its live gauges; its counters stay so no count is lost."""
    mark_dead(worker.pid)
