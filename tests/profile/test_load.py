"""Load profiles: run_load against tests/load_server.py, the statistics, the Prometheus parser.

Timing checks use loose bounds only (the machine may be busy): a measured latency can never be
below what the server waited, and is allowed a generous margin above it.
"""

from __future__ import annotations

import asyncio
import json
import math
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from pytest_modelbench.profile import loadgen as _loadgen
from pytest_modelbench.profile.prometheus import (
    GaugeSampler,
    GaugeSelector,
    PrometheusFormatError,
    parse_prometheus_text,
    summarise,
)
from pytest_modelbench.profile.load import (
    CPU_BUSY_LIMIT,
    LatencyStats,
    LoadResult,
    ShardLayout,
    _self_check,
    inter_token_latencies,
    max_in_flight,
    poisson_arrivals,
    run_load,
    shard_layout,
    summarise_requests,
)
from pytest_modelbench.models.providers._http import Secret

sys.path.insert(0, str(Path(__file__).parents[1]))
from load_server import server_process  # noqa: E402

KEY = "sk-load-test-SECRETKEY-0123456789"
MARGIN_MS = 400.0  # generous: a loaded 2-core machine can delay a read by this much


@pytest.fixture(scope="module")
def server():
    with server_process(ttft_ms=20.0, itl_ms=4.0, tokens=6) as handle:
        yield handle


def load(server, **options):
    options.setdefault("prompts", ["hello"])
    options.setdefault("api_key", KEY)
    return run_load(base_url=server.base_url, model="load-model", **options)


# --------------------------------------------------------------------------- against the server


@pytest.mark.parametrize("engine", ["httpx", "raw"])
def test_latencies_follow_the_scripted_delays(server, engine):
    # Role-only chunk at once, first content after 40 ms, then 5 tokens 5 ms apart.
    result = load(server, concurrency=3, requests=9, engine=engine,
                  extra_params={"mock": {"ttft_ms": 40, "itl_ms": 5, "tokens": 6}})
    assert isinstance(result, LoadResult)
    assert (result.completed, result.failed, result.requests) == (9, 0, 9)
    assert result.error_rate == 0.0
    # The role-only chunk arrives at once; TTFT waits for content, so it is >= 40 ms.
    assert 40.0 <= result.ttft_ms.mean < 40.0 + MARGIN_MS
    assert 40.0 <= result.ttft_ms.p50 <= result.ttft_ms.p95 <= result.ttft_ms.p99
    assert 40.0 + 5 * 5.0 <= result.e2e_ms.mean < 65.0 + MARGIN_MS
    assert result.output_tokens == 9 * 6
    assert result.output_token_throughput == pytest.approx(54 / result.wall_time_s)
    assert result.itl_ms.count == 9 * 5
    assert 0.0 <= result.itl_ms.mean < 5.0 + MARGIN_MS
    # TPOT spreads E2E − TTFT over the 5 gaps after the first token (a late first read can
    # shorten that span, so only an upper bound holds).
    assert result.tpot_ms.count == 9
    assert 0.0 < result.tpot_ms.mean < 5.0 + MARGIN_MS
    assert result.request_throughput == pytest.approx(9 / result.wall_time_s)
    assert result.engine == engine and result.mode == "concurrency" and result.concurrency == 3
    assert result.client_cpu_s > 0 and result.client_peak_rss_mb > 1


def test_server_truth_bounds_the_measurement(server):
    server.clear()
    prompts = [f"truth-{i}" for i in range(6)]
    result = load(server, prompts=prompts, concurrency=2, requests=6, engine="raw",
                  extra_params={"mock": {"ttft_ms": 30, "itl_ms": 3, "tokens": 4}})
    assert result.completed == 6
    served = {row["prompt"]: row for row in server.timings()}
    assert set(served) == set(prompts)
    truth_ttft = [(row["first_content_at"] - row["received_at"]) * 1000 for row in served.values()]
    # The client sends before the server has the request and reads after it writes.
    assert result.ttft_ms.mean >= float(np.mean(truth_ttft)) - 0.5


def test_usage_absent_means_tokens_unknown(server):
    result = load(server, concurrency=2, requests=4, extra_params={"mock": {"usage": False, "ttft_ms": 1, "itl_ms": 1}})
    assert result.completed == 4
    assert result.output_tokens is None
    assert result.output_token_throughput is None
    assert result.tpot_ms == LatencyStats(count=0, mean=None, p50=None, p95=None, p99=None)
    assert "unknown" in result.tokens_note
    # TTFT, ITL and E2E do not need token counts.
    assert result.ttft_ms.count == 4 and result.itl_ms.count == 4 * 5


