"""Load profiles: serving performance of an OpenAI-compatible server under concurrent load.

Measures what vLLM's ``benchmarks/benchmark_serving.py`` and GuideLLM measure, with their
definitions (docs/load.md has the user guide). Does not import pytest.

:func:`run_load` sends streamed ``/chat/completions`` requests either from a fixed number of
concurrent senders (``concurrency``, a closed loop; a list of levels is a sweep) or at Poisson
arrival times (``rate``, an open loop), for a number of requests or a duration, and returns a
:class:`LoadResult`:

- TTFT: request sent → first chunk with non-empty content, reasoning, refusal or a tool-call
  delta (a role-only chunk does not count);
- ITL: gaps between successive content chunks of a request, pooled over requests;
- TPOT: (E2E − TTFT) / (output_tokens − 1) per request with more than one output token;
- E2E: request sent → last byte of the response;
- output tokens are the server's ``usage.completion_tokens`` (asked for with
  ``stream_options: {"include_usage": true}``); when the server gives none they are unknown,
  never counted chunks, and TPOT and token throughput are None;
- percentiles are numpy's default (linear interpolation between order statistics,
  Hyndman & Fan type 7), as vLLM reports them;
- goodput: completed requests meeting every given SLO, per second of wall time (vLLM's
  ``request_goodput``, with TPOT of a one-token request counted as 0 as vLLM does).

"Sent" is when the request's bytes are handed to the socket: after any wait for a connection
and after connection set-up, so neither lands in TTFT. The load is spread over several HTTP
clients and, when one event loop would saturate, several processes (see
:func:`shard_layout`); a self-check flags a run whose client was the bottleneck.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import math
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from ..models.providers._http import Secret, safe_url
from . import loadgen as _loadgen
from .prometheus import GaugeSampler, GaugeSelector, GaugeStats

#: Engines: "httpx" (httpx.AsyncClient), "raw" (the built-in asyncio HTTP/1.1 client) and
#: "auto" (see :func:`choose_engine`).
ENGINES = ("auto", "httpx", "raw")

#: The heaviest load "auto" gives to httpx: concurrent streams, or Poisson arrivals per second.
#: Above it httpx's CPU cost per request and per chunk makes it the bottleneck on small
#: machines (docs/load.md has the measurements).
HTTPX_MAX_STREAMS = 16
HTTPX_MAX_RATE = 50.0

#: Gauges sampled when ``metrics_url`` is given without ``gauges`` (vLLM's names; the KV-cache
#: gauge was renamed from gpu_cache_usage_perc to kv_cache_usage_perc in vLLM 0.10).
DEFAULT_GAUGES = (
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:gpu_cache_usage_perc",
    "vllm:kv_cache_usage_perc",
)

#: Body fields run_load owns.
RESERVED_PARAMS = ("messages", "model", "stream")

#: Most connections one httpx client is given; more clients are used above it. httpcore's
#: pool scans every connection (and polls each idle socket) on every request, so its cost per
#: request grows with the pool size.
CONNECTIONS_PER_HTTPX_CLIENT = 4

#: Concurrent streams one process (one event loop) takes before another process is added.
STREAMS_PER_PROCESS = {"httpx": 32, "raw": 256}

#: Poisson arrivals per second one process takes before another process is added.
RATE_PER_PROCESS = {"httpx": 250.0, "raw": 1000.0}

#: Self-check thresholds: the 99th percentile of the event loop's lag (a 10 ms ticker's
#: lateness), the share of one CPU a shard process used, and the 99th percentile of how late
#: Poisson arrivals were issued.
LOOP_LAG_LIMIT_MS = 5.0
CPU_BUSY_LIMIT = 0.9
DISPATCH_LAG_LIMIT_MS = 5.0

#: Distinct error reasons kept in a LoadResult.
ERROR_REASONS_KEPT = 5

_START_MARGIN_S = 0.02


# --------------------------------------------------------------------------- results


@dataclasses.dataclass(frozen=True, slots=True)
class LatencyStats:
    """Mean and percentiles of one latency, in milliseconds (None when there is no value).

    Percentiles are ``numpy.percentile``'s default, linear interpolation between the order
    statistics (Hyndman & Fan 1996, type 7), the definition vLLM's benchmark_serving uses.
    """

    count: int
    mean: float | None
    p50: float | None
    p95: float | None
    p99: float | None

    @classmethod
    def of(cls, values_ms: np.ndarray) -> LatencyStats:
        values_ms = values_ms[np.isfinite(values_ms)]
        if values_ms.size == 0:
            return cls(count=0, mean=None, p50=None, p95=None, p99=None)
        p50, p95, p99 = np.percentile(values_ms, [50.0, 95.0, 99.0])
        return cls(
            count=int(values_ms.size), mean=float(values_ms.mean()),
            p50=float(p50), p95=float(p95), p99=float(p99),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "mean": self.mean, "p50": self.p50, "p95": self.p95, "p99": self.p99}


_NO_STATS = LatencyStats(count=0, mean=None, p50=None, p95=None, p99=None)


@dataclasses.dataclass(frozen=True, slots=True)
class ErrorReason:
    """One reason requests failed and how many failed for it."""

    reason: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "count": self.count}


@dataclasses.dataclass(frozen=True, slots=True)
class LoadResult:
    """The measurements of one load level. Times in ms unless the name says otherwise.

    ``requests`` = ``completed`` + ``failed`` (requests issued). ``wall_time_s`` runs from the
    start to the last byte of the last request. ``mean_in_flight`` is the time-average number
    of requests in flight (issued, not yet finished: Σ durations / wall time, Little's law)
    and ``max_in_flight`` its maximum. Throughputs are per second
    of wall time, over completed requests. ``tokens_note`` says why token figures are None.
    ``goodput`` is None unless an SLO was given. ``client_bottleneck`` is set when the load
    generator itself limited the run (``client_bottleneck_reason`` says how); its latencies
    then include the client's own delays. ``server_gauges`` maps each sampled series
    (``name{labels}``) to its stats. ``notes`` lists anything else worth knowing.
    """

    mode: str
    concurrency: int | None
    rate: float | None
    engine: str
    processes: int
    clients: int
    requests: int
    completed: int
    failed: int
    error_rate: float | None
    wall_time_s: float
    mean_in_flight: float
    max_in_flight: int
    request_throughput: float
    output_tokens: int | None
    output_token_throughput: float | None
    ttft_ms: LatencyStats
    itl_ms: LatencyStats
    tpot_ms: LatencyStats
    e2e_ms: LatencyStats
    slo_ttft_ms: float | None
    slo_tpot_ms: float | None
    good_requests: int | None
    goodput: float | None
    errors: tuple[ErrorReason, ...]
    client_bottleneck: bool
    client_bottleneck_reason: str | None
    loop_lag_p99_ms: float | None
    dispatch_lag_p99_ms: float | None
    client_cpu_s: float
    client_cpu_busy: float
    client_peak_rss_mb: float
    server_gauges: Mapping[str, GaugeStats] = dataclasses.field(default_factory=dict)
    tokens_note: str | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A dict of JSON builtins (nested dicts for the latency stats and gauges)."""
        data: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, LatencyStats):
                value = value.to_dict()
            elif field.name == "errors":
                value = [reason.to_dict() for reason in value]
            elif field.name == "server_gauges":
                value = {series: stats.to_dict() for series, stats in value.items()}
            elif field.name == "notes":
                value = list(value)
            data[field.name] = value
        return data


