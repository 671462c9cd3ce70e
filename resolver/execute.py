"""Execution: carry one call through the requested model and its backups.

:func:`call_with_fallback` (and :func:`acall_with_fallback` for coroutines) calls
``fn(provider)`` on the requested model, then on each usable backup of the resolver's chain, for
as long as the failure's *error class* falls back under the policy and the bounds allow.

A failure gets its class as :mod:`resolver.classify` describes (your ``classify=``, a
:class:`~resolver.errors.ProviderError`, an HTTP status, a timeout or connection error).
Anything else is a bug or a failure the library cannot judge, and is re-raised at once,
unchanged, without trying a backup.

What falls back: the failing provider's ``edge_policy[id].fallback_on`` if it has one, else
``policy.fallback_on`` (default: every class but ``bad_request``). A failure whose class does not
fall back is re-raised as it is (a ProviderError then lists the call's ``attempts``). A
``context_window`` failure moves only to a backup whose ``context_window`` is larger, where both
are known. Bounds: ``policy.max_attempts`` calls in all (same-model retries included),
``policy.max_depth`` hops (already applied to the chain), the deadline (``deadline_s`` or
``policy.deadline_s``), and never the same provider twice. When nothing served,
:class:`~resolver.errors.FallbackExhausted` carries every attempt.

Calls over a provider's ``max_concurrency`` (its model's or its vendor's) wait their turn in a
FIFO queue (:mod:`resolver.admission`), within the deadline. An attempt still waiting there, or
in the built-in client's pool, when the deadline passes was never sent: its class is ``local``,
it is never reported to health, and the call ends there.

Each attempt and each move to a backup is logged on the ``resolver`` logger (DEBUG for an attempt
that served, INFO for one that failed, WARNING for a fallback) and passed as an :class:`Event` to
the ``on_event`` callback and to listeners added with :func:`add_listener`.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from . import admission, tracing
from .budgets import Hold, Size, actual_cost, estimate_for, hold_seconds, request_size
from .callers import caller
from .catalog import Budget, ErrorClass, Provider
from .classify import Classify, Failure, classify, classify_status, parse_retry_after, scrubbed
from .errors import Attempt, FallbackExhausted, ModelUnavailable, ProviderError, Skip
from .health import OUT_OF_ROTATION, HealthState
from .resolve import Plan, Resolver

__all__ = [
    "Attempt",
    "Event",
    "Outcome",
    "Skip",
    "acall_with_fallback",
    "add_listener",
    "call_with_fallback",
    "classify_status",
    "parse_retry_after",
    "time_left",
]

T = TypeVar("T")
# A candidate of one call: (provider, the model it backs up (None: the requested model's own
# deployment), the group it was picked from (None: a provider on its own)).
Entry = tuple[Provider, "str | None", "str | None"]
EventKind = Literal["attempt", "fallback", "skip"]

log = logging.getLogger("resolver")
log.addHandler(logging.NullHandler())  # a library: silent unless the application configures logging


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """What a fallback call returned, and who served it.

    Attribution stays with ``requested``; ``provider`` is the one that actually answered.
    """

    value: T
    requested: str
    provider: Provider
    fallback_used: bool
    attempts: tuple[Attempt, ...]
    """Every call made, in order; the last one served."""
    skipped: tuple[Skip, ...] = ()
    """Backups passed over without a call, and why."""
    group: str | None = None
    """The group ``provider`` was picked from (the requested one, or a backup group); None
    when it was called as a provider on its own."""
    cost_usd: float | None = None
    """Estimated cost of the call that served, from the token usage its response reported
    (None when the value reports no ``prompt_tokens``/``completion_tokens``)."""
    requested_cost_usd: float | None = None
    """What the same tokens would have cost on the requested model."""

    @property
    def served_by(self) -> str:
        return self.provider.id


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened during a fallback call, as listeners receive it.

    ``attempt``: a call to ``provider_id`` ended (``error_class`` None if it served).
    ``fallback``: the call moves from ``provider_id`` to ``target_id`` after ``error_class``.
    ``skip``: ``provider_id`` was passed over (``message`` says why).
    """

    kind: EventKind
    requested: str
    provider_id: str
    error_class: ErrorClass | None = None
    status: int | None = None
    seconds: float = 0.0
    """Duration of the attempt (for ``attempt``); time since the call began otherwise."""
    elapsed_s: float = 0.0
    """Time since the fallback call began."""
    target_id: str | None = None
    message: str = ""


