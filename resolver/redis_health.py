"""Health shared by every worker process on Redis (``policy.health.store: redis``).

The same circuit breaker as :class:`~resolver.health.MemoryHealthStore`, kept in one Redis hash
per provider, ``resolver:health:<namespace>:<provider id>``. Each method that reads and writes is
one Lua script (EVALSHA, loaded again after a NOSCRIPT), so concurrent workers never lose a
failure or let two probes through; times come from the Redis server's clock (``TIME`` inside the
script), so workers on machines whose clocks disagree still agree on a cooldown. Every write sets
a TTL: a key lives until its cooldown is over plus ``max_cooldown_s``, so keys of models nobody
calls any more expire on their own (a model quiet for that long starts again from zero, as
after a success).

Redis down or slower than ``timeout_s``: the call goes on with health kept in this process (a
:class:`MemoryHealthStore`), the outage is logged once on the ``resolver`` logger, and Redis is
tried again after ``retry_s``; once it answers, shared health resumes and the local state is
dropped.

redis-py is imported by this module only, and this module only when a policy asks for Redis.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from .admission import Limits
from .catalog import HealthPolicy, Provider, SecretURL, mask_url
from .errors import ResolverError
from .health import HealthState, HealthStore, MemoryHealthStore, Permit

__all__ = ["KEY_PREFIX", "HealthStoreUnavailable", "RedisHealthStore", "SharedLimits"]

T = TypeVar("T")
log = logging.getLogger("resolver.store")  # outages: serve logs them as JSON lines

KEY_PREFIX = "resolver:health"
ASYNC_CONNECTIONS = 64
"""Connections of one process's asyncio client to the shared store."""
_PERMITS: tuple[Permit, ...] = ("ok", "probe", "out")

# Milliseconds on the server's clock.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

_STATE = (
    """
local v = redis.call('HMGET', KEYS[1], 'failures', 'out_until', 'last_error', 'probing')
if not v[1] then return {0, 0, '', 0} end
"""
    + _NOW
    + """
return {tonumber(v[1]), math.max(0, (tonumber(v[2]) or 0) - now), v[3] or '', tonumber(v[4]) or 0}
"""
)

# Lookups are the hot path: a provider with no key answers without reading the clock.
_IN_ROTATION = (
    """
local out_until = tonumber(redis.call('HGET', KEYS[1], 'out_until') or '0')
if out_until == 0 then return 1 end
"""
    + _NOW
    + """
if out_until <= now then return 1 end
return 0
"""
)

# 0 ok, 1 probe, 2 out. ARGV: probe lease (ms), retention after it (ms).
_ACQUIRE = (
    """
local out_until = tonumber(redis.call('HGET', KEYS[1], 'out_until') or '0')
if out_until == 0 then return 0 end
"""
    + _NOW
    + """
if out_until > now then return 2 end
local lease = tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'probing', 1, 'out_until', now + lease)
redis.call('PEXPIRE', KEYS[1], lease + tonumber(ARGV[2]))
return 1
"""
)

# ARGV: threshold, cooldown (ms), backoff, max cooldown (ms), last error, retention (ms).
_RECORD_FAILURE = (
    """
local v = redis.call('HMGET', KEYS[1], 'failures', 'out_until', 'cooldown', 'probing')
local failures = (tonumber(v[1]) or 0) + 1
local out_until = tonumber(v[2]) or 0
local cooldown = tonumber(v[3]) or 0
local probing = tonumber(v[4]) or 0
"""
    + _NOW
    + """
if probing == 1 then
  cooldown = math.min(math.floor(cooldown * tonumber(ARGV[3])), tonumber(ARGV[4]))
  out_until = now + cooldown
  probing = 0
elseif out_until == 0 and failures >= tonumber(ARGV[1]) then
  cooldown = tonumber(ARGV[2])
  out_until = now + cooldown
end
redis.call('HSET', KEYS[1], 'failures', failures, 'out_until', out_until,
           'cooldown', cooldown, 'last_error', ARGV[5], 'probing', probing)
local out_for = math.max(0, out_until - now)
redis.call('PEXPIRE', KEYS[1], out_for + tonumber(ARGV[6]))
return {failures, out_for, ARGV[5], probing}
"""
)