# --------------------------------------------------------------------------- validation


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value: Any, name: str, *, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    if not _is_number(value) or value <= 0:
        raise ValueError(f"{name} {value!r} is not allowed; it must be a number > 0")
    return float(value)


def _positive_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} {value!r} is not allowed; it must be a whole number >= 1")
    return value


def _check_levels(concurrency: Any) -> list[int] | None:
    if concurrency is None:
        return None
    if _is_int(concurrency):
        if concurrency < 1:
            raise ValueError(f"concurrency {concurrency!r} is not allowed; it must be a whole number >= 1")
        levels = [concurrency]
    elif isinstance(concurrency, Sequence) and not isinstance(concurrency, (str, bytes)):
        levels = list(concurrency)
        if not levels:
            raise ValueError("concurrency [] is not allowed; give a whole number >= 1 or a non-empty list of them")
    else:
        raise ValueError(
            f"concurrency {concurrency!r} is not allowed; give a whole number >= 1 or a list of them for a sweep"
        )
    for level in levels:
        if not _is_int(level) or level < 1:
            raise ValueError(
                f"concurrency level {level!r} is not allowed; every level must be a whole number >= 1"
            )
    return levels


def _messages(prompt: Any, position: int) -> list[dict[str, Any]]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    if (
        isinstance(prompt, Sequence) and prompt
        and all(isinstance(m, Mapping) and "role" in m and "content" in m for m in prompt)
    ):
        return [dict(m) for m in prompt]
    text = repr(prompt)
    raise ValueError(
        f"prompts[{position}] {text[:80] + ('...' if len(text) > 80 else '')} is not allowed; a prompt is a "
        "string or a non-empty list of {'role': ..., 'content': ...} messages"
    )


