"""prometheus_client multiprocess mode: one directory of per-process files that /metrics adds up.

PROMETHEUS_MULTIPROC_DIR must be in the environment before prometheus_client is first imported
(it picks its value class at import), so this module imports nothing from it at module level.
The directory is DATA_DIR/prometheus unless PROMETHEUS_MULTIPROC_DIR names one, in every process:
`tradebot/settings.py` calls `ensure_env(DATA_DIR / "prometheus")`, and gunicorn's master (which starts
before the settings load) calls `ensure_env(default_dir())`, which reads DATA_DIR the same way. Gunicorn
and Celery hooks call `clean_dead()` at start and `mark_dead(pid)` when a child exits.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
# counter_1234.db, histogram_1234.db, gauge_livesum_1234.db, gauge_all_1234.db …
_PID_IN_NAME = re.compile(r"_(\d+)\.db$")


def default_dir() -> Path:
    """DATA_DIR/prometheus, DATA_DIR read and validated like the settings do (environment, then `.env`)."""
    from tradebot.config import load_config

    return load_config().DATA_DIR / "prometheus"


def ensure_env(default: Path) -> Path | None:
    """Turn multiprocess mode on (a directory under data/ unless the variable names one) and create the
    directory. PROMETHEUS_MULTIPROC_DIR set to an empty string turns it off."""
    value = os.environ.get(ENV)
    if value == "":
        os.environ.pop(ENV)
        return None
    path = Path(value) if value else default
    path.mkdir(parents=True, exist_ok=True)
    os.environ[ENV] = str(path)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_dead(directory: Path | None = None) -> int:
    """Remove the files of processes that no longer run; returns how many. Called when a server starts,
    so counters restart from zero like any restarted exporter (Prometheus' rate() handles the reset)."""
    directory = directory or (Path(os.environ[ENV]) if os.environ.get(ENV) else None)
    if directory is None or not directory.is_dir():
        return 0
    removed = 0
    for path in directory.glob("*.db"):
        match = _PID_IN_NAME.search(path.name)
        if match and not _alive(int(match.group(1))):
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def mark_dead(pid: int) -> None:
    """A child exited: drop its live gauges (its counters and histograms stay, so no count is lost)."""
    if not os.environ.get(ENV):
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)
