"""Each pytest-xdist worker gets services of its own, set before Django reads its settings.

Loaded as a plugin (`-p tests.support.workers`, pyproject's addopts), so it runs in every worker process before
pytest-django configures Django. pytest-django already gives each worker its own test database (its name gets
the worker's suffix); this gives each its own Redis databases (REDIS_URL's and the Redis tests' one, since both
are flushed or swept between tests) and its own DATA_DIR (metric files, the filesystem broker, logs). Without
xdist (`PYTEST_XDIST_WORKER` unset) nothing changes.
"""

from __future__ import annotations

import os
from pathlib import Path

REDIS_DATABASES = 16


def _with_db(url: str, db: int) -> str:
    head, _, tail = url.rpartition("/")
    base = head if url.count("/") >= 3 and tail.isdigit() else url.rstrip("/")
    return f"{base}/{db}"


def isolate(environ: os._Environ[str] | dict[str, str]) -> None:
    """Worker gwN: REDIS_URL's database 1+2N and the Redis tests' 2+2N, each on the server it names (database 0
    and the single-process default 15 stay the non-parallel run's); DATA_DIR/gwN."""
    worker = environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return
    index = int(worker[2:])
    if 2 + 2 * index >= REDIS_DATABASES - 1:
        raise RuntimeError(f"tests/support/workers.py: at most {(REDIS_DATABASES - 2) // 2} xdist workers")
    redis_url = environ.get("REDIS_URL", "")
    test_url = environ.get("TEST_REDIS_URL", "") or redis_url
    if test_url:
        environ["TEST_REDIS_URL"] = _with_db(test_url, 2 + 2 * index)
    if redis_url:
        environ["REDIS_URL"] = _with_db(redis_url, 1 + 2 * index)
    data = Path(environ.get("DATA_DIR") or "data")
    environ["DATA_DIR"] = str(data / worker)


isolate(os.environ)