_MIN_ATTEMPT_S = 0.005

Listener = Callable[[Event], None]
_listeners: list[Listener] = []
_listeners_lock = threading.Lock()


def add_listener(listener: Listener) -> Callable[[], None]:
    """Call ``listener(event)`` for every event of every fallback call in this process.

    Returns a function that removes it again. Listeners run inline: keep them fast, and do not
    raise (an exception from a listener is logged and ignored).
    """
    with _listeners_lock:
        _listeners.append(listener)

    def remove() -> None:
        with _listeners_lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return remove


_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "resolver_deadline", default=None
)


def time_left() -> float | None:
    """Seconds left before the deadline of the fallback call running ``fn``, or None.

    Use it inside your own ``fn`` to cap a request's timeout; the built-in client does.
    """
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


# --- the run: shared decisions of the sync and async loops ----------------------------------


class _Run:
    """The state of one fallback call; the sync and async loops drive it."""

    def __init__(
        self,
        model_id: str,
        resolver: Resolver,
        environ: Mapping[str, str] | None,
        deadline_s: float | None,
        on_event: Listener | None,
        classify: Classify | None,
        plan: Plan | None = None,
        *,
        stream: bool = False,
    ) -> None:
        self.resolver = resolver
        self.requested = model_id
        node = resolver.nodes.get(model_id)
        if node is None:
            from .errors import did_you_mean

            hint = did_you_mean(model_id, resolver.nodes)
            raise ModelUnavailable(model_id, "unknown model" + (f"; {hint}" if hint else ""))
        if not node.enabled:
            raise ModelUnavailable(
                model_id, f"disabled ({node.disabled_reason or 'no reason given'})"
            )
        self.policy = resolver.policy
        self.started = time.monotonic()
        self.skipped: list[Skip] = []
        self.attempts: list[Attempt] = []
        self.trace = None if tracing.tracer is None else tracing.CallTrace(self, current=not stream)
        self.scope = caller.get()
        own = None if self.scope is None else self.scope.chains.get(model_id)
        if own is not None and plan is not ALONE:  # the caller's own chain, unless fallback=False
            plan = resolver._plan_of(model_id, own, _environ(environ))
        usable, skipped = plan if plan is not None else resolver._plan(model_id, _environ(environ))
        # Entries are (provider, via, group): via None for the requested model's own
        # deployments, group the group a deployment was picked from.
        self.queue: list[Entry] = [*self._own(model_id, environ), *usable]
        self.current: Entry | None = None
        self.hold: Hold | None = None  # what the attempt under way reserved on budgets
        self.size: Size | None = request_size.get()  # what budgets estimate a call from
        self._taken: dict[str, Entry] = {}
        self.on_event = on_event
        self.classify = classify
        self.environ = environ
        self.tried: set[str] = set()
        budget = deadline_s if deadline_s is not None else self.policy.deadline_s
        self.deadline = None if budget is None else self.started + budget
        self.budget = budget
        self.last_exc: BaseException | None = None
        self.stop = ""  # why the call ended without an answer
        for provider_id, reason in skipped:
            self.skip(provider_id, reason)

    def _own(self, model_id: str, environ: Mapping[str, str] | None) -> list[Entry]:
        """The requested model's deployments in the order its group's strategy ranks them now
        (a provider alone: itself). A member that cannot serve is passed over and said so; a
        lone provider is called as asked, its key unset or not (the failure says why)."""
        if model_id not in self.resolver.groups:
            return [(self.resolver.providers[model_id], None, None)]
        ranked = self.resolver.ranked(model_id)
        env = _environ(environ)
        own: list[Entry] = []
        for provider, _ in ranked:
            reason = self.resolver._member_unusable(provider, env, health=False)
            if reason is None:
                own.append((provider, None, model_id))
            else:
                self.skip(provider.id, reason)
        return own

    # events

    def emit(self, event: Event) -> None:
        if event.kind == "attempt":
            level = logging.DEBUG if event.error_class is None else logging.INFO
        elif event.kind == "fallback":
            level = logging.WARNING
        else:
            level = logging.DEBUG
        if log.isEnabledFor(level):
            log.log(level, "%s", _render(event), extra={"resolver_event": event})
        for listener in (self.on_event, *_listeners):
            if listener is None:
                continue
            try:
                listener(event)
            except Exception:
                log.exception("resolver event listener %r failed", listener)

    def skip(
        self,
        provider_id: str,
        reason: str,
        *,
        limited: bool = False,
        budget: str | None = None,
        scope: str | None = None,
    ) -> None:
        self.skipped.append(Skip(provider_id, reason, limited, budget, scope))
        if self.trace is not None:
            self.trace.skip(provider_id, reason, health=reason.startswith(OUT_OF_ROTATION))
        self.emit(
            Event("skip", self.requested, provider_id, elapsed_s=self.elapsed(), message=reason)
        )

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    # decisions

    def next_provider(self) -> Entry | None:
        """The provider to call next, or None when the call cannot go on (``stop`` says why)."""
        health, limits = self.resolver.health, self.resolver.limits
        while (picked := self._next_candidate()) is not None:
            provider = picked[0]
            if not self._in_scope(provider):
                continue
            # A budget without room passes the deployment over before health is asked, so that
            # no probe is taken for a call that will not go.
            if (covering := self._covering(provider)) and not self._reserved(
                picked, self.resolver.ledger.reserve(covering, *self._estimate(provider))
            ):
                continue
            # Health's permit takes the probe when a cooldown is over; a deployment at its own
            # rpm/tpm limit is not sent to, and its health is not charged.
            permit, limited = limits.admit(provider, health)
            if permit == "out" or limited is not None:
                self.release()
            if limited is not None:
                self._limited(picked, limited)
            elif permit == "out":
                self.skip(provider.id, health.state(provider.id).describe())
            else:
                return self._start(picked, permit == "probe")
        return None

    async def anext_provider(self) -> Entry | None:
        """:meth:`next_provider` through the health store's async methods."""
        health, limits = self.resolver.health, self.resolver.limits
        while (picked := self._next_candidate()) is not None:
            provider = picked[0]
            if not self._in_scope(provider):
                continue
            if (covering := self._covering(provider)) and not self._reserved(
                picked, await self.resolver.ledger.areserve(covering, *self._estimate(provider))
            ):
                continue
            permit, limited = await limits.aadmit(provider, health)
            if permit == "out" or limited is not None:
                self.release()
            if limited is not None:
                self._limited(picked, limited)
            elif permit == "out":
                self.skip(provider.id, (await health.astate(provider.id)).describe())
            else:
                return self._start(picked, permit == "probe")
        return None

    def _in_scope(self, provider: Provider) -> bool:
        """Whether the caller may reach ``provider``; if not, it is passed over and said so
        (never sent, never charged to health), whatever error class led here."""
        scope = self.scope
        if scope is None or scope.allows(provider.id):
            return True
        self.skip(provider.id, scope.outside(provider.id), scope=scope.name)
        return False

    def _covering(self, provider: Provider) -> tuple[Budget, ...]:
        """The budgets a call to ``provider`` counts against: its own, and the caller's."""
        own = self.resolver.budgets_of(provider.id)
        return own if self.scope is None or not self.scope.budgets else own + self.scope.budgets

    def _estimate(self, provider: Provider) -> tuple[int, float]:
        """The call's estimate on ``provider`` (micro-USD), and how long to hold it."""
        estimate = estimate_for(provider, self.policy, self.size)
        return estimate, hold_seconds(provider, self.remaining())

    def _reserved(self, entry: Entry, held: Hold | Budget) -> bool:
        """Keep the reservation, or pass the deployment over for the budget without room
        (a fallback of class ``budget`` when it leaves a group or a lone deployment)."""
        if isinstance(held, Hold):
            self.hold = held
            return True
        reason = self.resolver.ledger.why(held)
        self.skip(entry[0].id, reason, budget=held.id)
        self._moving_on(entry, "budget", reason)
        return False

    def _start(self, picked: Entry, probe: bool) -> Entry:
        self.current = picked
        self._taken[picked[0].id] = picked
        if picked[0].id in self.resolver.loaded:
            self.resolver.load.started(picked[0].id)
        if self.trace is not None:
            self.trace.started(*picked, probe)
        return picked

    def release(self) -> None:
        """The attempt under way has ended (or never started): it no longer counts as a call
        in flight, and what it reserved on budgets is given back (an answer settles it
        first)."""
        if self.current is not None:
            if self.current[0].id in self.resolver.loaded:
                self.resolver.load.ended(self.current[0].id)
            self.current = None
        if self.hold is not None:
            self.resolver.ledger.release(self.hold)
            self.hold = None

    def end(self, error: BaseException | None) -> None:
        """The call is over (``error``: what it raised): nothing of it is in flight, and its
        span ends."""
        self.release()  # cancelled, or re-raised unjudged, mid-attempt
        if self.trace is not None:
            self.trace.end(error)

    def health_told(self, provider_id: str, state: HealthState) -> None:
        """Health recorded a failure of ``provider_id`` and answered ``state``."""
        if self.trace is not None:
            self.trace.health(provider_id, state, self.policy.health.failure_threshold)

    def _next_candidate(self) -> Entry | None:
        """The next provider the bounds allow, health not yet asked (None: ``stop`` says why)."""
        while self.queue:
            if len(self.attempts) >= self.policy.max_attempts:
                self.stop = f"max_attempts={self.policy.max_attempts} reached"
                return None
            if self.deadline_passed():
                self.stop = f"deadline of {self.budget:g}s reached"
                return None
            entry = self.queue.pop(0)
            provider = entry[0]
            if provider.id in self.tried:  # never the same provider twice in one call
                continue
            self.tried.add(provider.id)
            return entry
        if not self.stop:
            limited = not self.attempts and any(s.limited for s in self.skipped)
            self.stop = (
                "every candidate is at its rpm/tpm limit" if limited else "every candidate failed"
            )
        return None

    def _limited(self, entry: Entry, reason: str) -> None:
        """Pass over a deployment at its own limit; when it was the last of its group (or
        alone), the call leaves it for a backup: a fallback of class ``limited``."""
        self.skip(entry[0].id, reason, limited=True)
        self._moving_on(entry, "limited", reason)

    def _moving_on(self, entry: Entry, error_class: ErrorClass, reason: str) -> None:
        """A deployment passed over without a call: when it was the last of its group (or
        alone), the call moves on to a backup, a fallback of ``error_class``."""
        group = entry[2]
        rest = [e for e in self.queue if e[0].id not in self.tried]
        if rest and (group is None or all(e[2] != group for e in rest)):
            self.emit(
                Event(
                    "fallback",
                    self.requested,
                    entry[0].id,
                    error_class,
                    None,
                    self.elapsed(),
                    self.elapsed(),
                    target_id=rest[0][0].id,
                    message=reason,
                )
            )

    def deadline_passed(self) -> bool:
        """True when too little time is left to start an attempt (timers fire a little early,
        and an attempt given a few milliseconds would only fail)."""
        left = self.remaining()
        return left is not None and left < _MIN_ATTEMPT_S

    def succeeded(self, provider: Provider, value: T, seconds: float, status: int | None) -> None:
        """Record an attempt that served (the loop has reported it to health)."""
        if provider.id in self.resolver.loaded:
            first_token = getattr(value, "first_token_s", None)
            self.resolver.load.observe(provider.id, first_token or seconds)
        if self.hold is not None:
            self.resolver.ledger.settle(self.hold, actual_cost(provider, value))
            self.hold = None
        self.release()
        attempt = Attempt(provider.id, None, status, "ok", seconds)
        self.attempts.append(attempt)
        if self.trace is not None:
            self.trace.ended(None, status, True, value)
        self.emit(
            Event(
                "attempt",
                self.requested,
                provider.id,
                None,
                status,
                seconds,
                self.elapsed(),
                message="ok",
            )
        )

    def failed(
        self, provider: Provider, exc: Exception, seconds: float, *, deadline_hit: bool = False
    ) -> Failure | None:
        """Record a failed attempt. Returns the failure for the loop to report to health and
        pass to :meth:`after_failure`, or None when the deadline ended the call; raises a
        failure it cannot classify."""
        self.release()
        secrets = self._keys_sent()
        failure = classify(exc, self.classify, secrets)
        if failure is None:
            self.resolver._stats.record(self.requested, "failed")
            raise exc  # not ours to judge: re-raised at once, unchanged
        # A vendor may echo the key in its error: what we chain or re-raise never carries it.
        self.last_exc = scrubbed(exc, failure, provider.id, secrets)
        attempt = Attempt(
            provider.id, failure.error_class, failure.status, failure.message, seconds
        )
        self.attempts.append(attempt)
        if self.trace is not None:
            self.trace.ended(failure.error_class, failure.status, attempt.sent)
        self.emit(
            Event(
                "attempt",
                self.requested,
                provider.id,
                failure.error_class,
                failure.status,
                seconds,
                self.elapsed(),
                message=failure.message,
            )
        )
        if deadline_hit or not self.attempts[-1].sent:
            # Our budget ran out, or the request waited in our own queue until it did: says
            # nothing about the provider's health.
            self.queue.clear()
            queued = "" if self.attempts[-1].sent else " while queued"
            self.stop = f"deadline of {self.budget:g}s reached{queued}"
            return None
        return failure

    def after_failure(self, provider: Provider, exc: Exception, failure: Failure) -> float | None:
        """What follows a failure health has been told of: a wait in seconds before retrying
        the same provider, or None to move on; raises when the failure must not fall back."""
        # A group's member fails under its group's edge policy.
        entry = self.current_entry(provider)
        source = entry[2] if entry is not None and entry[2] is not None else provider.id
        edge = self.resolver.edge_policy.get(source)
        falls_back = self.policy.fallback_on
        if edge is not None and edge.fallback_on is not None:
            falls_back = edge.fallback_on  # an empty list is honoured: this source never falls back
        retries_done = sum(a.provider_id == provider.id for a in self.attempts) - 1
        retries = self.policy.retries if provider.retries is None else provider.retries
        if (
            failure.error_class in self.policy.retry_on
            and retries_done < retries
            and len(self.attempts) < self.policy.max_attempts
        ):
            wait = (
                failure.retry_after
                if failure.retry_after is not None
                else self.policy.retry_backoff_s * 2**retries_done
            )
            left = self.remaining()
            if wait <= self.policy.retry_max_wait_s and (left is None or wait < left):
                self.tried.discard(provider.id)
                entry = self.current_entry(provider)
                self.queue.insert(0, entry if entry is not None else (provider, None, None))
                return wait
        if failure.error_class not in falls_back:
            error = self.last_exc if isinstance(self.last_exc, Exception) else exc
            if isinstance(error, ProviderError):
                error.attempts = tuple(self.attempts)
            self.resolver._stats.record(self.requested, "failed")
            try:
                raise error
            finally:
                if error is not exc:  # the masked copy: the original, raised within, stays out
                    error.__context__ = None
        if failure.error_class == "context_window":
            self._drop_smaller_windows(provider)
        self._drop_untriggered(failure.error_class)
        nxt = next((e[0] for e in self.queue if e[0].id not in self.tried), None)
        if nxt is not None and len(self.attempts) < self.policy.max_attempts:
            self.emit(
                Event(
                    "fallback",
                    self.requested,
                    provider.id,
                    failure.error_class,
                    failure.status,
                    self.elapsed(),
                    self.elapsed(),
                    target_id=nxt.id,
                    message=failure.message,
                )
            )
        return None

    def _keys_sent(self) -> list[str]:
        """The key values of the providers called so far, to keep out of errors."""
        environ = _environ(self.environ)
        envs = {self.resolver.providers[p].api_key_env for p in self.tried}
        return [environ[name] for name in envs if name and environ.get(name)]

    def _drop_untriggered(self, error_class: ErrorClass) -> None:
        """Pass over the backups whose edge is taken only on other classes than this
        failure's (``edge_policy.<source>.backup_on``)."""
        keep = []
        for entry in self.queue:
            provider, via, group = entry
            edge = None if via is None else self.resolver.edge_policy.get(via)
            on = edge.trigger(group or provider.id) if edge is not None else None
            if on is not None and error_class not in on:
                self.skip(
                    provider.id,
                    f"the edge {via} -> {group or provider.id} is taken only on {', '.join(on)}, "
                    f"not on {error_class}",
                )
            else:
                keep.append(entry)
        self.queue = keep

    def _drop_smaller_windows(self, failed: Provider) -> None:
        size = failed.context_window
        if size is None:
            return
        keep = []
        for entry in self.queue:
            provider = entry[0]
            if provider.context_window is not None and provider.context_window <= size:
                self.skip(
                    provider.id,
                    f"context window {provider.context_window} is not larger than "
                    f"{failed.id}'s {size}",
                )
            else:
                keep.append(entry)
        self.queue = keep

    def current_entry(self, provider: Provider) -> Entry | None:
        """The queue entry ``provider`` was last taken from."""
        return self._taken.get(provider.id)

    def outcome(self, provider: Provider, value: T) -> Outcome[T]:
        entry = self.current_entry(provider)
        fallback_used = entry[1] is not None if entry else provider.id != self.requested
        group = entry[2] if entry else None
        self.resolver._stats.record(
            self.requested, "fallback" if fallback_used else "primary", provider.id
        )
        # Priced from the tokens the response reports (ChatResult, or any value with the same
        # attributes): what the call cost, and what the requested model would have charged.
        prompt = getattr(value, "prompt_tokens", None)
        completion = getattr(value, "completion_tokens", None)
        if self.trace is not None:
            self.trace.served(provider, fallback_used, value)
        costs: tuple[float | None, float | None] = (None, None)
        if isinstance(prompt, int) and isinstance(completion, int):
            self.resolver.limits.spend(provider, prompt + completion)
            requested = self.resolver.nodes[self.requested]
            costs = (
                provider.pricing.cost(prompt, completion),
                requested.pricing.cost(prompt, completion),
            )
        return Outcome(
            value,
            self.requested,
            provider,
            fallback_used,
            tuple(self.attempts),
            tuple(self.skipped),
            group,
            *costs,
        )

    def exhausted(self) -> FallbackExhausted:
        self.resolver._stats.record(self.requested, "exhausted")
        return FallbackExhausted(self.requested, self.attempts, self.skipped, reason=self.stop)