def _bodies(
    model: str, prompts: Sequence[Any], max_tokens: int | None, extra_params: Mapping[str, Any]
) -> tuple[bytes, ...]:
    params = {key: value for key, value in extra_params.items() if value is not None}
    stream_options = extra_params.get("stream_options", {"include_usage": True})
    bodies = []
    for position, prompt in enumerate(prompts):
        body: dict[str, Any] = {"model": model, "messages": _messages(prompt, position), "stream": True}
        if stream_options is not None:
            body["stream_options"] = stream_options
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        body.update({key: value for key, value in params.items() if key != "stream_options"})
        try:
            bodies.append(json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8"))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"the request body of prompts[{position}] cannot be sent as JSON: {exc}") from None
    return tuple(bodies)


def _check_url(value: Any, name: str) -> str:
    if isinstance(value, str):
        text = value.strip()
        try:
            parts = urlsplit(text)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
        except ValueError:
            valid = False
        if valid:
            return text.rstrip("/")
    raise ValueError(f"{name} {value!r} is not allowed; it must be an http:// or https:// URL")


# --------------------------------------------------------------------------- sharding


@dataclasses.dataclass(frozen=True, slots=True)
class ShardLayout:
    """How a level's load is spread: processes (one event loop each) and httpx clients in each."""

    processes: int
    clients_per_process: int


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:
        return max(os.cpu_count() or 1, 1)


def shard_layout(
    engine: str, *, concurrency: int | None = None, rate: float | None = None,
    processes: int | None = None, clients: int | None = None, cpus: int | None = None,
    local_server: bool = False,
) -> ShardLayout:
    """The automatic layout, or the given overrides.

    Processes: one per :data:`STREAMS_PER_PROCESS` concurrent streams (or
    :data:`RATE_PER_PROCESS` arrivals per second), at most one per available CPU (one CPU
    fewer when the server is on this machine, ``local_server``: a load process competing
    with the server for a CPU makes both slower) and at most one per concurrent stream.
    httpx clients per process: one per :data:`CONNECTIONS_PER_HTTPX_CLIENT` streams of the
    process (rate mode: 8); the raw engine has no pool and uses 1.
    """
    cpus = available_cpus() if cpus is None else cpus
    if processes is None:
        if concurrency is not None:
            wanted = math.ceil(concurrency / STREAMS_PER_PROCESS[engine])
        else:
            wanted = math.ceil((rate or 0.0) / RATE_PER_PROCESS[engine])
        usable = cpus - 1 if local_server else cpus
        processes = max(1, min(wanted, usable))
    if concurrency is not None:
        processes = min(processes, concurrency)
    if clients is None:
        if engine == "raw":
            clients = 1
        elif concurrency is not None:
            per_process = math.ceil(concurrency / processes)
            clients = max(1, math.ceil(per_process / CONNECTIONS_PER_HTTPX_CLIENT))
        else:
            clients = 8
    return ShardLayout(processes=processes, clients_per_process=clients)


def choose_engine(url: str, *, concurrency: int | None = None, rate: float | None = None) -> str:
    """The engine ``engine="auto"`` uses for a whole call (every level of a sweep alike).

    httpx, the HTTP client of the providers, for light loads (at most
    :data:`HTTPX_MAX_STREAMS` concurrent streams or :data:`HTTPX_MAX_RATE` arrivals per
    second) and whenever a proxy from the environment applies to ``url`` (the raw engine does
    not do proxies); the raw engine for heavier loads.
    """
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    if (proxies.get(parts.scheme) or proxies.get("all")) and not urllib.request.proxy_bypass(parts.hostname or ""):
        return "httpx"
    heavy = (concurrency or 0) > HTTPX_MAX_STREAMS or (rate or 0.0) > HTTPX_MAX_RATE
    return "raw" if heavy else "httpx"


def _is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def poisson_arrivals(
    rate: float, *, seed: int, count: int | None = None, duration_s: float | None = None
) -> np.ndarray:
    """Arrival offsets (s) of a Poisson process: exponential gaps of mean 1/rate, first at 0.

    A Poisson process has independent exponential inter-arrival times (vLLM's
    benchmark_serving draws its request intervals the same way, with burstiness 1; GuideLLM's
    ``poisson`` profile too). Seeded with ``numpy.random.default_rng(seed)``, so the same
    arguments give the same schedule. Either ``count`` arrivals or those before ``duration_s``.
    """
    rng = np.random.default_rng(seed)
    if count is not None:
        gaps = rng.exponential(1.0 / rate, size=max(count - 1, 0))
        return np.concatenate([[0.0], np.cumsum(gaps)])
    assert duration_s is not None
    pieces = [np.zeros(1)]
    last = 0.0
    block = max(int(rate * duration_s * 1.2) + 16, 16)
    while last < duration_s:
        offsets = last + np.cumsum(rng.exponential(1.0 / rate, size=block))
        pieces.append(offsets)
        last = float(offsets[-1])
    arrivals = np.concatenate(pieces)
    return arrivals[arrivals < duration_s]


def _plans(
    *, url: str, model: str, secret: Secret | None, bodies: tuple[bytes, ...], engine: str,
    timeout: float, layout: ShardLayout, concurrency: int | None, arrivals: np.ndarray | None,
    requests: int | None, duration_s: float | None,
) -> list[_loadgen.ShardPlan]:
    count = layout.processes
    common = dict(url=url, model=model, secret=secret, bodies=bodies, engine=engine, timeout=timeout,
                  clients=layout.clients_per_process)
    plans = []
    if arrivals is not None:
        for shard in range(count):
            ids = tuple(range(shard, len(arrivals), count))
            plans.append(_loadgen.ShardPlan(
                mode="rate", request_ids=ids, arrivals=tuple(arrivals[shard::count].tolist()),
                concurrency=0, **common,
            ))
        return plans
    assert concurrency is not None
    shares = [concurrency // count + (1 if shard < concurrency % count else 0) for shard in range(count)]
    bounds = [0]
    running = 0
    for share in shares:
        running += share
        bounds.append((requests or 0) * running // concurrency)
    for shard, share in enumerate(shares):
        plans.append(_loadgen.ShardPlan(
            mode="concurrency", concurrency=share,
            request_ids=range(bounds[shard], bounds[shard + 1]) if requests is not None else (),
            duration_s=duration_s, first_id=shard, id_step=count, **common,
        ))
    return plans


# --------------------------------------------------------------------------- running shards


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _run_in_processes(
    plans: list[_loadgen.ShardPlan], on_start: Any
) -> tuple[list[_loadgen.ShardOutcome], float]:
    stderr_files = [tempfile.TemporaryFile() for _ in plans]
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "pytest_modelbench.profile.loadgen"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr_file, env=_worker_env(),
        )
        for stderr_file in stderr_files
    ]
    outcomes: list[_loadgen.ShardOutcome | None] = [None] * len(plans)
    start = math.nan
    early_exit = False
    try:
        for worker, plan in zip(workers, plans):
            _loadgen.write_frame(worker.stdin, pickle.dumps(plan, protocol=pickle.HIGHEST_PROTOCOL))
        for number, worker in enumerate(workers):
            frame = _read_worker_frame(worker)
            if frame != b"READY":
                outcomes[number] = pickle.loads(frame)
        on_start()
        start = time.perf_counter() + _START_MARGIN_S
        for number, worker in enumerate(workers):
            if outcomes[number] is None:
                _loadgen.write_frame(worker.stdin, struct.pack("<d", start))
        for number, worker in enumerate(workers):
            if outcomes[number] is None:
                outcomes[number] = pickle.loads(_read_worker_frame(worker))
    except (EOFError, struct.error, BrokenPipeError):
        early_exit = True
    finally:
        for worker in workers:
            try:
                worker.stdin.close()
            except OSError:
                pass
        stderr_tails = []
        for worker, stderr_file in zip(workers, stderr_files):
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            worker.stdout.close()
            stderr_file.seek(0)
            stderr_tails.append(stderr_file.read().decode("utf-8", "replace")[-2000:])
            stderr_file.close()
    for outcome, tail in zip(outcomes, stderr_tails):
        if outcome is None or outcome.crashed:
            reason = outcome.crashed if outcome is not None else (
                "it exited early" if early_exit else "no result"
            )
            raise RuntimeError(f"a load worker process failed: {reason}\n{tail}".rstrip())
    return [outcome for outcome in outcomes if outcome is not None], start


def _read_worker_frame(worker: subprocess.Popen) -> bytes:
    return _loadgen.read_frame(worker.stdout)


def _run_in_this_process(
    plan: _loadgen.ShardPlan, on_start: Any
) -> tuple[list[_loadgen.ShardOutcome], float]:
    started: list[float] = []

    def start() -> float:
        on_start()
        at = time.perf_counter() + _START_MARGIN_S / 4
        started.append(at)
        return at

    outcome = _loadgen.run_shard(plan, start)
    return [outcome], started[0]


# --------------------------------------------------------------------------- statistics


def _merged(outcomes: Sequence[_loadgen.ShardOutcome], name: str, dtype: str) -> np.ndarray:
    arrays = [np.frombuffer(getattr(outcome, name), dtype=dtype) for outcome in outcomes]
    arrays = [a for a in arrays if a.size]
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)


