"""Caller scopes: a key limited to some models is never served by another, whatever error its
call is made to fail with (LiteLLM PR #39998's route: force a context-window error, be served by
the backup with its credentials); the skip is named in the headers, error.attempts and the span."""

from __future__ import annotations

import textwrap

import httpx
import openai
import pytest
from conftest import BACKUP, MESSAGES, PRIMARY
from gateway_support import sdk, serving

import resolver
from resolver.serve import Gateway
from resolver.serve.clients import callers_from
from resolver.testing import ChatServer, make_resolver

NARROW, WIDE = "narrow-key-0123456789", "wide-key-0123456789"
FILE = f"""
clients:
  narrow:
    key: {NARROW}
    models: [{PRIMARY}]
  wide:
    key: {WIDE}
"""
# A fault of the fake vendor that makes the call fail with each class an edge is taken on.
FAULT_OF = {
    "rate_limit": "rate_limit",
    "server": "server",
    "timeout": "slow",
    "connection": "drop",
    "context_window": "context_window",
    "content_policy": "content_policy",
    "auth": "auth",
    "not_found": "not_found",
    "bad_response": "malformed",
}


@pytest.fixture
def scoped(chat_server, tmp_path):
    """A gateway whose keys file gives a narrow client (the primary only) and a wide one."""
    path = tmp_path / "clients.yaml"
    path.write_text(FILE, encoding="utf-8")
    environ = {"RESOLVER_GATEWAY_KEYS_FILE": str(path)}

    def load() -> resolver.Resolver:
        return make_resolver(
            env="prod",
            overrides=[*chat_server.overrides(), f"++models={{{PRIMARY}: {{timeout_s: 0.3}}}}"],
        )

    gateway = Gateway(load, callers=lambda r: callers_from(environ, r),
                      environ=ChatServer.environ())  # fmt: skip
    with serving(gateway) as url:
        yield gateway, url, path


def clients_gateway(r: resolver.Resolver, tmp_path, clients: str) -> Gateway:
    """A gateway serving ``r`` to the clients of a keys file holding ``clients`` (YAML)."""
    path = tmp_path / "clients.yaml"
    path.write_text(f"clients:\n{textwrap.indent(textwrap.dedent(clients), '  ')}", "utf-8")
    environ = {"RESOLVER_GATEWAY_KEYS_FILE": str(path)}
    return Gateway(lambda: r, callers=lambda r: callers_from(environ, r),
                   environ=ChatServer.environ())  # fmt: skip


def test_every_error_class_with_an_edge_has_a_fault_here(scoped):
    """The classes the policy falls back on are all tried below (a new one fails this)."""
    gateway, _, _ = scoped
    assert set(gateway.resolver.policy.fallback_on) == set(FAULT_OF)


@pytest.mark.parametrize("error_class", sorted(FAULT_OF))
def test_a_scoped_key_is_never_served_outside_its_models(scoped, chat_server, error_class):
    """Whatever class the primary fails with, the narrow key's call does not reach the backup:
    the answer is an error whose attempts name the backup as skipped for scope, and the
    upstream never saw a request for it; the wide key's same call is served by the backup."""
    gateway, url, _ = scoped
    backup_model = gateway.resolver.providers[BACKUP].model
    chat_server.set_fault(gateway.resolver.providers[PRIMARY].model, FAULT_OF[error_class],
                          delay_s=2)  # fmt: skip
    answer = httpx.post(
        f"{url}/chat/completions",
        json={"model": PRIMARY, "messages": MESSAGES},
        headers={"authorization": f"Bearer {NARROW}"},
        timeout=10,
    )
    assert answer.status_code >= 400
    attempts = answer.json()["error"]["attempts"]
    assert [a["provider_id"] for a in attempts] == [PRIMARY, BACKUP]
    assert attempts[0]["error_class"] == error_class
    assert attempts[1]["skipped"] == "scope"
    assert "narrow" in attempts[1]["message"]
    assert chat_server.requests_for(backup_model) == []
    served = sdk(url, WIDE).chat.completions.with_raw_response.create(
        model=PRIMARY, messages=MESSAGES
    )
    assert served.headers["x-fallback-served-by"] == BACKUP


def test_a_scoped_key_cannot_ask_for_a_model_outside_it(scoped):
    """Asking for a model outside the key's models is a 403 naming the client; /v1/models
    lists only what the key may call."""
    _, url, _ = scoped
    with pytest.raises(openai.PermissionDeniedError, match="narrow"):
        sdk(url, NARROW).chat.completions.create(model=BACKUP, messages=MESSAGES)
    listed = [m.id for m in sdk(url, NARROW).models.list()]
    assert listed == [PRIMARY]
    assert BACKUP in [m.id for m in sdk(url, WIDE).models.list()]