def test_stream_options_can_be_left_out(server):
    server.clear()
    result = load(server, concurrency=1, requests=2, prompts=["no-options"],
                  extra_params={"stream_options": None, "mock": {"ttft_ms": 1, "itl_ms": 1}})
    assert result.completed == 2 and result.output_tokens is None  # the server only reports usage when asked


def test_failed_requests_are_counted_with_reasons(server):
    result = load(server, prompts=["fine", "!status=500 please", "fine", "!status=429 slow down"],
                  concurrency=2, requests=8, engine="raw", extra_params={"mock": {"ttft_ms": 1, "itl_ms": 1}})
    assert (result.completed, result.failed) == (4, 4)
    assert result.error_rate == 0.5
    reasons = {error.reason: error.count for error in result.errors}
    assert sorted(reasons.values()) == [2, 2]
    assert any("HTTP 500" in reason and "scripted failure 500" in reason for reason in reasons)
    assert any("HTTP 429" in reason for reason in reasons)
    # Only completed requests count in latency and throughput.
    assert result.ttft_ms.count == 4 and result.request_throughput == pytest.approx(4 / result.wall_time_s)
    assert KEY not in json.dumps(result.to_dict())


@pytest.mark.parametrize("engine", ["httpx", "raw"])
def test_stream_cut_mid_body_is_a_failure(server, engine):
    result = load(server, concurrency=1, requests=2, engine=engine,
                  extra_params={"mock": {"ttft_ms": 1, "itl_ms": 1, "cut_after": 2}})
    assert (result.completed, result.failed) == (0, 2)
    assert result.itl_ms.count == 0  # chunks of failed requests are not kept
    assert result.errors[0].count == 2


@pytest.mark.parametrize("engine", ["httpx", "raw"])
def test_timeout_is_a_failure(server, engine):
    result = load(server, concurrency=1, requests=1, engine=engine, timeout=0.3,
                  extra_params={"mock": {"ttft_ms": 3000}})
    assert result.failed == 1
    assert "timed out after 0.3 s" in result.errors[0].reason


def test_connection_refused_is_a_failure():
    result = run_load(base_url="http://127.0.0.1:9/v1", model="m", api_key=None, prompts=["x"],
                      concurrency=1, requests=2, engine="raw", timeout=5)
    assert result.failed == 2 and "connection failed" in result.errors[0].reason


def test_concurrency_sweep_returns_one_result_per_level(server):
    results = load(server, concurrency=[1, 4], requests=8, extra_params={"mock": {"ttft_ms": 30, "itl_ms": 2, "tokens": 3}})
    assert isinstance(results, list) and [r.concurrency for r in results] == [1, 4]
    assert [r.completed for r in results] == [8, 8]
    assert results[0].max_in_flight == 1
    assert results[1].max_in_flight == 4
    # Back-to-back senders keep about `level` requests in flight (the tail drains).
    assert 0.7 <= results[0].mean_in_flight <= 1.0
    assert 2.0 <= results[1].mean_in_flight <= 4.0


def test_concurrency_list_of_one_is_still_a_sweep(server):
    results = load(server, concurrency=[2], requests=2, extra_params={"mock": {"ttft_ms": 1, "itl_ms": 1}})
    assert isinstance(results, list) and len(results) == 1


def test_duration_mode_stops_issuing_after_the_duration(server):
    result = load(server, concurrency=2, duration_s=0.3, extra_params={"mock": {"ttft_ms": 20, "itl_ms": 2, "tokens": 3}})
    assert result.requests >= 2 and result.failed == 0
    assert 0.3 <= result.wall_time_s < 0.3 + MARGIN_MS / 1000 + 0.1


def test_rate_mode_with_a_request_count(server):
    result = load(server, rate=100.0, requests=20, seed=7, engine="raw",
                  extra_params={"mock": {"ttft_ms": 5, "itl_ms": 1, "tokens": 2}})
    assert result.mode == "rate" and result.rate == 100.0 and result.concurrency is None
    assert result.requests == 20 and result.completed == 20
    last_arrival = poisson_arrivals(100.0, seed=7, count=20)[-1]
    assert result.wall_time_s >= last_arrival
    assert result.dispatch_lag_p99_ms is not None