def max_in_flight(starts: np.ndarray, ends: np.ndarray) -> int:
    """Most intervals [start, end) open at once (an end at the same instant closes first)."""
    if starts.size == 0:
        return 0
    times = np.concatenate([starts, ends])
    steps = np.concatenate([np.ones(starts.size, dtype=np.int64), -np.ones(ends.size, dtype=np.int64)])
    order = np.lexsort((steps, times))
    return int(np.cumsum(steps[order]).max())


def inter_token_latencies(chunk_times: np.ndarray, chunk_counts: np.ndarray) -> np.ndarray:
    """Gaps between successive content chunks within each request (s), pooled.

    ``chunk_times`` holds each request's chunk arrival times one request after the other and
    ``chunk_counts`` how many belong to each request (vLLM's ``itl`` lists, flattened).
    """
    if chunk_times.size < 2:
        return np.zeros(0)
    owner = np.repeat(np.arange(chunk_counts.size), chunk_counts)
    same_request = owner[1:] == owner[:-1]
    return np.diff(chunk_times)[same_request]


@dataclasses.dataclass(frozen=True, slots=True)
class _Summary:
    """The numbers computed from merged measurements (all times in seconds)."""

    requests: int
    completed: int
    wall_s: float
    mean_in_flight: float
    max_in_flight: int
    ttft: np.ndarray
    itl: np.ndarray
    e2e: np.ndarray
    tpot: np.ndarray | None
    tokens: np.ndarray | None
    good: int | None
    goodput_note: str | None


