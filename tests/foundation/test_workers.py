"""tests/support/workers.py: each xdist worker's own Redis databases and DATA_DIR, none shared."""

from __future__ import annotations

import pytest

from tests.support.workers import isolate


def test_without_xdist_nothing_changes():
    env = {"REDIS_URL": "redis://h:1/0", "DATA_DIR": "data"}
    isolate(env)
    assert env == {"REDIS_URL": "redis://h:1/0", "DATA_DIR": "data"}


@pytest.mark.parametrize(
    "given",
    [
        {"REDIS_URL": "redis://h:1/0"},
        {"REDIS_URL": "redis://h:1/0", "TEST_REDIS_URL": "redis://t:2/14"},
        {"REDIS_URL": "", "TEST_REDIS_URL": "redis://t:2/1"},
        {"REDIS_URL": "redis://h:1", "DATA_DIR": "/srv/x"},
    ],
)
def test_every_worker_has_databases_and_a_data_dir_no_other_worker_or_the_serial_run_uses(given):
    seen: set[tuple[str, str]] = set()
    for worker in range(4):
        env = {**given, "PYTEST_XDIST_WORKER": f"gw{worker}"}
        isolate(env)
        mine = {("redis", env[name]) for name in ("REDIS_URL", "TEST_REDIS_URL") if env.get(name)}
        mine.add(("dir", env["DATA_DIR"]))
        assert len(mine) == len([n for n in ("REDIS_URL", "TEST_REDIS_URL") if env.get(n)]) + 1
        assert not mine & seen
        seen |= mine
        assert env["DATA_DIR"].endswith(f"gw{worker}")
    assert ("redis", "redis://h:1/0") not in seen  # the serial run's own database


def test_too_many_workers_for_the_redis_databases_is_said():
    env = {"REDIS_URL": "redis://h:1/0", "PYTEST_XDIST_WORKER": "gw7"}
    with pytest.raises(RuntimeError, match="at most 7 xdist workers"):
        isolate(env)
