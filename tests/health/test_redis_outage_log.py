"""A Redis outage is logged when it is first met, once, and its end is logged too."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
from conftest import PRIMARY, OwnRedis

import resolver


def test_the_first_call_that_meets_the_outage_logs_it_once(
    own_redis: Callable[..., OwnRedis], namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The very first lookup after Redis went away logs one warning naming the store (password
    masked); later calls, and retries of Redis that find it still down, do not repeat it."""
    server = own_redis("--requirepass", "pw-outage")
    url = f"redis://:pw-outage@127.0.0.1:{server.port}/0"
    r = resolver.load(
        overrides=[
            "policy.health.store=redis",
            f"policy.health.url={url}",
            f"policy.health.namespace={namespace}",
            "policy.health.retry_s=0.2",
        ]
    )
    assert r.health.in_rotation(PRIMARY)
    server.stop()
    caplog.set_level(logging.WARNING, logger="resolver")

    r.health.in_rotation(PRIMARY)
    first = [rec for rec in caplog.records if "unreachable" in rec.getMessage()]
    for _ in range(5):
        r.health.in_rotation(PRIMARY)
    time.sleep(0.3)  # past retry_s: Redis is tried again, and is still down
    r.health.in_rotation(PRIMARY)

    assert len(first) == 1
    assert first[0].levelname == "WARNING"
    assert f"health store redis://:***@127.0.0.1:{server.port}/0 unreachable" in (
        first[0].getMessage()
    )
    assert "pw-outage" not in caplog.text
    assert sum("unreachable" in rec.getMessage() for rec in caplog.records) == 1
