"""Circuit breakers per exchange and endpoint class (`gateio:public`, `gateio:private_orders`, ...).

closed --N consecutive transient failures--> open --cool-down--> half_open (exactly one probe goes out)
half_open --probe succeeds--> closed;  half_open --probe fails--> open (a new cool-down).
While open every call is refused at once with CircuitOpen and nothing is sent.

Only transient failures count (network, timeouts, 5xx, 429); a business error means the exchange answered,
so for the breaker it is a success. The state lives where every process sees it: a Redis hash when
REDIS_URL is set (transitions are Lua scripts), otherwise the `BreakerState` row, changed only by
conditional UPDATEs so that of several processes exactly one wins each transition (and audits it).
Every transition is logged, audited and mirrored to `BreakerState`, which the admin and the metric
`circuit_breaker_state{name,state}` read (see `breaker_states()`).

Each breaker remembers "closed, no failures counted" for CLOSED_TTL seconds, so the hot path (every exchange
call) does not read the store. Any failure, probe or transition this process sees forgets it at once; a
breaker opened by *another* process is respected here within CLOSED_TTL (a few more calls may go out in
that window, each of which counts in the shared store if it fails). `state()` always reads the store.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

import redis
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.common.clock import SYSTEM_CLOCK, Clock
from apps.exchange.broker import CircuitOpen, RateLimitWaitExceeded, TransientExchangeError
from apps.exchange.models import BreakerState
from apps.monitoring import metrics

log = logging.getLogger(__name__)

T = TypeVar("T")
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
STATES = (CLOSED, OPEN, HALF_OPEN)
# private_reads: order and trade lookups and lists (reconciliation), apart from private_orders (placing and
# cancelling) so that a burst of failing reads never refuses an order.
ENDPOINT_CLASSES = ("public", "private_orders", "private_account", "private_reads")
# How long a process trusts a clean closed state it read, before reading the shared store again.
CLOSED_TTL = 1.0


@dataclass(frozen=True)
class Snapshot:
    state: str
    failures: int
    opened_at: float | None  # epoch seconds
    probe_started_at: float | None


_CLEAN = Snapshot(CLOSED, 0, None, None)


@dataclass(frozen=True)
class Transition:
    before: str
    after: str
    failures: int


class BreakerStore(Protocol):
    def load(self, name: str) -> Snapshot: ...

    def failure(self, name: str, threshold: int, error: str) -> Transition | None: ...

    def success(self, name: str) -> Transition | None: ...

    def try_probe(self, name: str, cooldown: float, probe_timeout: float) -> Transition | None: ...


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


class DbStore:
    """`BreakerState` rows; each transition is one conditional UPDATE, so only one process makes it."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock

    def load(self, name: str) -> Snapshot:
        row = (
            BreakerState.objects.filter(name=name)
            .values_list("state", "consecutive_failures", "opened_at", "probe_started_at")
            .first()
        )
        if row is None:
            return Snapshot(CLOSED, 0, None, None)
        return Snapshot(row[0], row[1], _ts(row[2]), _ts(row[3]))

    def failure(self, name: str, threshold: int, error: str) -> Transition | None:
        now = self.clock.now()
        rows = BreakerState.objects.filter(name=name)
        if rows.filter(state=HALF_OPEN).update(
            state=OPEN, opened_at=now, probe_started_at=None, last_error=error[:2000], updated_at=now
        ):
            return Transition(HALF_OPEN, OPEN, 0)
        BreakerState.objects.get_or_create(name=name)
        rows.filter(state=CLOSED).update(
            consecutive_failures=F("consecutive_failures") + 1, last_error=error[:2000], updated_at=now
        )
        if rows.filter(state=CLOSED, consecutive_failures__gte=threshold).update(
            state=OPEN, opened_at=now, updated_at=now
        ):
            return Transition(CLOSED, OPEN, rows.values_list("consecutive_failures", flat=True).first() or threshold)
        return None

    def success(self, name: str) -> Transition | None:
        now = self.clock.now()
        rows = BreakerState.objects.filter(name=name)
        if rows.filter(state=HALF_OPEN).update(
            state=CLOSED, consecutive_failures=0, opened_at=None, probe_started_at=None, updated_at=now
        ):
            return Transition(HALF_OPEN, CLOSED, 0)
        rows.filter(state=CLOSED, consecutive_failures__gt=0).update(consecutive_failures=0, updated_at=now)
        return None

    def try_probe(self, name: str, cooldown: float, probe_timeout: float) -> Transition | None:
        now = self.clock.now()
        rows = BreakerState.objects.filter(name=name)
        cooled = Q(state=OPEN, opened_at__lte=now - timedelta(seconds=cooldown))
        stale_probe = Q(state=HALF_OPEN, probe_started_at__lte=now - timedelta(seconds=probe_timeout))
        before = rows.values_list("state", flat=True).first()
        if rows.filter(cooled | stale_probe).update(state=HALF_OPEN, probe_started_at=now, updated_at=now):
            return Transition(before or OPEN, HALF_OPEN, 0)
        return None


