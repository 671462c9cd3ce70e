"""The data model: providers, edge policies and the global policy, as plain frozen objects.

Everything after composition works on these; none of them knows about Hydra or OmegaConf.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args
from urllib.parse import urlsplit

ErrorClass = Literal[
    "rate_limit",
    "server",
    "timeout",
    "connection",
    "context_window",
    "content_policy",
    "auth",
    "not_found",
    "bad_request",
    "bad_response",
    # Never sent: the call waited in our own queue (max_concurrency, the connection pool) until
    # the deadline passed. Says nothing about the provider, so it never counts against health.
    "local",
    # Never sent: the deployment was at its own rpm/tpm limit, so the call moved on. Never
    # counts against health either.
    "limited",
    # Never sent: a budget covering the deployment had no room for the call (budgets:).
    # Never counts against health.
    "budget",
]
ERROR_CLASSES: tuple[ErrorClass, ...] = get_args(ErrorClass)
CostAction = Literal["warn", "skip"]
HealthStoreKind = Literal["memory", "redis"]
BudgetWindow = Literal["minute", "hour", "day", "30d"]
BudgetScope = Literal["model", "group", "vendor", "env", "client"]
StoreDown = Literal["fail_open", "fail_closed"]
MidStream = Literal["raise", "continue"]
MID_STREAM: tuple[MidStream, ...] = get_args(MidStream)
HEALTH_STORES: tuple[HealthStoreKind, ...] = get_args(HealthStoreKind)
BUDGET_WINDOWS: dict[BudgetWindow, int] = {
    "minute": 60,
    "hour": 3600,
    "day": 86_400,
    "30d": 30 * 86_400,
}
"""Each budget window in seconds: spend is summed over the last window, in 30 slices."""
BUDGET_SCOPES: tuple[BudgetScope, ...] = ("model", "group", "vendor", "env")
"""The scopes of the config's ``budgets:``; a ``client`` budget comes with a gateway client's
key entry and counts the calls made for that client."""
STORE_DOWN: tuple[StoreDown, ...] = get_args(StoreDown)

# user:password@ (or :password@) in any URL inside a text (an override line, an error), its
# scheme written or not.
# Greedy up to the last @ of the authority, so that an unencoded @ in a password is masked too.
_URL_SECRET = re.compile(r"(?P<head>(?:[a-zA-Z][a-zA-Z0-9+.-]*)?://[^:/@\s'\"]*):[^\s/?#'\"]*@")


# A query parameter named like a credential (password=, token=, api-key=, sig=...), in any URL.
_QUERY_SECRET = re.compile(
    r"(?P<head>[?&;][^=&;#\s'\"]*(?:pass|pwd|token|secret|key|auth|cred|sig)[^=&;#\s'\"]*=)"
    r"[^&;#\s'\"]+",
    re.IGNORECASE,
)


def mask_url(text: str) -> str:
    """``text`` with the password of every URL in it, and every query value named like a
    credential (``?password=``, ``&api-key=``), replaced by ``***``.

    The one place credentials are masked, so that every output (``show``, errors, logs, reprs)
    masks them the same way.
    """
    if "@" in text:
        text = _URL_SECRET.sub(r"\g<head>:***@", text)
    if "=" in text:
        text = _QUERY_SECRET.sub(r"\g<head>***", text)
    return text


# Tokens shaped like API keys: a vendor prefix (sk-..., gsk_..., hf_..., AKIA...), or 20 or more
# letters and digits, digits included, without an underscore (hex keys), which no variable name
# looks like. A key pasted where a variable name belongs must not be repeated by any output.
_KEY_TOKEN = re.compile(
    r"\b(?:(?P<prefix>(?:sk|pk|rk|gsk|xai|hf|ghp|gho|ghs|github_pat|glpat|nvapi|r8)[-_]|AKIA|AIza)"
    r"[A-Za-z0-9][A-Za-z0-9_-]{7,}|(?=[A-Za-z]*[0-9])[A-Za-z0-9]{20,})\b"
)


def looks_like_secret(text: str) -> bool:
    """Whether ``text`` looks like an API key rather than a name: key-shaped (see above), or a
    long mix of lower case, upper case and digits as random keys are."""
    if _KEY_TOKEN.search(text):
        return True
    mixed = any(c.islower() for c in text) and any(c.isupper() for c in text)
    return len(text) >= 20 and mixed and any(c.isdigit() for c in text)


def _masked_token(match: re.Match[str]) -> str:
    return (match["prefix"] or match[0][:3]) + "***"


def mask_keylike(text: str) -> str:
    """``text`` with URL passwords and API-key-shaped tokens masked (``sk-***``)."""
    return _KEY_TOKEN.sub(_masked_token, mask_url(text))


# Where the shipped policy/default.yaml reads the shared health store's URL from; a compiled
# snapshot records no URL and reads the same variable when it is loaded.
REDIS_URL_ENV = "RESOLVER_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class SecretURL:
    """A URL that may carry a password: ``str()`` and ``repr()`` mask it; :meth:`reveal` is for
    the one client that connects with it. Not a dataclass, so ``asdict`` copies it whole instead
    of exposing its text."""

    __slots__ = ("_url",)

    def __init__(self, url: str) -> None:
        self._url = url

    def reveal(self) -> str:
        return self._url

    @property
    def scheme(self) -> str:
        return urlsplit(self._url).scheme

    def __str__(self) -> str:
        return mask_url(self._url)

    def __repr__(self) -> str:
        return f"SecretURL({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretURL) and other._url == self._url

    def __hash__(self) -> int:
        return hash(self._url)


@dataclass(frozen=True, slots=True)
class Pricing:
    """USD per one million tokens."""

    prompt: float
    completion: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Estimated USD cost of one call of that size."""
        return (prompt_tokens * self.prompt + completion_tokens * self.completion) / 1_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Provider:
    """One callable model on one vendor.

    Only the *name* of the API key's environment variable is stored (``api_key_env``), never
    a key; ``None`` means the endpoint needs no key (a local server).
    """

    id: str
    vendor: str
    model: str
    display_name: str
    base_url: str
    api_key_env: str | None
    tier: str
    pricing: Pricing
    reasoning: bool = False
    enabled: bool = True
    disabled_reason: str | None = None
    context_window: int | None = None
    timeout_s: float = 60.0
    max_concurrency: int | None = None
    """Calls in flight to this model at once; more wait in a FIFO queue (None: no cap)."""
    vendor_max_concurrency: int | None = None
    """The vendor's ``max_concurrency``: calls in flight to all of its models together."""
    first_token_timeout_s: float = 30.0
    """Streams: the longest wait for the first token, and then for each next chunk; past it
    the stream has stalled (a failure that falls back while no content has been sent)."""
    rpm: int | None = None
    """Requests a minute this deployment may be sent (None: no limit); a call finding it at
    its limit passes it over, and its health is not charged."""
    tpm: int | None = None
    """Tokens a minute (prompt and completion, as responses report them); None: no limit."""
    max_tokens: int | None = None
    """Sent as ``max_tokens`` by the built-in client when a call gives neither it nor
    ``max_completion_tokens`` (LiteLLM's per-deployment ``max_tokens``)."""
    retries: int | None = None
    """Same-deployment retries for this deployment, instead of ``policy.retries``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Vendor:
    """One entry of the vendor registry: where a LiteLLM provider prefix (``groq`` in
    ``groq/llama3-70b-8192``) serves its OpenAI-compatible API, and what that API cannot do."""

    prefix: str
    base_url: str | None
    """The OpenAI-compatible base (without ``/chat/completions``); None when each deployment
    must give its own."""
    api_key_env: str | None
    api_base_path: str = ""
    """Appended to a deployment's own base URL (Ollama serves its OpenAI API under ``/v1``)."""
    cannot: tuple[str, ...] = ()
    refused: str | None = None
    """Why this prefix cannot be called as an OpenAI-compatible endpoint (another protocol,
    request signing); None when it can."""
    docs: str | None = None