@pytest.mark.parametrize("stream", [False, True])
def test_a_skip_for_scope_is_named_in_the_headers_of_a_served_call(chat_server, tmp_path, stream):
    """A client whose models hold the primary and a later backup, but not the first one: its
    call, streamed or not, is served by the later backup, and x-fallback-skipped names the
    first as scope."""
    edges = f"++fallbacks={{{PRIMARY}: [{BACKUP}, kimi-k2-instruct]}}"
    r = make_resolver(env="prod", overrides=[*chat_server.overrides(), edges])
    chat_server.set_fault(r.providers[PRIMARY].model, "server")
    gateway = clients_gateway(r, tmp_path, f"""
        some:
          key: {NARROW}
          models: [{PRIMARY}, kimi-k2-instruct]
    """)  # fmt: skip
    with serving(gateway) as url:
        raw = sdk(url, NARROW).chat.completions.with_raw_response.create(
            model=PRIMARY, messages=MESSAGES, stream=stream
        )
        if stream:
            assert {chunk.model for chunk in raw.parse()} == {"kimi-k2-instruct"}
    assert raw.headers["x-fallback-served-by"] == "kimi-k2-instruct"
    assert raw.headers["x-fallback-skipped"] == f"{BACKUP}=scope"


def test_a_bad_keys_file_is_refused_on_reload_and_the_last_good_one_serves(scoped):
    """Rewriting the keys file with an unknown model and reloading is refused with the entry
    named (and no key in the message); the old clients keep working."""
    gateway, url, path = scoped
    import asyncio

    path.write_text(FILE.replace(f"models: [{PRIMARY}]", "models: [deepseek-r9]"))
    assert asyncio.run(gateway.reload()) is False
    assert gateway.problems is not None
    assert "clients.narrow.models[0]" in gateway.problems
    assert NARROW not in gateway.problems
    assert sdk(url, NARROW).chat.completions.create(model=PRIMARY, messages=MESSAGES)


def test_a_clients_budget_sends_its_calls_elsewhere_once_spent(chat_server, tmp_path):
    """A client's own budget counts its calls only: once spent, its calls of a model go to a
    backup within its scope, while another client's calls of the same model still go there."""
    r = make_resolver(env="prod", overrides=chat_server.overrides())
    gateway = clients_gateway(r, tmp_path, f"""
        thrifty:
          key: {NARROW}
          budget: {{amount: 0.00001, window: day}}
        other:
          key: {WIDE}
    """)  # fmt: skip
    with serving(gateway) as url:
        with pytest.raises(openai.RateLimitError, match="client thrifty"):
            sdk(url, NARROW).chat.completions.create(model=BACKUP, messages=MESSAGES)
        assert sdk(url, WIDE).chat.completions.create(model=BACKUP, messages=MESSAGES)


@pytest.mark.parametrize(
    ("entry", "where"),
    [
        ('k: {key: "   "}', "clients.k.key"),
        ('k: {key: " spaced-key-0123 "}', "clients.k.key"),
        ("k: {key: 12345678}", "clients.k.key"),
        ("k: {models: [deepseek-r1]}", "clients.k.key"),
        ("k: {key: some-key-0123, models: []}", "clients.k.models"),
        ("k: {key: some-key-0123, model: [deepseek-r1]}", "clients.k.model"),
        ("k: {key: some-key-0123, models: [deepseek-r9]}", "clients.k.models[0]"),
        ("k: {key: some-key-0123, budget: {amount: -1, window: day}}", "clients.k.budget.amount"),
        ("k: {key: some-key-0123, budget: {amount: 1, window: week}}", "clients.k.budget.window"),
        (f"k: {{key: some-key-0123, models: [{PRIMARY}], chains: {{{PRIMARY}: [{BACKUP}]}}}}",
         f"clients.k.chains.{PRIMARY}[0]"),
    ],
)  # fmt: skip
def test_a_bad_client_entry_is_refused_naming_its_key_path(tmp_path, entry, where):
    """Each kind of bad entry in the keys file is refused before serving, naming the file and
    the entry's key path, and never echoing a key."""
    path = tmp_path / "clients.yaml"
    path.write_text(f"clients:\n  {entry}\n  ok: {{key: {NARROW}}}\n", encoding="utf-8")
    with pytest.raises(resolver.ResolverError) as caught:
        callers_from({"RESOLVER_GATEWAY_KEYS_FILE": str(path)}, resolver.load("prod"))
    message = str(caught.value)
    assert str(path) in message
    assert where in message
    for key in (NARROW, "some-key-0123", "12345678"):
        assert key not in message