def summarise_requests(
    *, start: float, issued: np.ndarray, sent: np.ndarray, first: np.ndarray, end: np.ndarray,
    ok: np.ndarray, tokens: np.ndarray, chunk_times: np.ndarray, chunk_counts: np.ndarray,
    slo_ttft_ms: float | None, slo_tpot_ms: float | None,
) -> _Summary:
    """Per-request arrays → the serving metrics (definitions: vLLM benchmark_serving).

    ``tokens`` is -1 where the server reported no usage. TPOT is defined for requests with
    more than one output token; for goodput a one-token request's TPOT is 0, as in vLLM's
    ``calculate_metrics``.
    """
    ok = ok.astype(bool)
    requests = int(ok.size)
    completed = int(ok.sum())
    wall = float(end.max() - start) if requests else 0.0
    mean_in_flight = float((end - issued).sum() / wall) if wall > 0 else 0.0
    ttft_all = first - sent  # NaN where no content arrived or the request failed
    e2e = (end - sent)[ok]
    ttft = ttft_all[ok]
    itl = inter_token_latencies(chunk_times, chunk_counts)
    done_tokens = tokens[ok]
    known = bool(done_tokens.size) and bool((done_tokens >= 0).all())
    tpot = None
    tpot_for_goodput = None
    if known:
        several = done_tokens > 1
        tpot_for_goodput = np.zeros(done_tokens.size)
        tpot_for_goodput[several] = (e2e[several] - ttft[several]) / (done_tokens[several] - 1)
        tpot = tpot_for_goodput[several & np.isfinite(tpot_for_goodput)]
    good = None
    note = None
    if slo_ttft_ms is not None or slo_tpot_ms is not None:
        meets = np.ones(completed, dtype=bool)
        if slo_ttft_ms is not None:
            meets &= np.nan_to_num(ttft, nan=np.inf) * 1000.0 <= slo_ttft_ms
        if slo_tpot_ms is not None:
            if tpot_for_goodput is None:
                meets = None
                note = "goodput is None: a TPOT SLO was given but the server reported no output token counts"
            else:
                meets &= np.nan_to_num(tpot_for_goodput, nan=np.inf) * 1000.0 <= slo_tpot_ms
        good = None if meets is None else int(meets.sum())
    return _Summary(
        requests=requests, completed=completed, wall_s=wall, mean_in_flight=mean_in_flight,
        max_in_flight=max_in_flight(issued, end), ttft=ttft, itl=itl, e2e=e2e, tpot=tpot,
        tokens=done_tokens if known else None, good=good, goodput_note=note,
    )


def _percentile_or_none(values: np.ndarray, q: float) -> float | None:
    return float(np.percentile(values, q)) if values.size else None