Strategy = Literal["ordered", "weighted", "least-busy", "latency"]
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """One deployment (a provider id) of a group, with what its group's strategy reads."""

    id: str
    weight: float = 1.0
    """``weighted``: the member's share of calls, against its group's total."""
    order: int | None = None
    """Priority tier, lower first, in every strategy: members of a later tier are taken only
    when every member of the earlier ones is out. None: after every numbered tier."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """A logical model id served by one or more deployments, picked by ``strategy``:
    ``ordered`` (tier, then declaration order), ``weighted`` (shares by ``weight``),
    ``least-busy`` (fewest calls in flight) or ``latency`` (lowest moving average of its
    latency, or time to first token for streams). A provider in no group is a group of one."""

    id: str
    members: tuple[Member, ...]
    strategy: Strategy = "ordered"


def is_downgrade(source: Provider, target: Provider) -> bool:
    """Whether falling back from ``source`` to ``target`` loses reasoning."""
    return source.reasoning and not target.reasoning


# The warnings about a source's edges that its edge policy may accept, each with a reason.
ACCEPTABLE = (
    "downgrade",
    "inert-edge",
    "cost-over-cap",
    "edge-into-disabled",
    "unreachable",
    "beyond-depth",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Acceptance:
    """A known warning about a source's edges, kept on purpose: validation no longer reports
    it (strict validation passes), and ``explain`` shows it with its reason."""

    warning: str
    reason: str
    backup: str | None = None
    """The one backup it is about; None: any backup of the source."""

    def __str__(self) -> str:
        on = f" on {self.backup}" if self.backup else ""
        return f"accepted {self.warning}{on}: {self.reason}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Trigger:
    """The error classes that may move a call along one edge, to one backup."""

    backup: str
    on: tuple[ErrorClass, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class EdgePolicy:
    """Per-source refinements of the global policy for that source's backups."""

    fallback_on: tuple[ErrorClass, ...] | None = None
    max_cost_ratio: float | None = None
    note: str | None = None
    mid_stream: MidStream = "raise"
    """When this source's stream breaks after content was sent: ``raise`` StreamInterrupted, or
    ``continue`` on the next backup with the partial answer as an assistant prefix."""
    accept: tuple[Acceptance, ...] = ()
    backup_on: tuple[Trigger, ...] = ()
    """Per-edge triggers: a backup listed here is taken only after a failure of one of its
    classes (LiteLLM's ``context_window_fallbacks`` are edges taken on ``context_window``
    only); a backup not listed is taken on any class that falls back."""

    def trigger(self, backup: str) -> tuple[ErrorClass, ...] | None:
        """The classes that move a call to ``backup`` along this source's edge (None: any)."""
        for trigger in self.backup_on:
            if trigger.backup == backup:
                return trigger.on
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class CostPolicy:
    """How backups are compared on price: a reference call and a cap on the ratio."""

    prompt_tokens: int = 500
    completion_tokens: int = 50
    max_ratio: float = 2.0
    action: CostAction = "warn"

    def estimate(self, provider: Provider) -> float:
        return provider.pricing.cost(self.prompt_tokens, self.completion_tokens)

    def ratio(self, source: Provider, target: Provider) -> float:
        """Cost of ``target`` over ``source`` on the reference call (inf if source is free)."""
        base = self.estimate(source)
        cost = self.estimate(target)
        if base == 0:
            return 1.0 if cost == 0 else float("inf")
        return cost / base