def test_rate_mode_with_a_duration_sends_the_seeded_schedule(server):
    expected = poisson_arrivals(40.0, seed=3, duration_s=0.5).size
    result = load(server, rate=40.0, duration_s=0.5, seed=3, extra_params={"mock": {"ttft_ms": 1, "itl_ms": 1, "tokens": 2}})
    assert result.requests == expected


def test_goodput_counts_requests_meeting_every_slo(server):
    mock = {"mock": {"ttft_ms": 30, "itl_ms": 2, "tokens": 3}}
    lenient = load(server, concurrency=2, requests=4, slo_ttft_ms=60_000, slo_tpot_ms=60_000, extra_params=mock)
    assert lenient.good_requests == 4
    assert lenient.goodput == pytest.approx(4 / lenient.wall_time_s)
    strict = load(server, concurrency=2, requests=4, slo_ttft_ms=10, extra_params=mock)  # TTFT is >= 30 ms
    assert strict.good_requests == 0 and strict.goodput == 0.0
    assert load(server, concurrency=1, requests=1, extra_params=mock).goodput is None  # no SLO given


def test_tpot_slo_without_usage_gives_no_goodput(server):
    result = load(server, concurrency=1, requests=2, slo_tpot_ms=100,
                  extra_params={"mock": {"usage": False, "ttft_ms": 1, "itl_ms": 1}})
    assert result.goodput is None and result.good_requests is None
    assert any("TPOT SLO" in note for note in result.notes)


def test_processes_split_the_load_and_are_merged(server):
    result = load(server, concurrency=4, requests=12, processes=2, engine="raw",
                  extra_params={"mock": {"ttft_ms": 10, "itl_ms": 2, "tokens": 3}})
    assert result.processes == 2
    assert (result.completed, result.failed) == (12, 0)
    assert result.ttft_ms.count == 12 and result.output_tokens == 36
    assert 1 <= result.max_in_flight <= 4


def test_rate_mode_across_processes(server):
    result = load(server, rate=200.0, requests=10, processes=2, engine="raw",
                  extra_params={"mock": {"ttft_ms": 2, "itl_ms": 1, "tokens": 2}})
    assert (result.processes, result.requests, result.completed) == (2, 10, 10)


def test_a_crashing_worker_process_is_reported():
    from pytest_modelbench.profile.load import _run_in_processes

    plan = _loadgen.ShardPlan(url="http://[broken/v1/chat/completions", model="m", secret=None, bodies=(b"{}",),
                              engine="raw", mode="concurrency", timeout=1.0, concurrency=1, request_ids=range(1))
    with pytest.raises(RuntimeError, match="a load worker process failed: ValueError"):
        _run_in_processes([plan, plan], lambda: None)


def test_httpx_clients_override(server):
    result = load(server, concurrency=4, requests=4, clients=2, engine="httpx", extra_params={"mock": {"ttft_ms": 1, "itl_ms": 1}})
    assert result.clients == 2 and result.completed == 4


def test_server_gauges_are_sampled_during_the_run(server):
    result = load(server, concurrency=3, requests=9, metrics_url=server.metrics_url, metrics_interval_s=0.02,
                  gauges=["vllm:num_requests_running", "vllm:no_such_gauge"],
                  extra_params={"mock": {"ttft_ms": 40, "itl_ms": 5, "tokens": 4}})
    stats = result.server_gauges['vllm:num_requests_running{model_name="load-model"}']
    assert stats.samples >= 2
    assert 0.0 <= stats.min <= stats.mean <= stats.max <= 3.0
    assert any("vllm:no_such_gauge" in note for note in result.notes)
    assert json.loads(json.dumps(result.to_dict()))["server_gauges"]


def test_unreachable_metrics_endpoint_is_a_note_not_an_error(server):
    result = load(server, concurrency=1, requests=1, metrics_url="http://127.0.0.1:9/metrics",
                  metrics_interval_s=0.05, extra_params={"mock": {"ttft_ms": 1, "itl_ms": 1}})
    assert result.completed == 1 and result.server_gauges == {}
    assert any("metrics scrapes failed" in note for note in result.notes)


def test_result_to_dict_is_json_builtins(server):
    result = load(server, concurrency=1, requests=2, slo_ttft_ms=1000, extra_params={"mock": {"ttft_ms": 1, "itl_ms": 1}})
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert set(data["ttft_ms"]) == {"count", "mean", "p50", "p95", "p99"}