def _self_check(
    outcomes: Sequence[_loadgen.ShardOutcome], lags_ms: np.ndarray, dispatch_lag_ms: np.ndarray | None,
    engine: str, processes: int,
) -> tuple[bool, str | None, float]:
    """Whether the client limited the run, and why (None when it did not)."""
    reasons = []
    busiest = 0.0
    for outcome in outcomes:
        busy = outcome.cpu_s / outcome.run_s if outcome.run_s > 0 else 0.0
        busiest = max(busiest, busy)
        if busy >= CPU_BUSY_LIMIT and outcome.run_s >= 0.2:
            reasons.append(f"a load process (pid {outcome.pid}) used {busy:.0%} of a CPU")
    lag_p99 = _percentile_or_none(lags_ms, 99.0)
    if lag_p99 is not None and lag_p99 > LOOP_LAG_LIMIT_MS:
        reasons.append(f"event-loop lag p99 {lag_p99:.1f} ms > {LOOP_LAG_LIMIT_MS:g} ms")
    if dispatch_lag_ms is not None and dispatch_lag_ms.size:
        late = float(np.percentile(dispatch_lag_ms, 99.0))
        if late > DISPATCH_LAG_LIMIT_MS:
            reasons.append(f"Poisson arrivals were issued late (p99 {late:.1f} ms > {DISPATCH_LAG_LIMIT_MS:g} ms)")
    if not reasons:
        return False, None, busiest
    advice = []
    if busiest < CPU_BUSY_LIMIT / 2:
        try:
            load = f"load average {os.getloadavg()[0]:.1f} on {available_cpus()} CPUs"
        except OSError:
            load = f"{available_cpus()} CPUs"
        reasons.append(
            f"the load processes used at most {busiest:.0%} of a CPU, so they were waiting for one "
            f"({load}: other work, and the server if it runs here, compete for them)"
        )
        advice.append("a machine (or CPUs) not shared with other work")
    if processes < available_cpus():
        advice.append("more processes (processes=...)")
    if engine == "httpx":
        advice.append("engine='raw'")
    advice.append("a lower load")
    reason = "; ".join(reasons) + "; latencies include the client's own delays — try " + " or ".join(advice)
    return True, reason, busiest


# --------------------------------------------------------------------------- the API


def run_load(
    *,
    base_url: str,
    model: str,
    api_key: str | None,
    prompts: Sequence[str | list[dict]],
    concurrency: int | Sequence[int] | None = None,
    rate: float | None = None,
    requests: int | None = None,
    duration_s: float | None = None,
    max_tokens: int | None = None,
    slo_ttft_ms: float | None = None,
    slo_tpot_ms: float | None = None,
    timeout: float = 60.0,
    seed: int = 0,
    extra_params: dict | None = None,
    engine: str = "auto",
    processes: int | None = None,
    clients: int | None = None,
    metrics_url: str | None = None,
    gauges: Sequence[str] | None = None,
    metrics_interval_s: float = 1.0,
) -> LoadResult | list[LoadResult]:
    """Put a load on ``{base_url}/chat/completions`` and measure it.

    Give exactly one of ``concurrency`` (senders sending back to back; a list of levels runs a
    sweep and returns one result per level, in order) or ``rate`` (Poisson arrivals per second,
    seeded with ``seed``), and exactly one of ``requests`` (per level) or ``duration_s`` (per
    level; no request is issued after it, those in flight finish). Request ``i`` sends
    ``prompts[i % len(prompts)]`` (a string or a list of chat messages) with ``max_tokens``
    and ``extra_params`` merged into the body (``stream_options`` may be overridden, or set to
    None to leave it out). Requests are not retried: failures are counted and their first
    reasons kept. ``timeout`` bounds each request.

    ``engine``: ``"httpx"``, ``"raw"`` or ``"auto"`` (:func:`choose_engine`; docs/load.md
    explains the choice). ``processes`` / ``clients`` override the automatic layout
    (:func:`shard_layout`). ``metrics_url``: a Prometheus text endpoint (such as vLLM's
    ``/metrics``) scraped every ``metrics_interval_s`` during each level for ``gauges``
    (names or ``name{label="value"}`` selectors; default :data:`DEFAULT_GAUGES`).
    """
    url = _check_url(base_url, "base_url") + "/chat/completions"
    if not isinstance(model, str) or not model.strip():
        raise ValueError(f"model {model!r} is not allowed; it must be a non-empty string")
    if api_key is not None and not isinstance(api_key, str):
        raise ValueError(f"api_key of type {type(api_key).__name__} is not allowed; give a string or None")
    if isinstance(prompts, (str, bytes)) or not isinstance(prompts, Sequence) or len(prompts) == 0:
        text = repr(prompts)
        raise ValueError(
            f"prompts {text[:80]} is not allowed; give a non-empty list of prompt strings or message lists"
        )
    if (concurrency is None) == (rate is None):
        raise ValueError(
            f"give exactly one of concurrency= or rate=, got concurrency={concurrency!r}, rate={rate!r}"
        )
    if (requests is None) == (duration_s is None):
        raise ValueError(
            f"give exactly one of requests= or duration_s=, got requests={requests!r}, duration_s={duration_s!r}"
        )
    levels = _check_levels(concurrency)
    rate = _positive(rate, "rate")
    requests = _positive_int(requests, "requests")
    duration_s = _positive(duration_s, "duration_s")
    max_tokens = _positive_int(max_tokens, "max_tokens")
    slo_ttft_ms = _positive(slo_ttft_ms, "slo_ttft_ms")
    slo_tpot_ms = _positive(slo_tpot_ms, "slo_tpot_ms")
    timeout_s = _positive(timeout, "timeout", allow_none=False)
    assert timeout_s is not None
    if not _is_int(seed):
        raise ValueError(f"seed {seed!r} is not allowed; it must be a whole number")
    if extra_params is None:
        extra_params = {}
    if not isinstance(extra_params, Mapping) or not all(isinstance(key, str) for key in extra_params):
        text = repr(extra_params)
        raise ValueError(f"extra_params {text[:80]} is not allowed; it must be a dict of name: value")
    reserved = sorted(set(extra_params) & set(RESERVED_PARAMS))
    if reserved:
        raise ValueError(
            f"extra_params key {reserved[0]!r} is not allowed; run_load sets {', '.join(RESERVED_PARAMS)} itself"
        )
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r} is not one of: {', '.join(ENGINES)}")
    processes = _positive_int(processes, "processes")
    clients = _positive_int(clients, "clients")
    selectors: list[GaugeSelector] = []
    if metrics_url is not None:
        metrics_url = _check_url(metrics_url, "metrics_url")
        if gauges is None:
            gauges = DEFAULT_GAUGES
        if isinstance(gauges, str) or not isinstance(gauges, Sequence) or not gauges:
            raise ValueError(f"gauges {gauges!r} is not allowed; give a non-empty list of metric names")
        selectors = [GaugeSelector.parse(gauge) for gauge in gauges]
        _positive(metrics_interval_s, "metrics_interval_s", allow_none=False)
    elif gauges is not None:
        raise ValueError(f"gauges {gauges!r} were given without metrics_url; give the URL of the /metrics page too")

    if engine == "auto":
        engine = choose_engine(url, concurrency=max(levels) if levels else None, rate=rate)
    bodies = _bodies(model, prompts, max_tokens, extra_params)
    secret = Secret(api_key) if api_key else None
    common = dict(
        url=url, model=model, secret=secret, bodies=bodies, engine=engine, timeout=timeout_s,
        requests=requests, duration_s=duration_s, slo_ttft_ms=slo_ttft_ms, slo_tpot_ms=slo_tpot_ms,
        processes=processes, clients=clients, metrics_url=metrics_url, selectors=selectors,
        metrics_interval_s=float(metrics_interval_s),
    )
    if levels is None:
        assert rate is not None
        return _run_level(concurrency=None, rate=rate, seed=seed, **common)
    results = [_run_level(concurrency=level, rate=None, seed=seed, **common) for level in levels]
    return results if isinstance(concurrency, Sequence) else results[0]