class HealthStoreUnavailable(ResolverError):
    """The shared health store cannot be reached (raised by :meth:`RedisHealthStore.check`)."""


class RedisHealthStore:
    """Health shared on Redis by every process with the same URL and namespace.

    Built by :func:`resolver.stores.store_for` from ``policy.health``; ``url`` defaults to
    ``policy.url``. The repr, logs and errors show the URL with its password masked.
    """

    all_in_rotation = False  # shared state: only a round trip could tell

    def __init__(
        self,
        policy: HealthPolicy,
        *,
        namespace: str,
        url: SecretURL | str | None = None,
    ) -> None:
        secret = SecretURL(url) if isinstance(url, str) else (url or policy.url)
        if secret is None:
            raise ValueError("a Redis health store needs a URL (policy.health.url)")
        self.policy = policy
        self.url = secret
        self.namespace = namespace
        self.prefix = f"{KEY_PREFIX}:{namespace}:"
        # Retention after a cooldown: long enough for a failed probe to find the cooldown it
        # doubles, short enough that a model nobody calls leaves no key behind.
        self._keep_ms = max(1000, round(policy.max_cooldown_s * 1000))
        self._local = MemoryHealthStore(policy)
        self._down_until = 0.0  # time.monotonic() before which Redis is not tried
        self._lock = threading.Lock()
        self._options: dict[str, Any] = {
            "socket_timeout": policy.timeout_s,
            "socket_connect_timeout": policy.timeout_s,
            # redis-py retries a failed command (10 times by default): a down Redis would cost
            # every call many timeouts instead of one per retry_s.
            "retry": Retry(NoBackoff(), 0),
            "decode_responses": True,
        }
        self._client: redis.Redis = redis.Redis.from_url(secret.reveal(), **self._options)
        self._scripts = {
            name: self._client.register_script(text) for name, text in _SCRIPTS.items()
        }
        # The asyncio client is bound to the loop that created its connections.
        self._aloop: asyncio.AbstractEventLoop | None = None
        self._aclient: redis.asyncio.Redis | None = None
        self._ascripts: dict[str, Any] = {}

    def __repr__(self) -> str:
        where = "in-process until Redis is back" if self._down_until else "on Redis"
        return f"<RedisHealthStore {self.url} namespace={self.namespace!r} ({where})>"

    def key(self, provider_id: str) -> str:
        """The Redis key holding ``provider_id``'s health."""
        return self.prefix + provider_id

    @property
    def shared(self) -> bool:
        """False while Redis is unreachable and health is kept in this process."""
        return not self._down_until

    def check(self) -> None:
        """Raise :class:`HealthStoreUnavailable` unless Redis answers now (for tools that must
        not show local health as if it were shared)."""
        try:
            self._client.ping()
        except (redis.RedisError, OSError) as exc:
            raise HealthStoreUnavailable(
                f"health store {self.url} is unreachable: {_describe(exc)}"
            ) from None

    # --- the store, sync ------------------------------------------------------------------------

    def state(self, provider_id: str) -> HealthState:
        return self._sync(
            lambda: _state(provider_id, self._run("state", provider_id)),
            lambda: self._local.state(provider_id),
        )

    def in_rotation(self, provider_id: str) -> bool:
        return self._sync(
            lambda: bool(self._run("in_rotation", provider_id) == 1),
            lambda: self._local.in_rotation(provider_id),
        )

    def acquire(self, provider_id: str) -> Permit:
        return self._sync(
            lambda: _PERMITS[int(self._run("acquire", provider_id, *self._acquire_args()))],
            lambda: self._local.acquire(provider_id),
        )

    def record_success(self, provider_id: str) -> None:
        # One DEL is atomic already: a script would add a round trip's worth of nothing.
        self._sync(
            lambda: self._client.delete(self.key(provider_id)),
            lambda: self._local.record_success(provider_id),
        )

    def record_failure(self, provider_id: str, error_class: str, detail: str = "") -> HealthState:
        if error_class not in self.policy.counts:
            return self.state(provider_id)
        args = self._failure_args(error_class, detail)
        return self._sync(
            lambda: _state(provider_id, self._run("record_failure", provider_id, *args)),
            lambda: self._local.record_failure(provider_id, error_class, detail),
        )

    def reset(self, provider_id: str | None = None) -> None:
        """Put one provider, or every provider of this namespace, back in rotation."""
        self._local.reset(provider_id)
        if provider_id is not None:
            self._sync(lambda: self._client.delete(self.key(provider_id)), lambda: 0)
            return

        def reset_all() -> None:
            keys = list(self._client.scan_iter(match=_glob_escape(self.prefix) + "*", count=500))
            for i in range(0, len(keys), 500):
                self._client.unlink(*keys[i : i + 500])

        self._sync(reset_all, lambda: None)

    # --- the store, asyncio ---------------------------------------------------------------------

    async def astate(self, provider_id: str) -> HealthState:
        async def shared() -> HealthState:
            return _state(provider_id, await self._arun("state", provider_id))

        return await self._async(shared, lambda: self._local.state(provider_id))

    async def ain_rotation(self, provider_id: str) -> bool:
        async def shared() -> bool:
            return bool(await self._arun("in_rotation", provider_id) == 1)

        return await self._async(shared, lambda: self._local.in_rotation(provider_id))

    async def aacquire(self, provider_id: str) -> Permit:
        async def shared() -> Permit:
            return _PERMITS[int(await self._arun("acquire", provider_id, *self._acquire_args()))]

        return await self._async(shared, lambda: self._local.acquire(provider_id))

    async def arecord_success(self, provider_id: str) -> None:
        async def shared() -> None:
            await self._aclient_scripts()[0].delete(self.key(provider_id))

        await self._async(shared, lambda: self._local.record_success(provider_id))

    async def arecord_failure(
        self, provider_id: str, error_class: str, detail: str = ""
    ) -> HealthState:
        if error_class not in self.policy.counts:
            return await self.astate(provider_id)
        args = self._failure_args(error_class, detail)

        async def shared() -> HealthState:
            return _state(provider_id, await self._arun("record_failure", provider_id, *args))

        return await self._async(
            shared, lambda: self._local.record_failure(provider_id, error_class, detail)
        )

    # --- plumbing -------------------------------------------------------------------------------

    def _acquire_args(self) -> tuple[int, int]:
        return round(self.policy.cooldown_s * 1000), self._keep_ms

    def _failure_args(self, error_class: str, detail: str) -> tuple[int | float | str, ...]:
        p = self.policy
        return (
            p.failure_threshold,
            round(p.cooldown_s * 1000),
            p.backoff,
            round(p.max_cooldown_s * 1000),
            f"{error_class} {detail}".strip(),
            self._keep_ms,
        )

    def _run(self, script: str, provider_id: str, *args: int | float | str) -> Any:
        return self._scripts[script](keys=self._keys(script, provider_id), args=list(args))

    async def _arun(self, script: str, provider_id: str, *args: int | float | str) -> Any:
        return await self._aclient_scripts()[1][script](
            keys=self._keys(script, provider_id), args=list(args)
        )

    def _keys(self, script: str, provider_id: str) -> list[str]:
        health = self.key(provider_id)
        limit = f"{LIMIT_PREFIX}:{self.namespace}:{provider_id}"
        return [health, limit] if script == "admit" else [limit] if script == "spend" else [health]

    # --- rpm and tpm, shared ----------------------------------------------------------------

    shares_budgets = True
    """Budgets are kept on this store's Redis too (:mod:`resolver.redis_budgets`)."""

    def shared_limits(self) -> SharedLimits:
        """rpm and tpm counted on this store's Redis: one limit for every worker and host."""
        return SharedLimits(self)

    def _aclient_scripts(self) -> tuple[redis.asyncio.Redis, dict[str, Any]]:
        loop = asyncio.get_running_loop()
        if self._aclient is None or self._aloop is not loop:
            options = self._options | {"retry": AsyncRetry(NoBackoff(), 0)}
            # Calls past the pool's connections wait for one (each command is bounded by the
            # socket timeout) instead of failing as "too many connections", which would read
            # as an outage under a burst.
            pool = redis.asyncio.BlockingConnectionPool.from_url(
                self.url.reveal(), max_connections=ASYNC_CONNECTIONS, timeout=None, **options
            )
            client = redis.asyncio.Redis(connection_pool=pool)
            self._ascripts = {name: client.register_script(text) for name, text in _SCRIPTS.items()}
            self._aclient, self._aloop = client, loop
        return self._aclient, self._ascripts

    def _sync(self, shared: Callable[[], T], local: Callable[[], T]) -> T:
        if self._down_until and time.monotonic() < self._down_until:
            return local()
        try:
            value = shared()
        except (redis.RedisError, OSError) as exc:
            self._went_down(exc)
            return local()
        if self._down_until:
            self._came_back()
        return value

    async def _async(self, shared: Callable[[], Awaitable[T]], local: Callable[[], T]) -> T:
        if self._down_until and time.monotonic() < self._down_until:
            return local()
        try:
            value = await shared()
        except (redis.RedisError, OSError) as exc:
            self._went_down(exc)
            return local()
        if self._down_until:
            self._came_back()
        return value

    def _went_down(self, exc: BaseException) -> None:
        with self._lock:
            first = not self._down_until
            self._down_until = time.monotonic() + self.policy.retry_s
        if first:  # once per outage, not once per call
            log.warning(
                "health store %s unreachable (%s): keeping health in this process, "
                "trying Redis again every %g s",
                self.url,
                _describe(exc),
                self.policy.retry_s,
            )

    def _came_back(self) -> None:
        with self._lock:
            if not self._down_until:
                return
            self._down_until = 0.0
        # What this process saw alone during the outage is not carried over: shared health
        # is the truth again.
        self._local.reset()
        log.warning("health store %s is back: health is shared again", self.url)