# Set by resolver.testing.fail_calls: provider id -> the class its calls fail with. The hot path
# pays one truthiness check while it is empty.
_forced: dict[str, ErrorClass] = {}


def _raise_forced(provider: Provider) -> None:
    if _forced and provider.id in _forced:
        raise ProviderError(
            _forced[provider.id],
            "failure forced by resolver.testing.fail_calls",
            provider_id=provider.id,
        )


def _render(event: Event) -> str:
    if event.kind == "attempt":
        if event.error_class is None:
            return (
                f"{event.requested}: attempt on {event.provider_id} served in {event.seconds:.3f}s"
            )
        code = f" (HTTP {event.status})" if event.status is not None else ""
        return (
            f"{event.requested}: attempt on {event.provider_id} failed: {event.error_class}"
            f"{code} after {event.seconds:.3f}s: {event.message}"
        )
    if event.kind == "fallback":
        return (
            f"{event.requested}: falling back from {event.provider_id} to {event.target_id} "
            f"after {event.error_class} ({event.elapsed_s:.3f}s elapsed)"
        )
    return f"{event.requested}: skipping {event.provider_id}: {event.message}"


def _status_of_value(value: object) -> int | None:
    status = getattr(value, "status", None)
    return status if isinstance(status, int) and not isinstance(status, bool) else None