RETRYABLE: tuple[ErrorClass, ...] = ("rate_limit", "server", "timeout", "connection")
# Failures that say something about the provider, not about the request: a bad request, an
# over-long prompt or a refused prompt would fail on any provider; a model missing at one
# vendor (not_found) is the route's fault.
HEALTH_COUNTS: tuple[ErrorClass, ...] = (*RETRYABLE, "auth", "not_found", "bad_response")


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthPolicy:
    """When a provider leaves rotation and how it comes back (see :mod:`resolver.health`)."""

    enabled: bool = True
    failure_threshold: int = 3
    cooldown_s: float = 60.0
    max_cooldown_s: float = 600.0
    backoff: float = 2.0
    counts: tuple[ErrorClass, ...] = HEALTH_COUNTS
    store: HealthStoreKind = "memory"
    """``memory``: each process keeps its own; ``redis``: shared by every process on ``url``."""
    url: SecretURL | None = None
    namespace: str | None = None
    """Keys are ``resolver:health:<namespace>:<provider id>``; None: the env's name."""
    timeout_s: float = 0.2
    """Socket timeout of the shared store: past it, health is kept in-process for a while."""
    retry_s: float = 5.0
    """How long after a shared-store error health stays in-process before Redis is tried again."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """At most ``amount`` USD over the last ``window`` on what ``scope`` names: one model (a
    deployment's id), a group's deployments, a vendor's, or (``env``) every call of the env."""

    id: str
    amount: float
    window: BudgetWindow
    scope: BudgetScope
    target: str | None = None
    """The model id, group id or vendor name (None for ``env``)."""

    def covers(self, provider: Provider, groups: Mapping[str, Group]) -> bool:
        if self.scope == "client":  # counts the client's calls, wherever they go
            return False
        if self.scope == "env":
            return True
        if self.scope == "vendor":
            return provider.vendor == self.target
        if self.scope == "group":
            group = groups.get(self.target or "")
            return group is not None and any(m.id == provider.id for m in group.members)
        return provider.id == self.target

    def describe(self) -> str:
        what = "every call" if self.scope == "env" else f"{self.scope} {self.target}"
        return f"{self.id} ({what}: {self.amount:g} USD per {self.window})"


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetPolicy:
    """How budgets are kept and estimated (``policy.budget``)."""

    on_store_down: StoreDown = "fail_open"
    """When the shared store (Redis) does not answer: ``fail_open`` counts in this process and
    logs it; ``fail_closed`` refuses the calls a budget covers."""
    completion_tokens: int = 4096
    """A call's completion estimate when neither its ``max_tokens`` nor the model's is set."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """How far and how long a failing call is carried through its backups.

    ``max_attempts`` counts every call of one request, same-model retries included.
    ``retries`` extra calls are made on the same provider (for the ``retry_on`` classes) before
    moving to a backup, waiting ``retry_backoff_s * 2**n`` or the vendor's Retry-After, never
    more than ``retry_max_wait_s`` (a longer Retry-After moves on to the backup instead).
    """

    max_depth: int = 2
    max_attempts: int = 3
    deadline_s: float | None = None
    fallback_on: tuple[ErrorClass, ...] = tuple(c for c in ERROR_CLASSES if c != "bad_request")
    retries: int = 0
    retry_on: tuple[ErrorClass, ...] = RETRYABLE
    retry_backoff_s: float = 0.5
    retry_max_wait_s: float = 10.0
    cost: CostPolicy = field(default_factory=CostPolicy)
    health: HealthPolicy = field(default_factory=HealthPolicy)
    budget: BudgetPolicy = field(default_factory=BudgetPolicy)