def test_the_key_never_shows(server):
    plan = _loadgen.ShardPlan(url="http://x/v1/chat/completions", model="m", secret=Secret(KEY), bodies=(b"{}",),
                              engine="raw", mode="concurrency", timeout=1.0)
    assert KEY not in repr(plan)
    assert pickle.loads(pickle.dumps(plan)).secret.reveal() == KEY  # crosses to worker processes intact


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurrency": None, "rate": None}, "exactly one of concurrency= or rate="),
        ({"concurrency": 2, "rate": 3.0}, "exactly one of concurrency= or rate="),
        ({"requests": None}, "exactly one of requests= or duration_s="),
        ({"duration_s": 1.0}, "exactly one of requests= or duration_s="),
        ({"concurrency": 0}, "concurrency 0"),
        ({"concurrency": 2.5}, "concurrency 2.5"),
        ({"concurrency": [1, 0]}, "concurrency level 0"),
        ({"concurrency": []}, "concurrency []"),
        ({"concurrency": None, "rate": -1.0}, "rate -1.0"),
        ({"concurrency": None, "rate": math.inf}, "rate inf"),
        ({"requests": 0}, "requests 0"),
        ({"requests": None, "duration_s": 0}, "duration_s 0"),
        ({"max_tokens": 0}, "max_tokens 0"),
        ({"slo_ttft_ms": -5}, "slo_ttft_ms -5"),
        ({"slo_tpot_ms": "fast"}, "slo_tpot_ms 'fast'"),
        ({"timeout": 0}, "timeout 0"),
        ({"seed": 1.5}, "seed 1.5"),
        ({"prompts": []}, "prompts []"),
        ({"prompts": "hello"}, "prompts 'hello'"),
        ({"prompts": ["ok", 42]}, "prompts[1] 42"),
        ({"prompts": [[{"role": "user"}]]}, "prompts[0]"),
        ({"extra_params": {"model": "x"}}, "extra_params key 'model'"),
        ({"extra_params": {"bad": {1, 2}}}, "cannot be sent as JSON"),
        ({"engine": "aiohttp"}, "engine 'aiohttp' is not one of: auto, httpx, raw"),
        ({"processes": 0}, "processes 0"),
        ({"clients": -1}, "clients -1"),
        ({"base_url": "localhost:8000"}, "base_url 'localhost:8000'"),
        ({"base_url": "http://[::1/v1"}, "base_url 'http://[::1/v1'"),
        ({"base_url": "http://:80/v1"}, "base_url 'http://:80/v1'"),
        ({"model": ""}, "model ''"),
        ({"gauges": ["x"]}, "without metrics_url"),
        ({"metrics_url": "ftp://x"}, "metrics_url 'ftp://x'"),
        ({"metrics_url": "http://x/metrics", "gauges": ["bad name!"]}, "gauge 'bad name!'"),
        ({"metrics_url": "http://x/metrics", "metrics_interval_s": 0}, "metrics_interval_s 0"),
    ],
)
def test_bad_arguments_are_named(options, message):
    arguments = {"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key": None, "prompts": ["x"],
                 "concurrency": 1, "requests": 1}
    arguments.update(options)
    with pytest.raises(ValueError) as info:
        run_load(**arguments)
    assert message in str(info.value)


# --------------------------------------------------------------------------- statistics


# Reference percentiles: scipy.stats.scoreatpercentile (interpolation="fraction", i.e. linear,
# Hyndman & Fan type 7) and, for [1, 2, 3, 4], by hand: h = (n − 1)·p, x[⌊h⌋] + (h − ⌊h⌋)·(x[⌈h⌉] − x[⌊h⌋]).
@pytest.mark.parametrize(
    "values",
    [
        [1.0, 2.0, 3.0, 4.0],
        [5.0, 1.0, 9.0, 2.0, 2.0, 7.5, 3.25],
        list(np.random.default_rng(1).gamma(2.0, 30.0, size=501)),
    ],
)
def test_percentiles_are_linear_interpolation(values):
    stats = LatencyStats.of(np.array(values))
    reference = scipy.stats.scoreatpercentile(values, [50, 95, 99])
    assert [stats.p50, stats.p95, stats.p99] == pytest.approx(list(reference), rel=1e-12)
    assert stats.mean == pytest.approx(float(np.mean(values)), rel=1e-12)
    assert stats.count == len(values)


def test_percentiles_by_hand():
    stats = LatencyStats.of(np.array([4.0, 1.0, 3.0, 2.0]))
    assert (stats.p50, stats.p95, stats.p99) == pytest.approx((2.5, 3.85, 3.97), rel=1e-12)


