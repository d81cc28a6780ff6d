"""Channels (models/dispatch.py): calls sent concurrently through the rate limiter, which owns
their retries; against real servers on 127.0.0.1 (tests/chat_server.py, tests/fake_openai.py)."""

from __future__ import annotations

import threading
import time

import pytest

from chat_server import Behaviour, ChatServer
from fake_openai import FakeOpenAI, error_reply
from pytest_modelbench._exceptions import ModelCallError
from pytest_modelbench.cost.ledger import BudgetExceeded, SpendLedger
from pytest_modelbench.cost.prices import ModelPrice
from pytest_modelbench.models.aio import io_loop, shutdown_io_loop
from pytest_modelbench.models.completion import Completion
from pytest_modelbench.models.dispatch import URGENT, CallEngine, CallRequest
from pytest_modelbench.models.limiter import LocalRateLedger, RateLimiter, RateLimits
from pytest_modelbench.models.model import CallMeter
from pytest_modelbench.models.providers.openai import OpenAIProvider


@pytest.fixture
def engine():
    calls = CallEngine(io_loop(), threads=8)
    yield calls
    calls.close()
    shutdown_io_loop()


def _channel(engine, provider, *, concurrency=4, limits=RateLimits(), meter=None, retries=2, name="m"):
    limiter = RateLimiter(name, ceiling=concurrency, ledger=LocalRateLedger())
    return engine.add(name, lambda: provider, concurrency=concurrency, limiter=limiter, limits=limits,
                      meter=meter or CallMeter(), retries=retries, key_spec=None)


def _ask(number: int) -> CallRequest:
    return CallRequest([{"role": "user", "content": f"What is {number} + 1?"}], timeout=10)


def test_calls_go_concurrently_up_to_the_concurrency(engine):
    with ChatServer(Behaviour(ttft_ms=150)) as server:
        channel = _channel(engine, OpenAIProvider("m", base_url=server.url), concurrency=3)
        started = time.perf_counter()
        futures = [channel.submit(_ask(number), priority=number) for number in range(9)]
        answers = [future.result(timeout=30) for future in futures]
        elapsed = time.perf_counter() - started
        peak = server.stats.peak_running
    assert [answer.text for answer in answers] == [f"A: {number + 1}" for number in range(9)]
    assert peak == 3
    assert 3 * 0.15 <= elapsed < 9 * 0.15  # three rounds, not nine
    # each answer keeps its own measurements, from when it was sent
    assert all(answer.ttft_ms >= 140 and answer.latency_ms >= answer.ttft_ms for answer in answers)
    stats = channel.stats()
    assert (stats.submitted, stats.completed, stats.failed, stats.in_flight, stats.queued) == (9, 9, 0, 0, 0)
    assert stats.peak_in_flight == 3


def test_urgent_calls_go_first(engine):
    order = []
    lock = threading.Lock()

    class Recording:
        def complete(self, messages, **options):
            with lock:
                order.append(messages[0]["content"])
            time.sleep(0.05)
            return Completion(text="ok", latency_ms=50.0)

        def close(self):
            pass

    channel = _channel(engine, Recording(), concurrency=1)
    futures = [channel.submit(CallRequest([{"role": "user", "content": f"ahead {n}"}]), priority=n) for n in (5, 3, 4)]
    time.sleep(0.01)
    futures.append(channel.submit(CallRequest([{"role": "user", "content": "waited for"}]), priority=URGENT))
    for future in futures:
        future.result(timeout=10)
    # one call was already being answered; the urgent one is next, then the rest by priority
    assert order.index("waited for") == 1
    ahead = [call for call in order if call != "waited for"]
    assert ahead[1:] == sorted(ahead[1:])


def test_throttled_calls_are_retried_by_the_limiter_only(engine):
    with ChatServer(Behaviour(ttft_ms=20, rate_per_s=5)) as server:
        channel = _channel(engine, OpenAIProvider("m", base_url=server.url), concurrency=6)
        futures = [channel.submit(_ask(number), priority=number) for number in range(12)]
        answers = [future.result(timeout=60) for future in futures]
        stats = server.stats
    assert [answer.text for answer in answers] == [f"A: {number + 1}" for number in range(12)]
    assert stats.throttled > 0
    # every 429 was retried once, by the limiter; the provider made exactly one attempt each time
    assert sum(answer.retries for answer in answers) == stats.throttled
    assert stats.requests == 12 + stats.throttled
    assert channel.stats().throttled == stats.throttled
    assert engine.limiters["m"].stats.decreases >= 1


