"""A run's calls fetched ahead (models/prefetch.py) as model.complete() and acomplete() use them."""

from __future__ import annotations

import asyncio

import pytest

from chat_server import Behaviour, ChatServer
from fake_openai import closed_port
from pytest_modelbench._exceptions import ModelCallError
from pytest_modelbench.models.aio import io_loop, shutdown_io_loop
from pytest_modelbench.models.cache import CachingProvider, ResponseStore, spec_for_key
from pytest_modelbench.models.dispatch import CallEngine
from pytest_modelbench.models.limiter import LocalRateLedger, RateLimiter, RateLimits
from pytest_modelbench.models.model import CallMeter, CallTotals, Model
from pytest_modelbench.models.prefetch import RunPrefetch, RunSuspended
from pytest_modelbench.models.providers.openai import OpenAIProvider
from pytest_modelbench.models.specs import ModelSpec


@pytest.fixture
def server():
    with ChatServer(Behaviour(ttft_ms=10)) as chat:
        yield chat


@pytest.fixture
def setup(server):
    spec = ModelSpec(name="chat", provider="openai", model="chat", base_url=server.url)
    provider = OpenAIProvider("chat", base_url=server.url)
    engine = CallEngine(io_loop(), threads=4)
    channel = engine.add("chat", lambda: provider, concurrency=4,
                         limiter=RateLimiter("chat", ceiling=4, ledger=LocalRateLedger()), limits=RateLimits(),
                         meter=CallMeter(), retries=0, key_spec=spec_for_key(spec))
    yield spec, provider, channel
    engine.close()
    shutdown_io_loop()


def _model(setup, prefetch, totals=None, provider=None):
    spec, plain, channel = setup
    chosen = provider or plain
    return Model(spec, lambda: chosen, run=1, timeout=10, totals=totals or CallTotals(), task="t",
                 channel=channel, prefetch=prefetch)


def _conversation(model):
    first = model.complete("What is 1 + 1?")
    return model.complete(f"What is {first.text.split()[-1]} + 1?")


def _probe(prefetch, body):
    prefetch.start_probe(priority=0)
    try:
        body()
    except RunSuspended:
        pass
    return prefetch.end_probe()


def test_probes_fetch_one_call_further_each_and_the_run_uses_the_answers(setup, server):
    prefetch = RunPrefetch()
    assert _probe(prefetch, lambda: _conversation(_model(setup, prefetch))) is True
    assert list(prefetch.calls) == [0]
    prefetch.calls[0].future.result(timeout=10)
    assert _probe(prefetch, lambda: _conversation(_model(setup, prefetch))) is True
    assert list(prefetch.calls) == [0, 1] and prefetch.reached == 2
    prefetch.calls[1].future.result(timeout=10)
    assert server.stats.requests == 2
    totals = CallTotals()
    reply = _conversation(_model(setup, prefetch, totals))  # the real run: no call made
    assert reply.text == "A: 3" and server.stats.requests == 2
    assert totals.calls == 2 and totals.cached_calls == 0 and totals.latency_ms > 0
    assert all(call.consumed for call in prefetch.calls.values())
    # a rerun of the run (pytest-rerunfailures) asks afresh
    assert _conversation(_model(setup, prefetch)).text == "A: 3"
    assert server.stats.requests == 4


def test_a_tests_except_exception_cannot_swallow_the_suspension(setup):
    prefetch = RunPrefetch()
    prefetch.start_probe(priority=0)
    with pytest.raises(RunSuspended):
        try:
            _model(setup, prefetch).complete("What is 2 + 2?")
        except Exception:  # what a test's own error handling would do
            pytest.fail("RunSuspended was caught as an Exception")
    assert prefetch.end_probe() is True


def test_a_request_that_changed_is_called_live_with_a_note(setup, server):
    prefetch = RunPrefetch()
    _probe(prefetch, lambda: _model(setup, prefetch).complete("What is 5 + 5?"))
    prefetch.calls[0].future.result(timeout=10)
    reply = _model(setup, prefetch).complete("What is 5 + 6?")  # not what was fetched
    assert reply.text == "A: 11" and server.stats.requests == 2
    assert prefetch.serial and "model call 1 asked something different" in prefetch.note
    # once not reproducible, a probe stops at once and sends nothing
    assert _probe(prefetch, lambda: _model(setup, prefetch).complete("What is 5 + 7?")) is True
    assert server.stats.requests == 2


def test_a_failed_call_fetched_ahead_fails_the_run_with_its_error(setup):
    spec, _, channel = setup
    down = OpenAIProvider("chat", base_url=f"http://127.0.0.1:{closed_port()}/v1", timeout=2)
    engine = channel._engine
    failing = engine.add("down", lambda: down, concurrency=2,
                         limiter=RateLimiter("down", ceiling=2, ledger=LocalRateLedger()), limits=RateLimits(),
                         meter=CallMeter(), retries=0, key_spec=spec_for_key(spec))
    prefetch = RunPrefetch()
    model = Model(spec, lambda: down, run=1, timeout=2, totals=CallTotals(), task="t", channel=failing,
                  prefetch=prefetch)
    _probe(prefetch, lambda: model.complete("x"))
    with pytest.raises(ModelCallError, match="connection failed"):
        prefetch.calls[0].future.result(timeout=10)
    totals = CallTotals()
    run = Model(spec, lambda: down, run=1, timeout=2, totals=totals, task="t", channel=failing, prefetch=prefetch)
    with pytest.raises(ModelCallError, match="connection failed"):  # the run fails as it would have
        run.complete("x")
    assert totals.calls == 0 and failing.stats().failed == 1  # called once, not retried as load


def test_app_clients_and_load_stop_a_probe(setup):
    prefetch = RunPrefetch()
    assert _probe(prefetch, lambda: _model(setup, prefetch)._calls.app_call("a metered client")) is True
    assert prefetch.serial and prefetch.note is None and not prefetch.calls


def test_acomplete_in_a_probe_and_in_the_run(setup, server):
    prefetch = RunPrefetch()

    async def conversation():
        model = _model(setup, prefetch)
        first = await model.acomplete("What is 10 + 1?")
        return await model.acomplete(f"What is {first.text.split()[-1]} + 1?")

    for _ in range(2):
        prefetch.start_probe(priority=0)
        with pytest.raises(RunSuspended):
            asyncio.run(conversation())
        prefetch.end_probe()
        for call in prefetch.calls.values():
            call.future.result(timeout=10)
    assert asyncio.run(conversation()).text == "A: 12"
    assert server.stats.requests == 2


def test_cached_answers_are_used_by_probes_and_fetched_ones_stored_once(setup, server, tmp_path):
    spec, provider, channel = setup
    store = ResponseStore(tmp_path / "cache.sqlite")
    caching = CachingProvider(lambda: provider, store, spec, replay=False)
    prefetch = RunPrefetch()
    _probe(prefetch, lambda: _model(setup, prefetch, provider=caching).complete("What is 3 + 3?"))
    prefetch.calls[0].future.result(timeout=10)
    _probe(prefetch, lambda: _model(setup, prefetch, provider=caching).complete("What is 3 + 3?"))
    assert store.stats().stored == 0  # probes store nothing
    totals = CallTotals()
    assert _model(setup, prefetch, totals, provider=caching).complete("What is 3 + 3?").text == "A: 6"
    assert store.stats().stored == 1 and totals.cached_calls == 0
    # the next session: answered from the store, even by a probe, which then runs to its end
    again = RunPrefetch()
    assert _probe(again, lambda: _model(setup, again, provider=caching).complete("What is 3 + 3?")) is False
    assert server.stats.requests == 1
    store.close()