def test_stats_of_one_sample_and_of_identical_samples():
    assert LatencyStats.of(np.array([7.0])) == LatencyStats(count=1, mean=7.0, p50=7.0, p95=7.0, p99=7.0)
    assert LatencyStats.of(np.full(5, 3.0)) == LatencyStats(count=5, mean=3.0, p50=3.0, p95=3.0, p99=3.0)


def test_stats_of_nothing_are_none():
    empty = LatencyStats(count=0, mean=None, p50=None, p95=None, p99=None)
    assert LatencyStats.of(np.zeros(0)) == empty
    assert LatencyStats.of(np.array([math.nan])) == empty


def test_inter_token_latencies_stay_within_each_request():
    times = np.array([1.0, 1.5, 1.75, 9.0, 9.25])  # request 0: 3 chunks, request 1: none, request 2: 2
    gaps = inter_token_latencies(times, np.array([3, 0, 2]))
    assert gaps.tolist() == [0.5, 0.25, 0.25]
    assert inter_token_latencies(np.array([2.0]), np.array([1])).size == 0


def test_max_in_flight_against_a_brute_force_count():
    rng = np.random.default_rng(5)
    starts = rng.uniform(0, 10, size=200)
    ends = starts + rng.exponential(0.5, size=200)
    probes = np.concatenate([starts, ends])
    brute = max(int(((starts <= t) & (t < ends)).sum()) for t in probes)
    assert max_in_flight(starts, ends) == brute


def test_max_in_flight_of_touching_intervals_is_one():
    assert max_in_flight(np.array([0.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])) == 1
    assert max_in_flight(np.zeros(0), np.zeros(0)) == 0


def _summary(**changes):
    arrays = dict(
        start=0.0,
        issued=np.array([0.0, 0.0, 1.0, 1.0]),
        sent=np.array([0.0, 0.0, 1.0, 1.0]),
        first=np.array([0.1, 0.2, 1.3, math.nan]),
        end=np.array([1.1, 0.2, 2.3, 1.5]),
        ok=np.array([1, 1, 1, 0], dtype=np.int8),
        tokens=np.array([11, 1, 5, -1]),
        chunk_times=np.zeros(0), chunk_counts=np.zeros(4, dtype=np.int64),
        slo_ttft_ms=None, slo_tpot_ms=None,
    )
    arrays.update(changes)
    return summarise_requests(**arrays)


def test_tpot_and_in_flight_by_hand():
    summary = _summary()
    # Request 0: (1.1 − 0.1)/(11 − 1) = 0.1 s; request 1 has one token (no TPOT); request 2: (1.3 − 0.3)/4 = 0.25 s.
    assert summary.tpot.tolist() == pytest.approx([0.1, 0.25])
    assert summary.tokens.tolist() == [11, 1, 5]
    assert summary.wall_s == 2.3 and summary.completed == 3 and summary.requests == 4
    # In flight: durations 1.1 + 0.2 + 1.3 + 0.5 = 3.1 over 2.3 s.
    assert summary.mean_in_flight == pytest.approx(3.1 / 2.3)
    assert summary.max_in_flight == 3


def test_goodput_follows_vllm():
    # TTFT SLO 250 ms: requests 0 (100 ms) and 1 (200 ms) pass, request 2 (300 ms) fails.
    assert _summary(slo_ttft_ms=250).good == 2
    # TPOT SLO 150 ms: request 0 (100 ms) passes, request 1 has one token (TPOT 0 as in vLLM), request 2 (250) fails.
    assert _summary(slo_tpot_ms=150).good == 2
    assert _summary(slo_ttft_ms=150, slo_tpot_ms=150).good == 1
    assert _summary(slo_ttft_ms=1e9, slo_tpot_ms=1e9).good == 3  # failed requests never count


def test_no_completed_requests():
    summary = _summary(ok=np.zeros(4, dtype=np.int8), slo_ttft_ms=100)
    assert summary.completed == 0 and summary.good == 0 and summary.tokens is None
    assert summary.e2e.size == 0


def test_all_requests_completed_with_unknown_tokens():
    summary = _summary(ok=np.ones(4, dtype=np.int8), tokens=np.array([-1, -1, -1, -1]))
    assert summary.tokens is None and summary.tpot is None