# Redis: a hash per breaker; the clock is Redis's TIME so machines agree (or the store's clock, when it was given
# one: tests). Return {changed, before, failures}.
_LUA_NOW = """
local now
if ARGV[#ARGV] ~= '' then now = tonumber(ARGV[#ARGV]) else
  local t = redis.call('TIME'); now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""
_LUA_FAILURE = (
    _LUA_NOW
    + """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
redis.call('HSET', KEYS[1], 'last_error', ARGV[2])
if state == 'half_open' then
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', now, 'probe_at', '')
  return {1, state, 0}
end
if state == 'open' then return {0, state, 0} end
local n = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if n >= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', now)
  return {1, state, n}
end
return {0, state, n}
"""
)
_LUA_SUCCESS = """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'half_open' then
  redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', 0, 'opened_at', '', 'probe_at', '')
  return {1, state}
end
if state == 'closed' and tonumber(redis.call('HGET', KEYS[1], 'failures') or '0') > 0 then
  redis.call('HSET', KEYS[1], 'failures', 0)
end
return {0, state}
"""
_LUA_PROBE = (
    _LUA_NOW
    + """
local h = redis.call('HMGET', KEYS[1], 'state', 'opened_at', 'probe_at')
local state = h[1] or 'closed'
if state == 'open' and tonumber(h[2] or '0') + tonumber(ARGV[1]) <= now
   or state == 'half_open' and tonumber(h[3] or '0') + tonumber(ARGV[2]) <= now then
  redis.call('HSET', KEYS[1], 'state', 'half_open', 'probe_at', now)
  return {1, state}
end
return {0, state}
"""
)


def _num(raw: bytes | str | None) -> float | None:
    return float(raw) if raw not in (None, b"") else None


def _text(raw: bytes | str | None) -> str:
    """A Redis reply as text (bytes from this client; str from one made with decode_responses)."""
    return raw.decode() if isinstance(raw, bytes) else raw or ""


class RedisStore:
    def __init__(self, url: str, prefix: str = "tb:breaker:", clock: Clock | None = None) -> None:
        """`clock`: None for Redis's own TIME (production: every machine agrees); a clock for tests."""
        self.clock = clock
        self.client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self.prefix = prefix
        self._failure = self.client.register_script(_LUA_FAILURE)
        self._success = self.client.register_script(_LUA_SUCCESS)
        self._probe = self.client.register_script(_LUA_PROBE)

    def _now(self) -> str:
        return "" if self.clock is None else repr(self.clock.now().timestamp())

    def load(self, name: str) -> Snapshot:
        fields = ("state", "failures", "opened_at", "probe_at")
        state, failures, opened, probe = self.client.hmget(self.prefix + name, *fields)
        return Snapshot(_text(state) or "closed", int(failures or 0), _num(opened), _num(probe))

    def failure(self, name: str, threshold: int, error: str) -> Transition | None:
        changed, before, n = self._failure(keys=[self.prefix + name], args=[threshold, error[:2000], self._now()])
        return Transition(before.decode(), OPEN, int(n)) if int(changed) else None

    def success(self, name: str) -> Transition | None:
        changed, before = self._success(keys=[self.prefix + name])
        return Transition(before.decode(), CLOSED, 0) if int(changed) else None

    def try_probe(self, name: str, cooldown: float, probe_timeout: float) -> Transition | None:
        changed, before = self._probe(keys=[self.prefix + name], args=[cooldown, probe_timeout, self._now()])
        return Transition(before.decode(), HALF_OPEN, 0) if int(changed) else None