# --- the public calls -------------------------------------------------------------------------


def call_with_fallback(
    model_id: str,
    fn: Callable[[Provider], T],
    *,
    resolver: Resolver,
    environ: Mapping[str, str] | None = None,
    deadline_s: float | None = None,
    on_event: Listener | None = None,
    classify: Classify | None = None,
    fallback: bool = True,
) -> Outcome[T]:
    """Call ``fn(provider)`` on ``model_id``, then on its usable backups, until one serves.

    ``resolver`` is the configuration and health to call through (``resolver.call_with_fallback``
    fills in the process-wide default); ``environ`` (default ``os.environ``) is
    where backups' key variables are looked up; ``deadline_s`` overrides ``policy.deadline_s``
    (a running ``fn`` is not interrupted: cap your own timeouts with :func:`time_left`).
    ``on_event`` receives each :class:`Event` of this call; ``classify`` maps your exceptions to
    error classes (return None to use the defaults); ``fallback=False`` calls ``model_id`` alone
    (its own retries still apply), never a backup. Returns an :class:`Outcome`; raises
    :class:`FallbackExhausted` when nothing served, :class:`ModelUnavailable` for an unknown or
    disabled ``model_id``, and re-raises a failure that does not fall back.
    """
    run = _Run(model_id, resolver, environ, deadline_s, on_event, classify, _alone(fallback))
    run.stop = "" if fallback else _ALONE
    health = run.resolver.health
    token = _deadline.set(run.deadline)
    error: BaseException | None = None
    try:
        while (picked := run.next_provider()) is not None:
            provider = picked[0]
            began = time.monotonic()
            try:
                with admission.hold(provider, run.remaining()) as admitted:
                    if not admitted:
                        raise _not_sent(provider, run)
                    _raise_forced(provider)
                    value = fn(provider)
            except Exception as exc:
                seconds = time.monotonic() - began
                failure = run.failed(provider, exc, seconds, deadline_hit=run.deadline_passed())
                if failure is not None:
                    state = health.record_failure(provider.id, failure.error_class, failure.detail)
                    run.health_told(provider.id, state)
                    wait = run.after_failure(provider, exc, failure)
                    if wait:
                        time.sleep(wait)
                continue
            health.record_success(provider.id)
            run.succeeded(provider, value, time.monotonic() - began, _status_of_value(value))
            return run.outcome(provider, value)
        raise run.exhausted() from run.last_exc
    except BaseException as exc:
        error = exc
        raise
    finally:
        run.end(error)  # an attempt cancelled or re-raised is no longer in flight
        _deadline.reset(token)