def test_poisson_arrivals_are_seeded_and_exponential():
    arrivals = poisson_arrivals(200.0, seed=11, count=4000)
    assert arrivals[0] == 0.0 and np.all(np.diff(arrivals) > 0)
    assert np.array_equal(arrivals, poisson_arrivals(200.0, seed=11, count=4000))
    assert not np.array_equal(arrivals, poisson_arrivals(200.0, seed=12, count=4000))
    gaps = np.diff(arrivals)
    # Reference: scipy's Kolmogorov–Smirnov test against the exponential with mean 1/rate.
    assert scipy.stats.kstest(gaps, "expon", args=(0, 1 / 200.0)).pvalue > 0.001
    within = poisson_arrivals(200.0, seed=11, duration_s=5.0)
    assert within.max() < 5.0 and 800 < within.size < 1200  # Poisson(1000): ±6 sd


def test_shard_layout():
    assert shard_layout("httpx", concurrency=1, cpus=8) == shard_layout("httpx", concurrency=1, processes=1, clients=1, cpus=8)
    assert shard_layout("httpx", concurrency=256, cpus=2).processes == 2
    assert shard_layout("httpx", concurrency=256, cpus=16).processes == 8
    assert shard_layout("httpx", concurrency=256, cpus=4).processes == 4
    assert shard_layout("httpx", concurrency=64, cpus=8) == ShardLayout(processes=2, clients_per_process=8)
    assert shard_layout("raw", concurrency=256, cpus=8).processes == 1
    assert shard_layout("raw", concurrency=3, processes=8, cpus=8).processes == 3  # never more than streams
    assert shard_layout("raw", rate=2500.0, cpus=8).processes == 3
    # A server on this machine keeps one CPU for itself.
    assert shard_layout("httpx", concurrency=256, cpus=2, local_server=True).processes == 1
    assert shard_layout("httpx", concurrency=256, cpus=8, local_server=True).processes == 7
    assert shard_layout("httpx", concurrency=256, cpus=1, local_server=True).processes == 1


def _outcome(cpu_s, run_s, lags):
    outcome = _loadgen.ShardOutcome(pid=1)
    outcome.cpu_s, outcome.run_s = cpu_s, run_s
    return outcome, np.array(lags)


def test_self_check_flags_a_busy_client():
    outcome, lags = _outcome(cpu_s=0.95, run_s=1.0, lags=[0.1] * 100)
    flagged, reason, busiest = _self_check([outcome], lags, None, "httpx", 1)
    assert flagged and busiest == pytest.approx(0.95) and "95% of a CPU" in reason


def test_self_check_flags_event_loop_lag_and_late_arrivals():
    outcome, lags = _outcome(cpu_s=0.1, run_s=1.0, lags=[0.1] * 90 + [40.0] * 10)
    flagged, reason, _ = _self_check([outcome], lags, np.array([0.0] * 90 + [30.0] * 10), "raw", 1)
    assert flagged and "event-loop lag" in reason and "issued late" in reason
    assert "waiting for one" in reason  # little CPU used: the CPUs were busy with other work


def test_self_check_passes_a_relaxed_client():
    outcome, lags = _outcome(cpu_s=0.2, run_s=1.0, lags=[0.2] * 100)
    assert _self_check([outcome], lags, np.zeros(10), "raw", 1) == (False, None, pytest.approx(0.2))
    assert CPU_BUSY_LIMIT > 0.2


# --------------------------------------------------------------------------- raw HTTP client


class _Transport:
    def __init__(self):
        self.written = []
        self.closed = False

    def write(self, data):
        self.written.append(data)

    def close(self):
        self.closed = True


def _exchange(pieces, *, split=None):
    async def run():
        conn = _loadgen._RawConnection()
        conn.connection_made(_Transport())
        body = []
        waiter = conn.request(b"GET / HTTP/1.1\r\n\r\n", lambda data, at: body.append(data))
        data = b"".join(pieces)
        chunks = [data[i:i + split] for i in range(0, len(data), split)] if split else pieces
        for chunk in chunks:
            conn.data_received(chunk)
        if not waiter.done():
            conn.connection_lost(None)
        await asyncio.sleep(0)
        return conn, b"".join(body), waiter

    return asyncio.run(run())


CHUNKED = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"5\r\nhello\r\n", b"6;ext=1\r\n world\r\n", b"0\r\n\r\n"]


@pytest.mark.parametrize("split", [None, 1, 3, 7])
def test_raw_client_reads_chunked_bodies_in_any_split(split):
    conn, body, waiter = _exchange(CHUNKED, split=split)
    assert body == b"hello world" and waiter.result() > 0 and conn.state == "idle" and not conn.closed