# rpm and tpm, shared: a deployment's requests and tokens per minute of the server's clock, in
# one hash per minute (KEYS[2]:<minute>), read as a sliding window (the previous minute weighted
# by how much of it the last 60 s still hold). Checked with the health it is read with, in one
# round trip: a deployment at its limit takes no probe and is not counted; one that may go is.
# The per-minute keys are built here from KEYS[2]: one Redis, not a cluster.
_WINDOW = """
local minute = math.floor(now / 60000)
local cur = KEYS[2] .. ':' .. minute
local left = 1 - (now % 60000) / 60000
"""

# 0 ok, 1 probe, 2 out; then 0, or 1/2 at the rpm/tpm limit, and the count that is.
# ARGV: probe lease (ms), retention (ms), rpm (0: none), tpm (0: none).
_ADMIT = (
    _NOW
    + _WINDOW
    + """
local c = redis.call('HMGET', cur, 'r', 't')
local p = redis.call('HMGET', KEYS[2] .. ':' .. (minute - 1), 'r', 't')
local reqs = (tonumber(c[1]) or 0) + (tonumber(p[1]) or 0) * left
local toks = (tonumber(c[2]) or 0) + (tonumber(p[2]) or 0) * left
local rpm, tpm = tonumber(ARGV[3]), tonumber(ARGV[4])
if rpm > 0 and reqs >= rpm then return {2, 1, math.floor(reqs)} end
if tpm > 0 and toks >= tpm then return {2, 2, math.floor(toks)} end
local permit = 0
local out_until = tonumber(redis.call('HGET', KEYS[1], 'out_until') or '0')
if out_until ~= 0 then
  if out_until > now then return {2, 0, 0} end
  local lease = tonumber(ARGV[1])
  redis.call('HSET', KEYS[1], 'probing', 1, 'out_until', now + lease)
  redis.call('PEXPIRE', KEYS[1], lease + tonumber(ARGV[2]))
  permit = 1
end
redis.call('HINCRBY', cur, 'r', 1)
redis.call('PEXPIRE', cur, 120000)
return {permit, 0, 0}
"""
)

