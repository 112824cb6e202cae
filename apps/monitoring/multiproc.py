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
import socket
from pathlib import Path

from tradebot.config import load_config

ENV = "PROMETHEUS_MULTIPROC_DIR"
# counter_1234-web1.db, gauge_mostrecent_1234-web1.db … (pid, then the host); counter_1234.db from a process
# that did not install `identifier` (a bare prometheus_client script)
_PID_IN_NAME = re.compile(r"_(\d+)(?:-([A-Za-z0-9-]+))?\.db$")


def host_tag() -> str:
    """This machine / container's name as it appears in metric file names (letters, digits and '-')."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def identifier(pid: int | None = None) -> str:
    """A process's name in the metrics folder: its pid and its host. Containers sharing one folder (the data
    volume of compose.yaml) each number their processes from 1, so a pid alone would make two processes
    write the same file."""
    return f"{os.getpid() if pid is None else pid}-{host_tag()}"


def install() -> None:
    """Name this process's metric files by `identifier` (before any metric is created: settings call it)."""
    if not os.environ.get(ENV):
        return
    # start-up order: prometheus_client first loads after ensure_env() set PROMETHEUS_MULTIPROC_DIR
    from prometheus_client import values

    values.ValueClass = values.MultiProcessValue(process_identifier=identifier)


def default_dir() -> Path:
    """DATA_DIR/prometheus, DATA_DIR read and validated like the settings do (environment, then `.env`)."""
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
    """Remove the files of processes of this host that no longer run; returns how many. Called when a server
    starts, so counters restart from zero like any restarted exporter (Prometheus' rate() handles the reset).
    Files of other hosts (other containers on the same volume) are theirs to clean."""
    directory = directory or (Path(os.environ[ENV]) if os.environ.get(ENV) else None)
    if directory is None or not directory.is_dir():
        return 0
    removed, here = 0, host_tag()
    for path in directory.glob("*.db"):
        match = _PID_IN_NAME.search(path.name)
        if match and match.group(2) not in (None, here):
            continue
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
    # start-up order: prometheus_client first loads after ensure_env() set PROMETHEUS_MULTIPROC_DIR
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(identifier(pid))
    multiprocess.mark_process_dead(pid)  # files named by the bare pid
