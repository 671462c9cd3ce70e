"""A weighted group served through the gateway to the official openai SDK: the upstreams'
counts give the split, and the headers name the group and the deployment."""

from __future__ import annotations

import collections

import httpx
import openai
import pytest
from gateway_support import gateway_for, sdk, serving

from .conftest import BACKUP, A, B, model_of

HI = [{"role": "user", "content": "hi"}]


def test_gateway_splits_a_weighted_group_and_names_group_and_deployment(grouped, chat_server, keys):
    """600 completions for a 2:1 group through the gateway reach the upstreams about 2:1, each
    answer's model and x-fallback-served-by name the deployment, x-fallback-group the group;
    /v1/models lists the group."""
    r = grouped(
        f"""
        groups:
          w: {{strategy: weighted, members: {{{A}: {{weight: 2}}, {B}: {{weight: 1}}}}}}
        fallbacks:
          w: [{BACKUP}]
        """
    )
    with serving(gateway_for(r, keys)) as url:
        client = sdk(url)
        assert "w" in {m.id for m in client.models.list().data}
        served = collections.Counter()
        for _ in range(600):
            raw = client.chat.completions.with_raw_response.create(model="w", messages=HI)
            answer = raw.parse()
            assert raw.headers["x-fallback-group"] == "w"
            assert raw.headers["x-fallback-served-by"] == answer.model
            served[answer.model] += 1
    counted = collections.Counter(q.model for q in chat_server.requests)
    assert counted[model_of(r, A)] == served[A]
    assert abs(served[A] / 600 - 2 / 3) < 0.06, served


def test_gateway_answers_429_when_every_candidate_is_at_its_limit(grouped, keys):
    """A call that finds every candidate at its rpm limit is refused with 429, as a vendor's
    rate limit is, and nothing is sent upstream."""
    r = grouped(
        f"""
        groups:
          o: [{A}]
        models:
          {A}: {{rpm: 1}}
        """
    )
    with serving(gateway_for(r, keys)) as url:
        client = sdk(url)
        client.chat.completions.create(model="o", messages=HI)
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(model="o", messages=HI)
    assert caught.value.status_code == 429
    assert "rpm limit" in caught.value.message


def test_a_stream_from_a_group_names_the_group_and_the_deployment(grouped, keys):
    """A streamed completion of a group, through the SDK, says which deployment serves and from
    which group, before the first token."""
    r = grouped(f"groups:\n  o: [{A}, {B}]\n")
    with serving(gateway_for(r, keys)) as url:
        client = sdk(url)
        with client.chat.completions.with_streaming_response.create(
            model="o", messages=HI, stream=True
        ) as response:
            assert response.headers["x-fallback-group"] == "o"
            assert response.headers["x-fallback-served-by"] == A
            chunks = list(response.parse())
    assert chunks


def test_metrics_count_served_calls_by_deployment(grouped, keys):
    """/metrics counts a group's calls by the deployment that served them, not by the group."""
    r = grouped(f"groups:\n  o: [{A}, {B}]\nmodels:\n  {A}: {{rpm: 2}}\n")
    with serving(gateway_for(r, keys)) as url:
        client = sdk(url)
        for _ in range(5):
            client.chat.completions.create(model="o", messages=HI)
        text = httpx.get(url.removesuffix("/v1") + "/metrics").text
    assert f'llm_fallback_served_total{{fallback="false",model="o",provider="{A}"}} 2.0' in text
    assert f'llm_fallback_served_total{{fallback="false",model="o",provider="{B}"}} 3.0' in text
    assert r.stats()["o"].served_by_member == {A: 2, B: 3}