def test_raw_client_reads_sized_bodies_and_skips_interim_responses():
    conn, body, _ = _exchange([b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd"], split=2)
    assert body == b"abcd" and conn.state == "idle"


def test_raw_client_reads_until_close_and_then_closes():
    conn, body, waiter = _exchange([b"HTTP/1.0 200 OK\r\n\r\nstream until close"])
    assert body == b"stream until close" and waiter.done() and conn.closed


def test_raw_client_honours_connection_close():
    conn, _, _ = _exchange([b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx"])
    assert conn.closed


def test_raw_client_keeps_error_bodies_apart():
    conn, body, _ = _exchange([b"HTTP/1.1 503 Busy\r\nContent-Length: 7\r\n\r\nno room"])
    assert (conn.status, conn.reason, bytes(conn.error_body), body) == (503, "Busy", b"no room", b"")


def test_raw_client_fails_on_a_cut_body_and_a_bad_status_line():
    _, _, waiter = _exchange([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"])
    assert isinstance(waiter.exception(), ConnectionError)
    _, _, waiter = _exchange([b"SPDY/3 200 OK\r\n\r\n"])
    assert "malformed HTTP response" in str(waiter.exception())


# --------------------------------------------------------------------------- Prometheus


# The example of the Prometheus text exposition format documentation
# (https://prometheus.io/docs/instrumenting/exposition_formats/#text-format-example).
EXPOSITION_EXAMPLE = r"""
# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320
"""


def test_prometheus_documentation_example():
    page = parse_prometheus_text(EXPOSITION_EXAMPLE)
    assert page.types == {"http_requests_total": "counter", "http_request_duration_seconds": "histogram"}
    by_series = {sample.series: sample for sample in page.samples}
    assert len(page.samples) == 10
    first = by_series['http_requests_total{code="200",method="post"}']
    assert (first.value, first.timestamp_ms, first.labels) == (1027.0, 1395066363000, (("method", "post"), ("code", "200")))
    assert by_series['http_requests_total{code="400",method="post"}'].value == 3.0
    escaped = next(s for s in page.samples if s.name == "msdos_file_access_time_seconds")
    assert dict(escaped.labels) == {"path": "C:\\DIR\\FILE.TXT", "error": 'Cannot find file:\n"FILE.TXT"'}
    assert escaped.value == 1.458255915e9
    assert by_series["metric_without_timestamp_and_labels"].value == 12.47
    weird = by_series['something_weird{problem="division by zero"}']
    assert weird.value == math.inf and weird.timestamp_ms == -3982045
    assert by_series['http_request_duration_seconds_bucket{le="+Inf"}'].value == 144320.0


def test_prometheus_special_values_and_trailing_comma():
    page = parse_prometheus_text('a{x="1",} NaN\nb -Inf\nc\t2.5e-3\r\n')
    values = [sample.value for sample in page.samples]
    assert math.isnan(values[0]) and values[1:] == [-math.inf, 0.0025]
    assert page.samples[0].labels == (("x", "1"),)


@pytest.mark.parametrize(
    "line",
    ["9metric 1", "metric", "metric{a=1} 2", 'metric{a="1" 2', "metric one", "metric 1 2 3", 'metric{a="1"}2'],
)
def test_prometheus_bad_lines_are_named(line):
    with pytest.raises(PrometheusFormatError) as info:
        parse_prometheus_text(f"ok 1\n{line}\n")
    assert "line 2" in str(info.value) and line[:10] in str(info.value)


def test_gauge_selectors_match_names_and_labels():
    page = parse_prometheus_text(
        'vllm:num_requests_running{model_name="a"} 3\nvllm:num_requests_running{model_name="b"} 5\n'
    )
    every = GaugeSelector.parse("vllm:num_requests_running")
    only_b = GaugeSelector.parse('vllm:num_requests_running{model_name="b"}')
    assert [s.value for s in page.samples if every.matches(s)] == [3.0, 5.0]
    assert [s.value for s in page.samples if only_b.matches(s)] == [5.0]


def test_gauge_summary():
    assert summarise([1.0, 3.0, math.nan, 2.0]).to_dict() == {"samples": 4, "min": 1.0, "mean": 2.0, "max": 3.0}
    assert summarise([math.nan]).to_dict() == {"samples": 1, "min": None, "mean": None, "max": None}


def test_gauge_sampler_with_a_mock_transport():
    import httpx

    pages = iter(["g 1\n", "not a page at all {\n", "g 5\n", "g 3\n"])

    def handler(request):
        return httpx.Response(200, text=next(pages, "g 3\n"))

    sampler = GaugeSampler("http://metrics/metrics", [GaugeSelector.parse("g")], 60.0,
                           client=httpx.Client(transport=httpx.MockTransport(handler)))
    sampler.scrape_once()
    sampler.scrape_once()
    sampler.scrape_once()
    sampler.start()  # scrapes once more at start and at stop
    report = sampler.stop()
    assert report.scrapes == 4 and report.failures == 1 and "line 1" in report.first_failure
    assert report.gauges["g"].to_dict() == {"samples": 4, "min": 1.0, "mean": 3.0, "max": 5.0}
    assert report.missing == ()


class _FakeConnection:
    """Stands in for _RawConnection: fails before any byte, or answers with a small stream."""

    def __init__(self, fail):
        self.fail = fail
        self.closed = False
        self.state = "idle"
        self.status = 0
        self.reason = "OK"
        self.received = 0
        self.error_body = bytearray()
        self.requests = 0

    def request(self, data, on_body):
        self.requests += 1
        waiter = asyncio.get_running_loop().create_future()
        if self.fail:
            waiter.set_exception(ConnectionError("connection closed by the server before the response"))
        else:
            self.status, self.received = 200, 100
            on_body(b'data: {"choices":[{"delta":{"content":"x"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n', 1.0)
            waiter.set_result(2.0)
        return waiter

    def close(self):
        self.closed = True


def _raw_engine(connections):
    plan = _loadgen.ShardPlan(url="http://127.0.0.1:9/v1/chat/completions", model="m", secret=None, bodies=(b"{}",),
                              engine="raw", mode="concurrency", timeout=5.0, concurrency=1)
    shard = _loadgen._Shard(plan, _loadgen.CallErrors(model="m", base_url=plan.url))
    engine = _loadgen._RawEngine(shard)
    fresh = iter(connections)

    async def connect():
        return next(fresh)

    engine._connect = connect
    return shard, engine


def test_raw_client_resends_once_when_a_kept_alive_connection_was_closed():
    stale, fresh = _FakeConnection(fail=True), _FakeConnection(fail=False)
    shard, engine = _raw_engine([fresh])
    engine.idle.append(stale)
    asyncio.run(engine.send(0, math.nan))
    assert (stale.requests, fresh.requests, stale.closed) == (1, 1, True)
    assert list(shard.outcome.ok) == [1] and shard.outcome.errors == {}
    assert engine.idle == [fresh]


def test_raw_client_does_not_resend_on_a_new_connection():
    shard, engine = _raw_engine([_FakeConnection(fail=True), _FakeConnection(fail=False)])
    asyncio.run(engine.send(0, math.nan))
    assert list(shard.outcome.ok) == [0]
    assert "connection failed" in next(iter(shard.outcome.errors))


def test_run_load_inside_a_running_event_loop(server):
    async def caller():
        return load(server, concurrency=1, requests=1, extra_params={"mock": {"ttft_ms": 1, "itl_ms": 1}})

    assert asyncio.run(caller()).completed == 1  # the shard gets its own loop in a helper thread


def test_auto_engine_gives_light_loads_to_httpx(monkeypatch):
    from pytest_modelbench.profile.load import choose_engine

    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    url = "http://10.0.0.5:8000/v1/chat/completions"
    assert choose_engine(url, concurrency=16) == "httpx"
    assert choose_engine(url, concurrency=17) == "raw"
    assert choose_engine(url, rate=50.0) == "httpx"
    assert choose_engine(url, rate=50.5) == "raw"
    monkeypatch.setenv("http_proxy", "http://proxy.internal:3128")
    assert choose_engine(url, concurrency=256) == "httpx"  # only httpx goes through proxies


def test_auto_engine_is_chosen_once_per_sweep(server):
    results = load(server, concurrency=[1, 17], requests=17, extra_params={"mock": {"ttft_ms": 1, "itl_ms": 1}})
    assert [result.engine for result in results] == ["raw", "raw"]
    assert load(server, concurrency=2, requests=2, extra_params={"mock": {"ttft_ms": 1, "itl_ms": 1}}).engine == "httpx"


def test_httpx_engine_restores_sys_modules(server):
    before = sys.modules.get("sniffio", "absent")
    load(server, concurrency=1, requests=1, engine="httpx", extra_params={"mock": {"ttft_ms": 1, "itl_ms": 1}})
    assert sys.modules.get("sniffio", "absent") == before
