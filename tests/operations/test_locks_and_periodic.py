"""Periodic tasks run once across workers: Redis leases, database leases, expiry, bookkeeping."""

import threading
import time

import pytest
from django.db import connection

from apps.common.clock import ManualClock
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


@pytest.fixture
def clock() -> ManualClock:
    """The leases' time: the tests advance it instead of sleeping."""
    return ManualClock()


def test_an_expired_lease_can_be_taken_over(lease_backend, clock):
    dead = Lease("job", 15, clock=clock)
    assert dead.acquire()  # its holder "dies" without releasing
    clock.advance(14)
    assert not Lease("job", 30, clock=clock).acquire()
    clock.advance(2)
    assert Lease("job", 30, clock=clock).acquire()


def test_a_late_holder_cannot_release_someone_elses_lease(lease_backend, clock):
    late = Lease("job", 15, clock=clock)
    assert late.acquire()
    clock.advance(16)
    current = Lease("job", 30, clock=clock)
    assert current.acquire()
    late.release()
    assert not late.renew() and late.lost
    assert not Lease("job", 30, clock=clock).acquire()


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
    # A skip keeps the last run's status (a holder's `running` must stay visible) and only marks the task seen.
    assert ok.runs == 1 and ok.last_status == "ok" and ok.last_finished_at is not None
    assert ok.last_seen_at >= ok.last_finished_at
    assert failed.failures == 1 and "boom" in failed.last_error


@pytest.mark.django_db
def test_database_lease_lapses_after_its_ttl_unless_renewed(settings):
    """Issue 11, Deliver 2: a lease follows its holder: renewed, it stays; not renewed (holder dead), it lapses."""
    settings.REDIS_URL = ""
    clock = ManualClock()
    holder = Lease("clocked", 15, clock=clock)
    assert holder.acquire()
    clock.advance(10)
    assert holder.renew()
    clock.advance(10)  # 20 s after the start, but 10 s after the renewal
    assert not Lease("clocked", 15, clock=clock).acquire()
    clock.advance(6)  # the holder stopped renewing: 16 s since its last renewal
    taker = Lease("clocked", 15, clock=clock)
    assert taker.acquire()
    assert not holder.renew() and holder.lost


def test_heartbeat_keeps_a_short_lease_while_the_holder_works(lease_backend):
    # TTL 3 s renewed every 0.5 s: only a stall of 2.5 s (a very loaded machine) could lose it.
    with singleton("long-job", 3, heartbeat=0.5) as lease:
        assert lease is not None
        time.sleep(7)  # more than twice the TTL: the heartbeat renewed it
        assert not Lease("long-job", 30).acquire()
        assert not lease.lost
    assert Lease("long-job", 30).acquire()


def test_a_lease_without_heartbeat_lapses_within_its_ttl(lease_backend, clock):
    dead = Lease("crashed", 15, clock=clock)
    assert dead.acquire()  # acquired, then its process dies: nobody renews it
    assert not Lease("crashed", 30, clock=clock).acquire() and not Lease("crashed", clock=clock).is_free()
    clock.advance(15.5)
    assert Lease("crashed", clock=clock).is_free()
    assert Lease("crashed", 30, clock=clock).acquire()


@pytest.mark.django_db
def test_an_unreachable_redis_falls_back_to_the_database_lease(settings):
    """Issue 11, Deliver 3: a Redis outage must not stop the protective tasks from taking their lease."""
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    first = Lease("exits.check", 30)
    assert first.acquire() and first.backend == "database"
    assert not Lease("exits.check", 30).acquire()
    first.release()
    assert Lease("exits.check", 30).acquire()


@pytest.mark.django_db
def test_a_run_left_running_by_a_dead_worker_is_closed_as_failed_by_the_next_run(settings):
    """Issue 11, Deliver 2: stale `running` task runs are closed as failed by the next run."""
    settings.REDIS_URL = ""
    from django.utils import timezone

    TaskRun.objects.create(name="t.crashed", last_status="running", last_started_at=timezone.now())
    seen_by_the_next_run = run_periodic("t.crashed", lambda: TaskRun.objects.get(name="t.crashed").last_error)
    assert seen_by_the_next_run.startswith("abandoned: the worker running it since")
    row = TaskRun.objects.get(name="t.crashed")
    assert row.last_status == "ok" and row.failures == 1 and row.runs == 2


@pytest.mark.django_db
def test_a_run_cut_short_by_a_shutdown_is_recorded_as_interrupted(settings):
    from apps.operations.shutdown import ShutdownRequested

    settings.REDIS_URL = ""

    def work():
        raise ShutdownRequested("worker stopping: between symbols")

    assert run_periodic("t.stopping", work) is None
    row = TaskRun.objects.get(name="t.stopping")
    assert row.last_status == "interrupted" and row.failures == 0 and "between symbols" in row.last_error