def _run_level(
    *, url: str, model: str, secret: Secret | None, bodies: tuple[bytes, ...], engine: str,
    timeout: float, concurrency: int | None, rate: float | None, seed: int, requests: int | None,
    duration_s: float | None, slo_ttft_ms: float | None, slo_tpot_ms: float | None,
    processes: int | None, clients: int | None, metrics_url: str | None,
    selectors: Sequence[GaugeSelector], metrics_interval_s: float,
) -> LoadResult:
    arrivals = None
    if rate is not None:
        arrivals = poisson_arrivals(rate, seed=seed, count=requests, duration_s=duration_s)
    layout = shard_layout(
        engine, concurrency=concurrency, rate=rate, processes=processes, clients=clients,
        local_server=_is_loopback(url),
    )
    if arrivals is not None:
        layout = dataclasses.replace(layout, processes=max(1, min(layout.processes, arrivals.size)))
    plans = _plans(
        url=url, model=model, secret=secret, bodies=bodies, engine=engine, timeout=timeout,
        layout=layout, concurrency=concurrency, arrivals=arrivals, requests=requests, duration_s=duration_s,
    )
    sampler = GaugeSampler(metrics_url, selectors, metrics_interval_s) if metrics_url else None
    parent_cpu = time.process_time()
    try:
        if len(plans) == 1:
            outcomes, start = _run_in_this_process(plans[0], sampler.start if sampler else lambda: None)
            parent_cpu = 0.0  # the shard's own CPU time is this process's
        else:
            outcomes, start = _run_in_processes(plans, sampler.start if sampler else lambda: None)
            parent_cpu = time.process_time() - parent_cpu
    finally:
        report = sampler.stop() if sampler else None

    issued = _merged(outcomes, "issued", "d")
    end = _merged(outcomes, "end", "d")
    summary = summarise_requests(
        start=start, issued=issued, sent=_merged(outcomes, "sent", "d"), first=_merged(outcomes, "first", "d"),
        end=end, ok=_merged(outcomes, "ok", "i1"), tokens=_merged(outcomes, "tokens", "i8"),
        chunk_times=_merged(outcomes, "chunk_times", "d"), chunk_counts=_merged(outcomes, "chunk_counts", "i8"),
        slo_ttft_ms=slo_ttft_ms, slo_tpot_ms=slo_tpot_ms,
    )
    lags_ms = _merged(outcomes, "loop_lags", "d") * 1000.0
    dispatch_ms = None
    if rate is not None:
        scheduled = _merged(outcomes, "scheduled", "d")
        dispatch_ms = np.maximum(issued - scheduled, 0.0) * 1000.0
    bottleneck, reason, busiest = _self_check(outcomes, lags_ms, dispatch_ms, engine, len(plans))

    errors: dict[str, int] = {}
    for outcome in outcomes:
        for text, count in outcome.errors.items():
            errors[text] = errors.get(text, 0) + count
    top_errors = tuple(
        ErrorReason(reason=text, count=count)
        for text, count in sorted(errors.items(), key=lambda item: -item[1])[:ERROR_REASONS_KEPT]
    )
    notes: list[str] = []
    tokens_note = None
    wall = summary.wall_s
    output_tokens = int(summary.tokens.sum()) if summary.tokens is not None else None
    if summary.completed and summary.tokens is None:
        tokens_note = (
            "the server reported no usage.completion_tokens for some or all requests, so output tokens are "
            "unknown (chunks are not tokens): TPOT and output token throughput are None"
        )
    if summary.goodput_note:
        notes.append(summary.goodput_note)
    if concurrency is not None and requests is not None and requests < concurrency:
        notes.append(f"only {requests} requests for concurrency {concurrency}: the level was never reached")
    gauges: dict[str, GaugeStats] = {}
    if report is not None:
        gauges = dict(report.gauges)
        if report.failures:
            notes.append(
                f"{report.failures} of {report.failures + report.scrapes} metrics scrapes failed; "
                f"first: {report.first_failure}"
            )
        if report.missing:
            notes.append(f"gauges not found at {safe_url(metrics_url or '')}: {', '.join(report.missing)}")
    return LoadResult(
        mode="rate" if rate is not None else "concurrency",
        concurrency=concurrency,
        rate=rate,
        engine=engine,
        processes=len(plans),
        clients=len(plans) * layout.clients_per_process,
        requests=summary.requests,
        completed=summary.completed,
        failed=summary.requests - summary.completed,
        error_rate=(summary.requests - summary.completed) / summary.requests if summary.requests else None,
        wall_time_s=wall,
        mean_in_flight=summary.mean_in_flight,
        max_in_flight=summary.max_in_flight,
        request_throughput=summary.completed / wall if wall > 0 else 0.0,
        output_tokens=output_tokens,
        output_token_throughput=(output_tokens / wall if output_tokens is not None and wall > 0 else None),
        ttft_ms=LatencyStats.of(summary.ttft * 1000.0),
        itl_ms=LatencyStats.of(summary.itl * 1000.0),
        tpot_ms=LatencyStats.of(summary.tpot * 1000.0) if summary.tpot is not None else _NO_STATS,
        e2e_ms=LatencyStats.of(summary.e2e * 1000.0),
        slo_ttft_ms=slo_ttft_ms,
        slo_tpot_ms=slo_tpot_ms,
        good_requests=summary.good,
        goodput=None if summary.good is None else (summary.good / wall if wall > 0 else 0.0),
        errors=top_errors,
        client_bottleneck=bottleneck,
        client_bottleneck_reason=reason,
        loop_lag_p99_ms=_percentile_or_none(lags_ms, 99.0),
        dispatch_lag_p99_ms=_percentile_or_none(dispatch_ms, 99.0) if dispatch_ms is not None else None,
        client_cpu_s=float(sum(outcome.cpu_s for outcome in outcomes) + parent_cpu),
        client_cpu_busy=busiest,
        client_peak_rss_mb=sum(outcome.peak_rss_bytes for outcome in outcomes) / 2**20,
        server_gauges=gauges,
        tokens_note=tokens_note,
        notes=tuple(notes),
    )


__all__ = [
    "DEFAULT_GAUGES",
    "ENGINES",
    "ErrorReason",
    "LatencyStats",
    "LoadResult",
    "ShardLayout",
    "choose_engine",
    "inter_token_latencies",
    "max_in_flight",
    "poisson_arrivals",
    "run_load",
    "shard_layout",
]
