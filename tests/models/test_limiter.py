"""The rate limiter (models/limiter.py): declared rates, the AIMD window, pauses, headers, and
the ledger several processes share."""

from __future__ import annotations

import asyncio
import multiprocessing
import time

import pytest

from pytest_modelbench.models.limiter import (
    LocalRateLedger,
    RateLimiter,
    RateLimits,
    SharedRateLedger,
    Slot,
    endpoint_key,
    exhausted_for,
    parse_reset,
)


def run(coroutine):
    return asyncio.run(coroutine)


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("value", [0, -1, float("inf"), float("nan"), True, "60"])
def test_rate_limits_refuse_bad_values(value):
    with pytest.raises(ValueError, match="must be a number > 0 per minute"):
        RateLimits(rpm=value)
    with pytest.raises(ValueError, match="tpm"):
        RateLimits(tpm=value)


def test_rate_limits_active():
    assert not RateLimits().active
    assert RateLimits(rpm=60).active and RateLimits(tpm=1000.5).active


def test_endpoint_key_never_holds_the_key():
    secret = "sk-very-secret-0123456789abcdef"
    name = endpoint_key("openai", "https://api.openai.com/v1", secret)
    assert secret not in name and "0123456789" not in name
    assert name != endpoint_key("openai", "https://api.openai.com/v1", secret + "x")
    assert name == endpoint_key("openai", "https://api.openai.com/v1", secret)
    assert endpoint_key("ollama", "http://127.0.0.1:11434/v1", None).endswith("no key")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("0.5", 0.5), ("17", 17.0),
     ("2025-01-01T00:00:30Z", 30.0), ("2025-01-01T00:00:30+00:00", 30.0)],
)
def test_parse_reset(value, seconds):
    now = 1735689600.0  # 2025-01-01T00:00:00Z
    assert parse_reset(value, now=now) == pytest.approx(seconds)


@pytest.mark.parametrize("value", [None, "", "soon", "1x", "2025-01-01T00:00:30", "inf"])
def test_parse_reset_unreadable(value):
    assert parse_reset(value) is None