class FallbackStore:
    """Redis first; while Redis cannot be reached, the database rows every process shares (DbStore)."""

    def __init__(self, primary: RedisStore, fallback: BreakerStore) -> None:
        self.primary = primary
        self.fallback = fallback
        self._warned = 0.0

    def _either(self, method: str, *args: object):
        try:
            return getattr(self.primary, method)(*args)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if time.monotonic() - self._warned > 60:
                self._warned = time.monotonic()
                log.warning("breaker state: Redis unreachable (%s), using the database", exc)
            return getattr(self.fallback, method)(*args)

    def load(self, name: str) -> Snapshot:
        return self._either("load", name)

    def failure(self, name: str, threshold: int, error: str) -> Transition | None:
        return self._either("failure", name, threshold, error)

    def success(self, name: str) -> Transition | None:
        return self._either("success", name)

    def try_probe(self, name: str, cooldown: float, probe_timeout: float) -> Transition | None:
        return self._either("try_probe", name, cooldown, probe_timeout)


class CircuitBreaker:
    """One breaker; `call(fn)` runs fn unless the circuit is open."""

    def __init__(
        self,
        name: str,
        store: BreakerStore,
        *,
        threshold: int,
        cooldown: float,
        closed_ttl: float = CLOSED_TTL,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        """`clock` gives the cool-down its notion of now (tests advance it instead of sleeping); the store
        keeps its own (Redis's TIME, or the database store's clock)."""
        self.clock = clock
        self.name = name
        self.store = store
        self.threshold = threshold
        self.cooldown = cooldown
        self.probe_timeout = max(cooldown, 5.0)  # a probe whose process died is given up after this
        self.closed_ttl = closed_ttl
        self._clean_until = 0.0  # clock.monotonic() until which "closed, no failures" is trusted unread

    def _load(self) -> Snapshot:
        if self.clock.monotonic() < self._clean_until:
            return _CLEAN
        try:
            snap = self.store.load(self.name)
        except Exception as exc:
            # The shared state (Redis) cannot be read: refuse the call as an open circuit would, so nothing is
            # sent while we cannot know, and callers report it as not sent.
            raise CircuitOpen(f"circuit {self.name}: state unavailable ({type(exc).__name__}: {exc})") from exc
        if snap.state == CLOSED and snap.failures == 0:
            self._clean_until = self.clock.monotonic() + self.closed_ttl
        return snap

    def _forget(self) -> None:
        self._clean_until = 0.0

    def before(self) -> bool:
        """Admit a call or raise CircuitOpen; True when the admitted call is the half-open probe."""
        return self._admit()[0]

    def _admit(self) -> tuple[bool, Snapshot]:
        snap = self._load()
        if snap.state == CLOSED:
            return False, snap
        now = self.clock.now().timestamp()
        if snap.state == OPEN and snap.opened_at is not None and now - snap.opened_at < self.cooldown:
            raise CircuitOpen(f"circuit {self.name} is open; retry in {self.cooldown - (now - snap.opened_at):.1f}s")
        try:
            transition = self.store.try_probe(self.name, self.cooldown, self.probe_timeout)
        except Exception as exc:
            raise CircuitOpen(f"circuit {self.name}: state unavailable ({type(exc).__name__}: {exc})") from exc
        if transition is None:
            raise CircuitOpen(f"circuit {self.name} is {snap.state}; a probe is in flight")
        self._changed(transition, "cool-down over, one probe let through")
        return True, snap

    def check(self) -> None:
        """Raise CircuitOpen while the circuit is open and cooling down; takes no probe, changes nothing."""
        snap = self._load()
        now = self.clock.now().timestamp()
        if snap.state == OPEN and snap.opened_at is not None and now - snap.opened_at < self.cooldown:
            raise CircuitOpen(f"circuit {self.name} is open")

    def on_success(self, probe: bool) -> None:
        self._forget()
        try:
            transition = self.store.success(self.name)
        except Exception:  # the call was made: losing its answer to a store outage would orphan an order
            log.warning("breaker %s: success not recorded (store unavailable)", self.name, exc_info=True)
            return
        if transition is not None:
            self._changed(transition, "probe succeeded" if probe else "call succeeded")

    def on_failure(self, error: BaseException) -> None:
        self._forget()
        try:
            transition = self.store.failure(self.name, self.threshold, f"{type(error).__name__}: {error}")
        except Exception:  # the call's own error is what the caller must see, not the store's
            log.warning("breaker %s: failure not recorded (store unavailable)", self.name, exc_info=True)
            return
        if transition is not None:
            self._changed(transition, f"{transition.failures or 'probe'} failure(s), last: {error}")

    def call(self, fn: Callable[[], T]) -> T:
        probe, snap = self._admit()
        # Closed with no failures counted: a success changes nothing, so it writes nothing (the hot path).
        quiet = not probe and snap.state == CLOSED and snap.failures == 0
        try:
            result = fn()
        except TransientExchangeError as exc:
            if not isinstance(exc, RateLimitWaitExceeded):  # our own limiter refused: nothing was sent
                self.on_failure(exc)
            raise
        except CircuitOpen:
            raise
        except Exception:
            if not quiet:
                self.on_success(probe)  # the exchange answered (a business error): it is reachable
            raise
        if not quiet:
            self.on_success(probe)
        return result

    def state(self) -> str:
        return self.store.load(self.name).state

    def _changed(self, transition: Transition, why: str) -> None:
        self._forget()
        level = logging.WARNING if transition.after == OPEN else logging.INFO
        log.log(level, "circuit breaker %s: %s -> %s (%s)", self.name, transition.before, transition.after, why)
        record_transition(self.name, transition, why, mirror=not isinstance(self.store, DbStore))


def record_transition(name: str, transition: Transition, why: str, *, mirror: bool) -> None:
    """Audit a state change; with `mirror`, copy it to `BreakerState` (the Redis store's copy for the admin)."""

    try:
        if mirror:
            now = timezone.now()
            BreakerState.objects.update_or_create(
                name=name,
                defaults={
                    "state": transition.after,
                    "consecutive_failures": transition.failures,
                    "opened_at": now if transition.after == OPEN else None,
                    "probe_started_at": now if transition.after == HALF_OPEN else None,
                    "last_error": why[:2000],
                },
            )
        audit_record(
            actor=Actor.system("circuit-breaker"),
            action=f"breaker.{transition.after}",
            object_type="exchange.breakerstate",
            object_id=name,
            before={"state": transition.before},
            after={"state": transition.after, "failures": transition.failures},
            message=why,
        )
    except Exception:  # the breaker must keep working when the database is what is failing
        log.exception("could not record breaker transition of %s", name)
    try:
        metrics.set_breaker_state(name, transition.after)
        metrics.CIRCUIT_BREAKER_TRANSITIONS.labels(name=name, to=transition.after).inc()
    except Exception:  # metrics are optional here; never let them break a call
        log.debug("breaker metric not updated", exc_info=True)


# --- registry ------------------------------------------------------------------------------------

_lock = threading.Lock()
_store: BreakerStore | None = None
_breakers: dict[str, CircuitBreaker] = {}


def _store_for_names() -> BreakerStore:
    global _store
    if _store is None:
        _store = FallbackStore(RedisStore(settings.REDIS_URL), DbStore()) if settings.REDIS_URL else DbStore()
    return _store


def get_breaker(name: str) -> CircuitBreaker:
    """The process's breaker called `name` (e.g. "gateio:public"), with the settings' threshold and cool-down."""

    with _lock:
        breaker = _breakers.get(name)
        if breaker is None:
            breaker = CircuitBreaker(
                name,
                _store_for_names(),
                threshold=settings.BREAKER_FAILURE_THRESHOLD,
                cooldown=float(settings.BREAKER_COOLDOWN_SEC),
            )
            _breakers[name] = breaker
        return breaker


def reset_registry() -> None:
    """Forget the cached store and breakers (tests that change REDIS_URL or the thresholds)."""
    global _store
    with _lock:
        _store = None
        _breakers.clear()


def breaker_states(exchange: str = "gateio") -> dict[str, str]:
    """name -> state for every endpoint class, read from the shared store; for `circuit_breaker_state`."""
    store = _store_for_names()
    return {f"{exchange}:{cls}": store.load(f"{exchange}:{cls}").state for cls in ENDPOINT_CLASSES}