def test_connections_closed_under_load_are_retried(engine):
    with ChatServer(Behaviour(ttft_ms=50, drop_above=2)) as server:
        channel = _channel(engine, OpenAIProvider("m", base_url=server.url), concurrency=6)
        futures = [channel.submit(_ask(number), priority=number) for number in range(10)]
        answers = [future.result(timeout=60) for future in futures]
        dropped = server.stats.dropped
    assert [answer.text for answer in answers] == [f"A: {number + 1}" for number in range(10)]
    assert dropped > 0 and sum(answer.retries for answer in answers) == dropped


def test_server_errors_are_retried_as_many_times_as_asked():
    calls = CallEngine(io_loop(), threads=4)
    try:
        with FakeOpenAI() as server:
            server.always(error_reply(500, "boom", error_type="server_error"))
            channel = _channel(calls, OpenAIProvider("m", base_url=server.url), retries=2)
            started = time.perf_counter()
            future = channel.submit(_ask(1), priority=0)
            with pytest.raises(ModelCallError, match=r"HTTP 500.*boom.*\(gave up after 3 attempts\)") as failure:
                future.result(timeout=30)
            assert failure.value.status_code == 500
            assert len(server.requests) == 3 and time.perf_counter() - started > 0.5  # waited between
            assert channel.stats().failed == 1
            server.requests.clear()
            server.always(error_reply(400, "bad request"))
            with pytest.raises(ModelCallError, match=r"HTTP 400 Bad Request: bad request \(type: invalid_request_error\)$"):
                channel.submit(_ask(2), priority=0).result(timeout=30)
            assert len(server.requests) == 1  # not retried
    finally:
        calls.close()
        shutdown_io_loop()


def test_spend_cap_stops_calls_before_they_are_sent(engine, tmp_path):
    ledger = SpendLedger(tmp_path / "spend.sqlite", cap_usd=0.000001)
    price = ModelPrice("m", input_usd_per_mtok=1000.0, output_usd_per_mtok=1000.0)
    with ChatServer(Behaviour()) as server:
        channel = _channel(engine, OpenAIProvider("m", base_url=server.url), concurrency=1,
                           meter=CallMeter(price, ledger))
        first = channel.submit(_ask(1), priority=0).result(timeout=30)
        assert first.text == "A: 2"
        assert ledger.total() > 0.000001  # its cost was added when it arrived
        with pytest.raises(BudgetExceeded, match="spend cap reached"):
            channel.submit(_ask(2), priority=0).result(timeout=30)
        assert server.stats.requests == 1
        assert channel.stats().cost_usd == pytest.approx(ledger.total())
    ledger.close()


def test_providers_without_an_async_path_run_in_threads(engine):
    running = 0
    peak = 0
    lock = threading.Lock()

    class Blocking:
        def complete(self, messages, **options):
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            time.sleep(0.1)
            with lock:
                running -= 1
            return Completion(text=messages[0]["content"], latency_ms=100.0)

        def close(self):
            pass

    channel = _channel(engine, Blocking(), concurrency=4)
    futures = [channel.submit(CallRequest([{"role": "user", "content": str(n)}]), priority=n) for n in range(8)]
    assert [future.result(timeout=10).text for future in futures] == [str(n) for n in range(8)]
    assert peak == 4


def test_declared_rpm_paces_a_channel(engine):
    with ChatServer(Behaviour()) as server:
        channel = _channel(engine, OpenAIProvider("m", base_url=server.url), concurrency=4,
                           limits=RateLimits(rpm=1200))
        futures = [channel.submit(_ask(number), priority=number) for number in range(6)]
        for future in futures:
            future.result(timeout=30)
        accepted = sorted(server.stats.accepted_at)
    assert accepted[-1] - accepted[1] > 4 * 0.05 - 0.02


def test_close_cancels_what_is_queued():
    calls = CallEngine(io_loop(), threads=2)

    class Slow:
        def complete(self, messages, **options):
            time.sleep(0.2)
            return Completion(text="late", latency_ms=200.0)

        def close(self):
            pass

    channel = _channel(calls, Slow(), concurrency=1)
    futures = [channel.submit(CallRequest([{"role": "user", "content": "x"}]), priority=n) for n in range(5)]
    time.sleep(0.05)
    calls.close()
    shutdown_io_loop()
    assert sum(future.cancelled() for future in futures) >= 3