def test_exhausted_for_reads_openai_and_anthropic_headers():
    assert exhausted_for({"x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "1s"}) is None
    assert exhausted_for({"X-RateLimit-Remaining-Requests": "0", "x-ratelimit-reset-requests": "250ms"}) == 0.25
    assert exhausted_for({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "2s",
                          "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s"}) == 2.0
    now = 1735689600.0
    headers = {"anthropic-ratelimit-requests-remaining": "0",
               "anthropic-ratelimit-requests-reset": "2025-01-01T00:00:04Z"}
    assert exhausted_for(headers, now=now) == pytest.approx(4.0)
    assert exhausted_for({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1h"}) == 60.0
    assert exhausted_for({"x-ratelimit-remaining-requests": "0"}) is None  # no reset: nothing to wait for


# --------------------------------------------------------------------------- ledgers


def test_gcra_without_burst_spaces_requests():
    ledger = LocalRateLedger()
    buckets = [("rpm", 1.0)]  # 60 per minute
    starts = [ledger.reserve(buckets, now=100.0) for _ in range(4)]
    assert starts == [100.0, 101.0, 102.0, 103.0]
    assert ledger.reserve(buckets, now=200.0) == 200.0  # idle time is not saved up


def test_gcra_several_buckets_start_when_all_allow():
    ledger = LocalRateLedger()
    assert ledger.reserve([("requests", 1.0), ("tokens", 3.0)], now=0.0) == 0.0
    assert ledger.reserve([("requests", 1.0), ("tokens", 3.0)], now=0.0) == 3.0  # tokens bind
    ledger.adjust("tokens", -2.0, now=0.0)  # the answer used fewer tokens than reserved
    assert ledger.reserve([("requests", 1.0), ("tokens", 1.0)], now=0.0) == 4.0


def _reserve_many(path: str, count: int, queue) -> None:
    ledger = SharedRateLedger(path)
    starts = [ledger.reserve([("shared rpm", 0.05)], now=1000.0) for _ in range(count)]
    ledger.close()
    queue.put(starts)


def test_shared_ledger_serialises_processes(tmp_path):
    path = str(tmp_path / "limits.sqlite")
    SharedRateLedger(path).close()
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=_reserve_many, args=(path, 25, queue)) for _ in range(4)]
    for process in processes:
        process.start()
    starts = sorted(start for _ in processes for start in queue.get(timeout=60))
    for process in processes:
        process.join(timeout=60)
    # 100 reservations by 4 processes: every slot taken exactly once, 0.05 s apart
    assert starts == pytest.approx([1000.0 + 0.05 * index for index in range(100)])


def test_shared_ledger_pauses(tmp_path):
    first = SharedRateLedger(tmp_path / "limits.sqlite")
    second = SharedRateLedger(tmp_path / "limits.sqlite")
    assert second.paused_until("endpoint") == 0.0
    first.pause("endpoint", 50.0)
    first.pause("endpoint", 40.0)  # an earlier end does not shorten a pause
    assert second.paused_until("endpoint") == 50.0
    first.close()
    second.close()


# --------------------------------------------------------------------------- the limiter


def _limiter(ceiling: int = 8, **options) -> RateLimiter:
    return RateLimiter("endpoint", ceiling=ceiling, ledger=LocalRateLedger(), **options)


def test_ceiling_must_be_positive():
    with pytest.raises(ValueError, match="ceiling 0"):
        RateLimiter("e", ceiling=0, ledger=LocalRateLedger())


def test_window_halves_once_per_episode_and_grows_back():
    async def scenario():
        limiter = _limiter(8)
        slots = [await limiter.acquire(RateLimits(), "m") for _ in range(8)]
        assert limiter.in_flight == 8
        await limiter.throttled(slots[0])
        assert limiter.window == 4.0  # half of the 8 in flight
        await limiter.throttled(slots[1])  # sent before the decrease: same episode
        assert limiter.window == 4.0 and limiter.stats.decreases == 1
        for slot in slots:
            limiter.release(slot)
        later = [await limiter.acquire(RateLimits(), "m") for _ in range(4)]
        await limiter.throttled(later[0])  # a new episode: sent after the decrease
        assert limiter.window == 2.0  # half of the 4 in flight
        for slot in later:
            limiter.release(slot)
        for _ in range(4):
            slot = await limiter.acquire(RateLimits(), "m")
            await limiter.succeeded(slot)
            limiter.release(slot)
        assert 3.0 < limiter.window < 4.0  # 2 + 1/2 + 1/2.5 + 1/2.9: one per window of successes
        return limiter

    limiter = run(scenario())
    assert limiter.stats.throttles == 3 and limiter.stats.lowest_window == 2.0


def test_window_is_not_halved_below_the_delivery_floor():
    async def scenario():
        limiter = _limiter(32)
        # 20 answers in the last two seconds, each taking 0.5 s: about 10/s x 0.5 s = 5 in flight
        now = time.monotonic()
        for index in range(20):
            limiter._delivered.append((now - 1.9 + index * 0.1, 0.5))
        floor = limiter.delivery_floor()
        slots = [await limiter.acquire(RateLimits(), "m") for _ in range(6)]
        await limiter.throttled(slots[0])
        return floor, limiter.window

    floor, window = run(scenario())
    assert floor in (5, 6) and window == floor  # not 3, half of the 6 in flight


def test_acquire_waits_for_a_place_in_the_window_lowest_priority_first():
    async def scenario():
        limiter = _limiter(1)
        first = await limiter.acquire(RateLimits(), "m")
        order = []

        async def waiter(priority):
            slot = await limiter.acquire(RateLimits(), "m", priority=priority)
            order.append(priority)
            await asyncio.sleep(0.01)
            limiter.release(slot)

        tasks = [asyncio.create_task(waiter(priority)) for priority in (5, 1, 3, -1)]
        await asyncio.sleep(0.05)
        assert order == [] and limiter.in_flight == 1
        limiter.release(first)
        await asyncio.gather(*tasks)
        return order, limiter.stats.peak_in_flight

    order, peak = run(scenario())
    assert order == [-1, 1, 3, 5] and peak == 1


def test_a_cancelled_waiter_gives_its_place_back():
    async def scenario():
        limiter = _limiter(1)
        first = await limiter.acquire(RateLimits(), "m")
        waiting = asyncio.create_task(limiter.acquire(RateLimits(), "m"))
        await asyncio.sleep(0.01)
        waiting.cancel()
        limiter.release(first)
        second = await asyncio.wait_for(limiter.acquire(RateLimits(), "m"), 1)
        return limiter.in_flight, second

    in_flight, _ = run(scenario())
    assert in_flight == 1


def test_retry_after_pauses_the_endpoint():
    async def scenario():
        limiter = _limiter(4)
        slot = await limiter.acquire(RateLimits(), "m")
        pause = await limiter.throttled(slot, {"retry-after-ms": "200"})
        limiter.release(slot)
        started = time.perf_counter()
        again = await limiter.acquire(RateLimits(), "m")
        return pause, time.perf_counter() - started, again

    pause, waited, _ = run(scenario())
    assert pause == 0.2 and 0.18 <= waited < 0.5


def test_backoff_without_a_hint():
    limiter = _limiter(4, random_fraction=lambda: 0.0)
    limiter._consecutive = 1
    assert limiter.backoff() == 0.5  # nothing delivered lately: the first backoff
    limiter._consecutive = 3
    assert limiter.backoff() == 2.0
    limiter._consecutive = 10
    assert limiter.backoff() == 8.0  # at most
    now = time.monotonic()
    for index in range(40):  # still delivering 20 answers a second: one gap between them
        limiter._delivered.append((now - 1.95 + index * 0.05, 0.1))
    assert limiter.backoff() == pytest.approx(0.05)


def test_exhausted_limit_header_pauses_the_endpoint():
    async def scenario():
        limiter = _limiter(4)
        await limiter.observe({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "150ms"})
        started = time.perf_counter()
        await limiter.acquire(RateLimits(), "m")
        return time.perf_counter() - started

    assert 0.13 <= run(scenario()) < 0.5


def test_declared_rates_pace_the_calls():
    async def scenario():
        limiter = _limiter(8)
        limits = RateLimits(rpm=1200)  # one every 50 ms
        sent = []
        for _ in range(5):
            slot = await limiter.acquire(limits, "m")
            sent.append(time.perf_counter())
            limiter.release(slot)
        return sent

    sent = run(scenario())
    assert sent[-1] - sent[0] >= 4 * 0.05 - 0.005


def test_token_estimate_is_corrected_by_the_answer():
    async def scenario():
        limiter = _limiter(8)
        limits = RateLimits(tpm=60_000)  # 1000 tokens a second
        slot = await limiter.acquire(limits, "m", estimated_tokens=500)  # reserves 0.5 s
        await limiter.succeeded(slot, model_limits=limits, tokens=100)  # used 0.1 s worth
        limiter.release(slot)
        started = time.perf_counter()
        await limiter.acquire(limits, "m", estimated_tokens=10)
        return time.perf_counter() - started

    assert run(scenario()) < 0.25


def test_slot_release_is_idempotent():
    limiter = _limiter(2)
    limiter.in_flight = 1
    slot = Slot(sent_at=0.0)
    limiter.release(slot)
    limiter.release(slot)
    assert limiter.in_flight == 0
