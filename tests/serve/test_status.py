"""The gateway's status page and /status.json, over real HTTP against a gateway whose upstream
fails on purpose: health, fallbacks and counts as the gateway saw them; client keys (Bearer or
Basic, never in the URL); a CSP with nothing inline; and nothing a client sent or a key."""

from __future__ import annotations

import json
import time
from html.parser import HTMLParser
from typing import Any

import httpx
import openai
import pytest
from conftest import BACKUP, PRIMARY
from gateway_support import gateway_for, sdk, serving

from resolver.execute import Event
from resolver.serve.run import Setup
from resolver.serve.status import LAST_FALLBACKS, MINUTES, Board
from resolver.testing import ChatServer

CLIENT_KEY = "gw-status-key-8c2f41aa"
SECRET_PROMPT = "the-patients-name-is-Ada-Quartermain"
MESSAGES = [{"role": "user", "content": SECRET_PROMPT}]
PAGE_PATHS = ("/status", "/status.js", "/status.css", "/status.json")


@pytest.fixture
def root(roomy, keys):
    """A gateway asking for CLIENT_KEY; yields its root URL (no /v1)."""
    with serving(gateway_for(roomy, keys, keys=(CLIENT_KEY.encode(),))) as url:
        yield url.removesuffix("/v1")


def status(root: str) -> dict[str, Any]:
    response = httpx.get(root + "/status.json", headers={"authorization": f"Bearer {CLIENT_KEY}"})
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