async def acall_with_fallback(
    model_id: str,
    fn: Callable[[Provider], Awaitable[T]],
    *,
    resolver: Resolver,
    environ: Mapping[str, str] | None = None,
    deadline_s: float | None = None,
    on_event: Listener | None = None,
    classify: Classify | None = None,
    fallback: bool = True,
) -> Outcome[T]:
    """:func:`call_with_fallback` for a coroutine function ``fn``.

    The deadline cancels an attempt still running when it passes (recorded as a ``timeout``),
    and cancelling the task running this call cancels the attempt in flight and starts no
    backup.
    """
    # asyncio is imported here, not at module level: it brings ssl, sockets and subprocess
    # along, a third of `import resolver`, which sync users and lookups never need.
    import asyncio

    plan = _alone(fallback) or await resolver._aplan(model_id, _environ(environ))
    run = _Run(model_id, resolver, environ, deadline_s, on_event, classify, plan)
    run.stop = "" if fallback else _ALONE
    health = resolver.health
    token = _deadline.set(run.deadline)
    error: BaseException | None = None
    try:
        while (picked := await run.anext_provider()) is not None:
            provider = picked[0]
            began = time.monotonic()
            # timeout_at takes a time on the loop's clock; timeout() would take a delay.
            when = None if run.deadline is None else _loop_time(run.deadline)
            try:
                with admission.track() as mark:
                    async with asyncio.timeout_at(when) as scope:
                        async with admission.ahold(provider):
                            _raise_forced(provider)
                            value = await fn(provider)
            except Exception as exc:
                seconds = time.monotonic() - began
                hit = scope.expired()
                failed: Exception = exc
                if hit and mark.queued:  # the deadline passed before the request left
                    failed = _not_sent(provider, run)
                elif hit:
                    failed = ProviderError(
                        "timeout",
                        f"deadline of {run.budget:g}s reached",
                        provider_id=provider.id,
                    )
                failure = run.failed(provider, failed, seconds, deadline_hit=hit)
                if failure is not None:
                    state = await health.arecord_failure(
                        provider.id, failure.error_class, failure.detail
                    )
                    run.health_told(provider.id, state)
                    wait = run.after_failure(provider, failed, failure)
                    if wait:
                        await asyncio.sleep(wait)
                continue
            await health.arecord_success(provider.id)
            run.succeeded(provider, value, time.monotonic() - began, _status_of_value(value))
            return run.outcome(provider, value)
        raise run.exhausted() from run.last_exc
    except BaseException as exc:
        error = exc
        raise
    finally:
        run.end(error)  # an attempt cancelled or re-raised is no longer in flight
        _deadline.reset(token)


_ALONE = "fallback=False: no backup is tried"


ALONE: Plan = ([], [])
"""The plan of a call that tries no backup (``fallback=False``), told apart by identity from
a resolver's plan that happens to hold none."""


def _alone(fallback: bool) -> Plan | None:
    """The plan of a call that tries no backup (``fallback=False``); None: the resolver's."""
    return None if fallback else ALONE


def _not_sent(provider: Provider, run: _Run) -> ProviderError:
    return ProviderError(
        "local",
        f"never sent: waited in our own queue until the deadline of {run.budget:g}s passed",
        provider_id=provider.id,
    )


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _loop_time(deadline: float) -> float:
    """A ``time.monotonic`` deadline on the running loop's clock."""
    import asyncio

    loop = asyncio.get_running_loop()
    return loop.time() + (deadline - time.monotonic())