# ARGV: tokens a response reported.
_SPEND = (
    _NOW
    + _WINDOW
    + """
redis.call('HINCRBY', cur, 't', tonumber(ARGV[1]))
redis.call('PEXPIRE', cur, 120000)
return 1
"""
)

_SCRIPTS = {
    "state": _STATE,
    "in_rotation": _IN_ROTATION,
    "acquire": _ACQUIRE,
    "record_failure": _RECORD_FAILURE,
    "admit": _ADMIT,
    "spend": _SPEND,
}
LIMIT_PREFIX = "resolver:limit"


def _state(provider_id: str, reply: list[Any]) -> HealthState:
    failures, out_for_ms, last_error, probing = reply
    return HealthState(
        provider_id,
        int(failures),
        int(out_for_ms) / 1000,
        (str(last_error) or None) if failures else None,
        bool(int(probing)),
    )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {mask_url(str(exc)) or 'no detail'}"


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class SharedLimits(Limits):
    """rpm and tpm counted on the Redis of a :class:`RedisHealthStore`, read with a
    deployment's health in one script: a shared limit adds no round trip to the health read a
    call makes anyway. While Redis is unreachable, counted in this process with the local
    health the store falls back to (and said so once, by the store)."""

    __slots__ = ("_pending", "_store")

    def __init__(self, store: RedisHealthStore) -> None:
        super().__init__()
        self._store = store
        self._pending: set[asyncio.Task[None]] = set()  # spends under way, kept from the GC

    def admit(self, provider: Provider, health: HealthStore) -> tuple[Permit, str | None]:
        if (provider.rpm is None and provider.tpm is None) or health is not self._store:
            return super().admit(provider, health)
        store = self._store
        return store._sync(
            lambda: _admitted(provider, store._run("admit", provider.id, *self._args(provider))),
            lambda: super(SharedLimits, self).admit(provider, store._local),
        )

    async def aadmit(self, provider: Provider, health: HealthStore) -> tuple[Permit, str | None]:
        if (provider.rpm is None and provider.tpm is None) or health is not self._store:
            return await super().aadmit(provider, health)
        store = self._store

        async def shared() -> tuple[Permit, str | None]:
            reply = await store._arun("admit", provider.id, *self._args(provider))
            return _admitted(provider, reply)

        return await store._async(
            shared, lambda: super(SharedLimits, self).admit(provider, store._local)
        )

    def spend(self, provider: Provider, tokens: int) -> None:
        if provider.tpm is None or tokens <= 0:
            return
        store = self._store
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no event loop: a plain round trip
            store._sync(
                lambda: store._run("spend", provider.id, tokens),
                lambda: super(SharedLimits, self).spend(provider, tokens),
            )
            return

        async def shared() -> None:
            await store._arun("spend", provider.id, tokens)

        async def spend() -> None:
            await store._async(shared, lambda: super(SharedLimits, self).spend(provider, tokens))

        # Called from a call's outcome, inside the loop: counted after the answer, not before.
        task = asyncio.get_running_loop().create_task(spend())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _args(self, provider: Provider) -> tuple[int, int, int, int]:
        lease, keep = self._store._acquire_args()
        return lease, keep, provider.rpm or 0, provider.tpm or 0


def _admitted(provider: Provider, reply: list[Any]) -> tuple[Permit, str | None]:
    permit, limit, value = (int(x) for x in reply)
    if limit == 1:
        return "out", f"at its rpm limit ({provider.rpm} requests a minute, shared: {value})"
    if limit == 2:
        return "out", f"at its tpm limit ({value} of {provider.tpm} tokens this minute, shared)"
    return _PERMITS[permit], None