def model(data: dict[str, Any], model_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(m for m in data["models"] if m["id"] == model_id)
    return found


def test_a_failing_primary_shows_out_with_every_fallback_and_counts(chat_server, roomy, root):
    """After five calls whose primary fails, /status.json shows the primary out of rotation,
    five fallbacks to the backup with their reasons, and counts equal to the calls made and
    to the requests each upstream received."""
    chat_server.set_fault(roomy.providers[PRIMARY].model, "server")
    client = sdk(root + "/v1", CLIENT_KEY)
    for _ in range(5):
        assert client.chat.completions.create(model=PRIMARY, messages=MESSAGES).model == BACKUP

    data = status(root)

    primary = model(data, PRIMARY)["health"]
    assert primary["status"] == "out"
    assert 0 < primary["out_for_s"] <= roomy.policy.health.cooldown_s
    assert primary["last_error"] == "server 500"
    assert model(data, BACKUP)["health"]["status"] == "in rotation"
    assert {"source": PRIMARY, "target": BACKUP} in [
        {"source": e["source"], "target": e["target"]} for e in data["edges"]
    ]
    assert [(f["requested"], f["served"]) for f in data["fallbacks"]] == [(PRIMARY, BACKUP)] * 5
    threshold = roomy.policy.health.failure_threshold
    failed, skipped = data["fallbacks"][-threshold:], data["fallbacks"][:-threshold]
    for f in failed:  # the oldest: the primary was called and answered 500
        assert f["reasons"] == [
            {"model": PRIMARY, "error": "server", "status": 500, "skipped": None}
        ]
    for f in skipped:  # then it was out: not called, and the reason says so
        (reason,) = f["reasons"]
        assert reason["model"] == PRIMARY
        assert reason["error"] is None
        assert reason["skipped"].startswith("out of rotation")
    upstream = {
        m: len(chat_server.requests_for(roomy.providers[m].model)) for m in (PRIMARY, BACKUP)
    }
    assert upstream == {PRIMARY: threshold, BACKUP: 5}
    assert data["totals"][PRIMARY] == {"calls": 5, "served": 0, "fallbacks": 5, "errors": 3}
    assert data["totals"][BACKUP] == {"calls": 0, "served": 5, "fallbacks": 0, "errors": 0}
    assert len(data["minutes"]) == MINUTES
    assert sum(m["models"].get(PRIMARY, {}).get("calls", 0) for m in data["minutes"]) == 5


def test_a_streamed_fallback_is_on_the_board_and_its_headers_still_count(chat_server, roomy, root):
    """A stream whose primary fails before content is listed as a fallback once it ends, and
    its x-fallback-attempts header still counts both attempts."""
    chat_server.set_fault(roomy.providers[PRIMARY].model, "server")
    client = sdk(root + "/v1", CLIENT_KEY)
    with client.chat.completions.with_streaming_response.create(
        model=PRIMARY, messages=MESSAGES, stream=True
    ) as response:
        assert response.headers["x-fallback-attempts"] == "2"
        list(response.parse())

    data = status(root)

    assert [(f["requested"], f["served"]) for f in data["fallbacks"]] == [(PRIMARY, BACKUP)]
    assert data["totals"][PRIMARY] == {"calls": 1, "served": 0, "fallbacks": 1, "errors": 1}


def test_a_call_served_by_its_primary_is_counted_without_a_fallback(chat_server, root):
    """A call its primary serves counts as a call and a serve of that model, and lists no
    fallback."""
    sdk(root + "/v1", CLIENT_KEY).chat.completions.create(model=PRIMARY, messages=MESSAGES)

    data = status(root)

    assert data["totals"] == {PRIMARY: {"calls": 1, "served": 1, "fallbacks": 0, "errors": 0}}
    assert data["fallbacks"] == []


@pytest.mark.parametrize("path", PAGE_PATHS)
def test_without_a_key_the_status_routes_answer_401_asking_for_basic(path, root):
    """Without a client key, with a wrong one, or with the key in the query string, every
    status route answers 401 with a Basic challenge, so a browser asks for it."""
    for auth, url in (
        (None, root + path),
        (("admin", "wrong-key"), root + path),
        (None, f"{root}{path}?key={CLIENT_KEY}"),
        (None, f"{root}{path}?api_key={CLIENT_KEY}&token={CLIENT_KEY}"),
    ):
        response = httpx.get(url, auth=auth)
        assert response.status_code == 401, (auth, url)
        assert response.headers["www-authenticate"] == 'Basic realm="fallback-resolver gateway"'
        assert CLIENT_KEY not in response.text


@pytest.mark.parametrize("path", PAGE_PATHS)
def test_the_key_opens_the_status_routes_as_bearer_or_basic_password(path, root):
    """The client key opens every status route as a Bearer token, or as the password of HTTP
    Basic with any user name."""
    bearer = httpx.get(root + path, headers={"authorization": f"Bearer {CLIENT_KEY}"})
    basic = httpx.get(root + path, auth=("operator", CLIENT_KEY))

    assert (bearer.status_code, basic.status_code) == (200, 200)
    assert bearer.content == basic.content or path == "/status.json"


def test_without_client_keys_the_status_page_is_open(chat_server, roomy, keys):
    """A gateway without client keys (loopback only) serves the status page to anyone, as it
    serves completions."""
    with serving(gateway_for(roomy, keys)) as url:
        response = httpx.get(url.removesuffix("/v1") + "/status.json")

    assert response.status_code == 200
    assert response.json()["env"] == roomy.env


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text += data


def test_the_page_has_a_strict_csp_and_nothing_inline(root):
    """The page comes with a CSP allowing scripts and styles only from the gateway, nosniff and
    no-store, and its HTML holds no inline script, no style element and no style attribute."""
    response = httpx.get(root + "/status", auth=("operator", CLIENT_KEY))
    csp = response.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}

    assert response.headers["content-type"].startswith("text/html")
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    parsed = _Tags()
    parsed.feed(response.text)
    scripts = [attrs for tag, attrs in parsed.tags if tag == "script"]
    assert scripts == [{"src": "status.js", "defer": None}]
    assert parsed.script_text.strip() == ""
    assert [tag for tag, _ in parsed.tags if tag == "style"] == []
    assert [tag for tag, attrs in parsed.tags if "style" in attrs] == []
    for path, kind in (("/status.js", "text/javascript"), ("/status.css", "text/css")):
        asset = httpx.get(root + path, auth=("operator", CLIENT_KEY))
        assert asset.headers["content-type"].startswith(kind)
        assert asset.headers["content-security-policy"] == csp


