"""What the shared health store says about itself: its repr, the outage and its end in the
log, check()'s error, and a store built without a URL, each naming the store and the cause."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest
from conftest import PRIMARY, OwnRedis

import resolver
from resolver.redis_health import HealthStoreUnavailable, RedisHealthStore


def shared(url: str, namespace: str, retry_s: float = 60) -> resolver.Resolver:
    return resolver.load(
        overrides=[
            "policy.health.store=redis",
            f"policy.health.url={url}",
            f"policy.health.namespace={namespace}",
            f"policy.health.retry_s={retry_s}",
        ]
    )


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [rec.getMessage() for rec in caplog.records if rec.levelno == logging.WARNING]


def test_the_repr_says_where_health_is_kept(
    own_redis: Callable[..., OwnRedis], namespace: str
) -> None:
    """The store's repr names its URL and namespace, and says whether health is on Redis or in
    this process."""
    server = own_redis()
    r = shared(server.url, namespace)
    assert repr(r.health) == f"<RedisHealthStore {server.url} namespace='{namespace}' (on Redis)>"
    server.stop()
    r.health.in_rotation(PRIMARY)
    assert repr(r.health) == (
        f"<RedisHealthStore {server.url} namespace='{namespace}' (in-process until Redis is back)>"
    )


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_the_outage_log_names_the_store_the_error_and_the_retry(
    own_redis: Callable[..., OwnRedis],
    namespace: str,
    caplog: pytest.LogCaptureFixture,
    use_async: bool,
) -> None:
    """The outage warning, met by a sync or an async call, names the store, the error's class
    and text, and how often Redis is tried again."""
    server = own_redis()
    r = shared(server.url, namespace, retry_s=60)
    server.stop()
    caplog.set_level(logging.WARNING, logger="resolver")
    if use_async:
        asyncio.run(r.health.ain_rotation(PRIMARY))
    else:
        r.health.in_rotation(PRIMARY)
    [message] = warnings(caplog)
    head = f"health store {server.url} unreachable (ConnectionError: Error "
    assert message.startswith(head), message
    assert f"127.0.0.1:{server.port}" in message
    assert message.endswith("): keeping health in this process, trying Redis again every 60 s"), (
        message
    )


def test_the_end_of_an_outage_is_logged_with_the_store(
    own_redis: Callable[..., OwnRedis], namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """When Redis answers again after retry_s, one warning says that this store's health is
    shared again."""
    server = own_redis()
    r = shared(server.url, namespace, retry_s=0.2)
    server.stop()
    r.health.in_rotation(PRIMARY)
    server.start()
    time.sleep(0.3)
    caplog.set_level(logging.WARNING, logger="resolver")
    caplog.clear()
    r.health.in_rotation(PRIMARY)
    assert warnings(caplog) == [f"health store {server.url} is back: health is shared again"]


def test_check_names_the_store_and_the_error(
    own_redis: Callable[..., OwnRedis], namespace: str
) -> None:
    """check() on an unreachable Redis raises HealthStoreUnavailable naming the store and the
    connection error."""
    server = own_redis()
    r = shared(server.url, namespace)
    server.stop()
    with pytest.raises(HealthStoreUnavailable) as info:
        r.health.check()
    message = str(info.value)
    assert message.startswith(
        f"health store {server.url} is unreachable: ConnectionError: Error "
    ), message
    assert f"127.0.0.1:{server.port}" in message


def test_a_store_without_a_url_says_which_setting_is_missing() -> None:
    """Building a Redis store from a policy that has no URL, and giving none, names the
    setting to fill in."""
    needs = r"^a Redis health store needs a URL \(policy\.health\.url\)$"
    with pytest.raises(ValueError, match=needs):
        RedisHealthStore(resolver.HealthPolicy(store="redis"), namespace="n")