def test_two_clients_with_one_key_are_refused(tmp_path):
    """Two entries with the same key are refused: a call could not say which client it is."""
    path = tmp_path / "clients.yaml"
    path.write_text(f"clients:\n  a: {{key: {NARROW}}}\n  b: {{key: {NARROW}}}\n")
    with pytest.raises(resolver.ResolverError, match="'a' and 'b' have the same key"):
        callers_from({"RESOLVER_GATEWAY_KEYS_FILE": str(path)}, resolver.load("prod"))


@pytest.mark.parametrize("stream", [False, True])
def test_a_clients_own_chain_serves_a_model_the_config_gives_no_backup(
    chat_server, tmp_path, stream
):
    """A client's own chain for a model without backups in the config is used, streaming or
    not: its call falls back to the client's backup, and a wide key's call does not."""
    lone = "kimi-k2-instruct"
    path = tmp_path / "clients.yaml"
    path.write_text(textwrap.dedent(f"""
        clients:
          own:
            key: {NARROW}
            chains: {{{lone}: [{BACKUP}]}}
          wide:
            key: {WIDE}
    """), encoding="utf-8")  # fmt: skip
    r = make_resolver(env="prod", overrides=chat_server.overrides())
    assert not r.fallbacks.get(lone)
    chat_server.set_fault(r.providers[lone].model, "server")
    environ = {"RESOLVER_GATEWAY_KEYS_FILE": str(path)}
    gateway = Gateway(lambda: r, callers=lambda r: callers_from(environ, r),
                      environ=ChatServer.environ())  # fmt: skip
    with serving(gateway) as url:
        raw = sdk(url, NARROW).chat.completions.with_raw_response.create(
            model=lone, messages=MESSAGES, stream=stream
        )
        if stream:
            list(raw.parse())
        assert raw.headers["x-fallback-served-by"] == BACKUP
        with pytest.raises(openai.APIStatusError):
            sdk(url, WIDE).chat.completions.create(model=lone, messages=MESSAGES)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("clients:\n  a: {key: k-0123456789\n", "not valid YAML"),
        ("clients:\n  a: {key: !!binary aGVsbG8=}\n", "!! tag"),
        ("x: &a [1, 2]\ny: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
         "z: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
         "w: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
         "v: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
         "u: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\nclients: {}\n", "alias"),
        ("clients: " + "[" * 40 + "]" * 40 + "\n", "levels"),
    ],
)  # fmt: skip
def test_a_keys_file_that_is_not_sound_yaml_is_refused_like_a_config_file(tmp_path, text, said):
    """A keys file in YAML goes through the config files' rules (malformed YAML, !! tags,
    alias bombs, nesting): refused naming the file, never a traceback or a hang."""
    path = tmp_path / "clients.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(resolver.ResolverError) as caught:
        callers_from({"RESOLVER_GATEWAY_KEYS_FILE": str(path)}, resolver.load("prod"))
    assert str(path) in str(caught.value)
    assert said in str(caught.value)


def test_a_clients_budget_is_on_metrics_and_status(chat_server, tmp_path):
    """A client's own budget shows on /metrics and /status.json beside the config's: its spend
    is the upstream's usage of that client's calls at the catalog's prices, and another
    client's calls of the same model are not counted in it."""
    r = make_resolver(env="prod", overrides=chat_server.overrides())
    gateway = clients_gateway(r, tmp_path, f"""
        metered:
          key: {NARROW}
          budget: {{amount: 2, window: hour}}
        other:
          key: {WIDE}
    """)  # fmt: skip
    prices = r.providers[BACKUP].pricing
    with serving(gateway) as url:
        spent = 0.0
        for _ in range(3):
            answer = sdk(url, NARROW).chat.completions.create(model=BACKUP, messages=MESSAGES)
            assert answer.usage is not None
            spent += prices.cost(answer.usage.prompt_tokens, answer.usage.completion_tokens)
        sdk(url, WIDE).chat.completions.create(model=BACKUP, messages=MESSAGES)
        root = url.removesuffix("/v1")
        metrics = httpx.get(root + "/metrics", headers={"authorization": f"Bearer {WIDE}"}).text
        status = httpx.get(root + "/status.json", headers={"authorization": f"Bearer {WIDE}"})
    assert spent > 0
    [entry] = [b for b in status.json()["budgets"] if b["id"] == "client:metered"]
    assert entry["scope"] == "client"
    assert entry["target"] == "metered"
    assert entry["amount"] == 2.0
    assert entry["spent"] == pytest.approx(spent, abs=1e-6)
    assert entry["reserved"] == 0.0
    assert entry["left"] == pytest.approx(2.0 - spent, abs=1e-6)
    [line] = [
        line
        for line in metrics.splitlines()
        if line.startswith('llm_budget_spent_usd{budget="client:metered",window="hour"}')
    ]
    assert float(line.split()[-1]) == pytest.approx(spent, abs=1e-6)