def test_no_key_and_no_message_reaches_the_status(chat_server, roomy, root):
    """After calls whose upstream quotes the key back and whose prompt is private, neither the
    client key, a vendor key nor the prompt appears in /status.json or the page's files."""
    chat_server.set_fault(roomy.providers[PRIMARY].model, "echo_key")
    client = sdk(root + "/v1", CLIENT_KEY)
    client.chat.completions.create(model=PRIMARY, messages=MESSAGES)
    with pytest.raises(openai.NotFoundError):  # a model the client made up is not a label
        client.chat.completions.create(model=SECRET_PROMPT, messages=MESSAGES)

    data = status(root)
    texts = [json.dumps(data)]
    texts += [httpx.get(root + p, auth=("u", CLIENT_KEY)).text for p in PAGE_PATHS[:3]]

    assert data["fallbacks"][0]["reasons"][0]["error"] == "auth"  # the call did fall back
    vendor_keys = ChatServer.environ().values()
    for text in texts:
        assert CLIENT_KEY not in text
        assert SECRET_PROMPT not in text
        assert not [k for k in vendor_keys if k in text]


def test_the_status_shows_the_last_reload_and_where_the_config_comes_from(chat_server, tmp_path):
    """/status.json names the env, config dirs and override keys (never their values) the
    gateway composes from, and the last reload: refused with its problems, then ok."""
    deploy = tmp_path / "deploy"
    (deploy / "fallbacks").mkdir(parents=True)
    edges = deploy / "fallbacks" / "seed.yaml"
    good = f"{PRIMARY}: [{BACKUP}]\n"
    edges.write_text(good, encoding="utf-8")
    overrides = (*chat_server.overrides(), "policy.retries=0")
    setup = Setup(env="prod", overrides=overrides, config_dirs=(str(deploy),), watch=True)
    with serving(setup.gateway(), watch=setup.watched(), interval=0.05) as url:
        root = url.removesuffix("/v1")
        before = httpx.get(root + "/status.json").json()
        edges.write_text(f"{PRIMARY}: [no-such-model]\n", encoding="utf-8")
        refused = wait_for_reload(root, ok=False)
        edges.write_text(good, encoding="utf-8")
        accepted = wait_for_reload(root, ok=True)

    assert before["reload"] is None
    assert before["origin"] == {
        "env": "prod",
        "config_dirs": [str(deploy)],
        "config_path": None,
        "overrides": [
            "providers.synthetic.base_url",
            "providers.together.base_url",
            "policy.retries",
        ],
        "watch": True,
    }
    assert chat_server.base_url not in json.dumps(before)
    assert "no-such-model" in refused["problems"]
    assert accepted["problems"] is None
    assert accepted["at"] >= refused["at"]


def wait_for_reload(root: str, *, ok: bool) -> dict[str, Any]:
    """The last reload's result, once it is ``ok`` (or refused)."""
    give_up = time.monotonic() + 10
    while True:
        reload: dict[str, Any] | None = httpx.get(root + "/status.json").json()["reload"]
        if reload is not None and reload["ok"] is ok:
            return reload
        assert time.monotonic() < give_up, "no reload seen"
        time.sleep(0.05)


def test_the_board_keeps_fixed_sizes_whatever_the_traffic(roomy):
    """However many calls and minutes go by, the board keeps the last 50 fallbacks and 15
    minutes of counts."""
    now = [1_000_000.0]
    board = Board(clock=lambda: now[0])
    for n in range(3 * LAST_FALLBACKS):
        now[0] += 13.0  # about 4.6 calls a minute, for some 32 minutes
        listener = board.listener(roomy)
        listener(Event("attempt", PRIMARY, PRIMARY, "server", 500))
        listener(Event("fallback", PRIMARY, PRIMARY, "server", 500, target_id=BACKUP))
        listener(Event("attempt", PRIMARY, BACKUP, None, 200, message=f"call {n}"))

    assert len(board.fallbacks) == LAST_FALLBACKS
    assert len(board.minutes) == MINUTES
    assert board.minutes[-1][0] == int(now[0] // 60)
    assert board.fallbacks[-1].at == now[0]
