"""`python -m resolver.testing`: a fake vendor in its own process, faulted per model from the
command line, called with the official openai SDK."""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
from pathlib import Path

import openai
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from process_support import free_port, refused, running

from resolver.fake_vendor import parse_fault
from resolver.testing import FAULTS, STREAM_FAULTS, ChatServer

MESSAGES = [{"role": "user", "content": "hi"}]
FAULTED = {
    "hf:org/limited": ("rate_limit:retry_after=3", openai.RateLimitError),
    "org/broken": ("server", openai.InternalServerError),
    "org/gone": ("not_found", openai.NotFoundError),
    "org/locked": ("auth", openai.AuthenticationError),
}


def vendor(port: int, *specs: str) -> list[str]:
    return ["-m", "resolver.testing", "--port", str(port), *(f"--fault={s}" for s in specs)]


def test_faulted_models_raise_the_sdks_own_errors_and_other_models_answer(tmp_path: Path) -> None:
    """Each model given a --fault makes the openai SDK raise the error class a real vendor's
    answer would, while every other model answers."""
    port = free_port()
    specs = [f"{model}={fault}" for model, (fault, _) in FAULTED.items()]
    with running(vendor(port, *specs), tmp_path, "fault org/locked") as fake:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
        for model, (_, error) in FAULTED.items():
            with pytest.raises(error) as raised:
                client.chat.completions.create(model=model, messages=MESSAGES)
            if error is openai.RateLimitError:
                assert raised.value.response.headers["retry-after"] == "3"
        answer = client.chat.completions.create(model="org/fine", messages=MESSAGES)
        assert fake.stop() == 0  # its last requests are logged as it stops

    assert answer.choices[0].message.content == "ok from org/fine"
    lines = fake.stdout.splitlines()
    assert lines[0] == f"fake vendor on http://127.0.0.1:{port}/v1 (Ctrl+C stops it)"
    assert lines[1:] == [f"fault {spec}" for spec in specs]
    assert "model='org/broken': server" in fake.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_it_with_exit_0_and_frees_the_port(
    tmp_path: Path, signum: int
) -> None:
    """Ctrl+C (or SIGTERM) stops the fake vendor with exit status 0, no traceback, and its port
    free again."""
    port = free_port()
    with running(vendor(port), tmp_path, "Ctrl+C stops it") as fake:
        assert not refused(port)
        assert fake.stop(signum) == 0

    assert refused(port)
    assert "Traceback" not in fake.stderr
    assert "no faults" in fake.stdout


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["org/m=sever"], "'org/m=sever': unknown fault kind 'sever'; did you mean 'server'?"),
        (
            ["org/m=slow:delay=2"],
            "'org/m=slow:delay=2': unknown option 'delay'; did you mean 'delay_s'?",
        ),
        (["org/m"], "'org/m': expected MODEL=KIND or MODEL=KIND:OPTION=VALUE"),
        (
            ["org/m=server:retry_after=1"],
            "'org/m=server:retry_after=1': retry_after means nothing for server",
        ),
        (
            ["org/m=slow:delay_s=soon"],
            "'org/m=slow:delay_s=soon': delay_s='soon': give seconds, 0 or more",
        ),
        (["org/m=server", "org/m=slow"], "'org/m' is given twice; one fault per model"),
    ],
)
def test_bad_faults_exit_2_with_one_message_naming_them(specs: list[str], message: str) -> None:
    """A misspelt, malformed or contradictory --fault exits 2 with one message that names the
    argument and how to fix it, and no traceback."""
    done = subprocess.run(
        [sys.executable, *vendor(0, *specs)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert f"error: argument --fault: {message}" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_port_in_use_exits_2_saying_to_pick_another() -> None:
    """A --port another process listens on exits 2 with one message saying to pick another."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, *vendor(port)], capture_output=True, text=True, timeout=30
        )
    assert done.returncode == 2
    assert f"argument --port: cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "pick another --port" in done.stderr
    assert "Traceback" not in done.stderr


_NUMBERS = {
    "times": st.integers(1, 10**6),
    "rate": st.floats(0, 1, exclude_min=True),
    "retry_after": st.floats(0, 1e6),
    "delay_s": st.floats(0, 1e6),
    "after": st.integers(0, 10**6),
}
_APPLIES = {
    "retry_after": ("rate_limit",),
    "delay_s": ("slow", "stall", "sse_stall"),
    "after": STREAM_FAULTS,
}
_MODELS = st.text(st.characters(blacklist_characters="=", codec="utf-8"), min_size=1).filter(
    str.strip
)


@st.composite
def specs(draw: st.DrawFn) -> tuple[str, str, dict[str, float]]:
    kind = draw(st.sampled_from(FAULTS))
    names = [n for n in _NUMBERS if kind in _APPLIES.get(n, FAULTS)]
    chosen = draw(st.lists(st.sampled_from(names), unique=True))
    return draw(_MODELS), kind, {name: draw(_NUMBERS[name]) for name in chosen}


@given(specs())
def test_every_well_formed_fault_is_read_as_written(
    spec: tuple[str, str, dict[str, float]],
) -> None:
    """Any model string without '=', any fault kind and any options that mean something for it
    are read as written (repr-exact numbers), printed so as to read back the same, and accepted
    by ChatServer.set_fault."""
    model, kind, options = spec
    given = ",".join(f"{name}={value!r}" for name, value in options.items())
    parsed = parse_fault(f"{model}={kind}" + (f":{given}" if given else ""))

    assert (parsed.model, parsed.kind, parsed.options) == (model, kind, options)
    assert parse_fault(str(parsed)) == parsed  # the line printed for it says the same fault
    ChatServer().set_fault(parsed.model, parsed.kind, **parsed.options)


@given(kind=st.sampled_from([k for k in FAULTS if len(k) >= 5]), at=st.integers(0, 20))
def test_a_misspelt_kind_is_refused_with_the_kind_it_resembles(kind: str, at: int) -> None:
    """A fault kind with a letter missing is refused, quoting the argument, with a did-you-mean."""
    at %= len(kind)
    misspelt = kind[:at] + kind[at + 1 :]
    assume(misspelt not in FAULTS)
    with pytest.raises(argparse.ArgumentTypeError) as refused_:
        parse_fault(f"org/m={misspelt}")
    assert str(refused_.value).startswith(f"'org/m={misspelt}': unknown fault kind")
    assert "did you mean" in str(refused_.value)


def _not_a_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return True
    return False


_OUT_OF_RANGE = {
    "times": st.integers(max_value=0).map(str) | st.sampled_from(["1.5", "1e3", "nan"]),
    "after": st.integers(max_value=-1).map(str) | st.sampled_from(["0.5", "inf"]),
    "rate": st.sampled_from(["0", "-0.1", "1.01", "nan", "inf", "1e9"]),
    "delay_s": st.floats(max_value=-1e-9).map(repr) | st.sampled_from(["nan", "inf", "-inf"]),
}


@given(name=st.sampled_from(list(_OUT_OF_RANGE)), data=st.data())
def test_a_value_out_of_range_or_not_a_number_is_refused_saying_what_to_give(
    name: str, data: st.DataObject
) -> None:
    """An option value outside the option's range, or not a number at all, is refused with what
    the option takes, never read as something else."""
    junk = st.text(st.characters(blacklist_characters=","), max_size=6).filter(_not_a_number)
    value = data.draw(_OUT_OF_RANGE[name] | junk)
    kind = {"after": "sse_cut", "delay_s": "slow"}.get(name, "server")
    with pytest.raises(argparse.ArgumentTypeError) as refused_:
        parse_fault(f"m={kind}:{name}={value}")
    assert f"{name}={value!r}: give " in str(refused_.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", "::1"])
def test_chat_server_binds_the_host_and_port_it_is_given(host: str) -> None:
    """ChatServer(host=..., port=...) listens where it is told (an IPv6 address or a wildcard
    too), and its base URL reaches it."""
    port = free_port()
    try:
        server = ChatServer(host=host, port=port).start()
    except OSError as e:  # no IPv6 on this machine
        pytest.skip(f"cannot bind {host}: {e}")
    with server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        answer = client.chat.completions.create(model="org/m", messages=MESSAGES)
        assert server.port == port
        assert f":{port}/v1" in server.overrides()[0]
    assert answer.choices[0].message.content == "ok from org/m"
