"""Periodic tasks run once across workers: Redis leases, database leases, expiry, bookkeeping."""

import threading
import time

import pytest
from django.db import connection

from apps.operations.locks import Lease, singleton
from apps.operations.models import TaskRun
from apps.operations.periodic import run_periodic


@pytest.fixture(params=["database", "redis"])
def lease_backend(request, transactional_db, settings):
    settings.REDIS_URL = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    return request.param


def test_second_holder_is_refused_until_release(lease_backend):
    first, second = Lease("job", 30), Lease("job", 30)
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


def test_an_expired_lease_can_be_taken_over(lease_backend):
    dead = Lease("job", 0.2)
    assert dead.acquire()  # its holder "dies" without releasing
    time.sleep(0.35)
    assert Lease("job", 30).acquire()


def test_a_late_holder_cannot_release_someone_elses_lease(lease_backend):
    late = Lease("job", 0.2)
    assert late.acquire()
    time.sleep(0.35)
    current = Lease("job", 30)
    assert current.acquire()
    late.release()
    assert not Lease("job", 30).acquire()


def test_only_one_of_many_racing_workers_runs_the_task(lease_backend):
    ran: list[int] = []
    barrier = threading.Barrier(6)

    def worker(i: int) -> None:
        barrier.wait()
        try:
            with singleton("race", 30) as held:
                if held:
                    ran.append(i)
                    time.sleep(0.3)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ran) == 1


@pytest.mark.django_db
def test_run_periodic_records_success_failure_and_skip(settings):
    settings.REDIS_URL = ""
    assert run_periodic("t.ok", lambda: 42, lease_seconds=10) == 42
    with pytest.raises(RuntimeError):
        run_periodic("t.fail", lambda: (_ for _ in ()).throw(RuntimeError("boom")), lease_seconds=10)
    held = Lease("t.ok", 30)
    assert held.acquire()
    assert run_periodic("t.ok", lambda: 1, lease_seconds=10) is None
    ok, failed = TaskRun.objects.get(name="t.ok"), TaskRun.objects.get(name="t.fail")
    assert ok.runs == 1 and ok.last_status == "skipped" and ok.last_finished_at is not None
    assert failed.failures == 1 and "boom" in failed.last_error
