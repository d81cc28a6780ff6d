"""How close run_load's TTFT and E2E are to the server's own send times.

tests/load_server.py runs in its own process (it shares neither the client's event loop nor
its GIL) and streams every answer on a fixed script: first content token 50 ms after the
request arrived, then one token every 10 ms, 32 tokens. It records, per request, with its own
``time.perf_counter()``: when the request was fully read, when the first content chunk and
the last byte were written. ``perf_counter`` is ``CLOCK_MONOTONIC`` on Linux, one clock for
all processes, so the two sides' timestamps compare directly.

Each request carries a unique prompt, which the server logs, so every measured request is
matched with the server's record of it:

    error = measured − truth, truth TTFT = first content written − request received,
                              truth E2E  = last byte written − request received

The error includes everything the client adds: loopback transit, the server's event loop
reading the request, the client's event loop noticing the bytes. Printed per engine and
concurrency level: the median and 99th percentile of the error, the self-check verdict and
the event loop's lag. Targets: median TTFT error <= 2 ms at concurrency 1, <= 5 ms at 64.

    python benchmarks/load_accuracy.py [--levels 1,64,256] [--rounds 4] [--engines httpx,raw]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from load_server import server_process  # noqa: E402

from pytest_modelbench.profile import load  # noqa: E402

TTFT_MS, ITL_MS, TOKENS = 50.0, 10.0, 32

_captured: list = []


def _capture(function):
    def wrapper(*args, **kwargs):
        outcomes, start = function(*args, **kwargs)
        _captured.append(outcomes)
        return outcomes, start

    return wrapper


# Keep the raw per-request measurements of each run (run_load returns only aggregates).
load._run_in_this_process = _capture(load._run_in_this_process)
load._run_in_processes = _capture(load._run_in_processes)


def measure(server, engine: str, level: int, rounds: int) -> str:
    requests = max(level * rounds, 30 if level == 1 else 0)
    prompts = [f"{engine}-{level}-{number}" for number in range(requests)]
    server.clear()
    _captured.clear()
    result = load.run_load(
        base_url=server.base_url, model="load-model", api_key=None, prompts=prompts,
        concurrency=level, requests=requests, engine=engine,
    )
    outcomes = _captured[-1]
    served = {row["prompt"]: row for row in server.timings()}
    ttft_errors, e2e_errors = [], []
    for outcome in outcomes:
        ids = np.frombuffer(outcome.request_id, dtype="q")
        sent = np.frombuffer(outcome.sent, dtype="d")
        first = np.frombuffer(outcome.first, dtype="d")
        end = np.frombuffer(outcome.end, dtype="d")
        ok = np.frombuffer(outcome.ok, dtype="b")
        for index, request_id in enumerate(ids):
            if not ok[index]:
                continue
            truth = served[prompts[request_id % len(prompts)]]
            ttft_errors.append((first[index] - sent[index]) - (truth["first_content_at"] - truth["received_at"]))
            e2e_errors.append((end[index] - sent[index]) - (truth["last_at"] - truth["received_at"]))
    ttft = np.array(ttft_errors) * 1000.0
    e2e = np.array(e2e_errors) * 1000.0
    flag = "CLIENT BOTTLENECK" if result.client_bottleneck else "self-check ok"
    return (
        f"{engine:5} concurrency {level:>4} ({result.processes}p, {result.completed}/{result.requests} ok): "
        f"TTFT error median {np.median(ttft):6.2f} ms p99 {np.percentile(ttft, 99):7.2f} ms | "
        f"E2E error median {np.median(e2e):6.2f} ms p99 {np.percentile(e2e, 99):7.2f} ms | "
        f"loop lag p99 {result.loop_lag_p99_ms or 0:6.1f} ms, client CPU busy {result.client_cpu_busy:4.0%} | {flag}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,64,256")
    parser.add_argument("--rounds", type=int, default=4, help="requests per level = level × rounds (>= 30)")
    parser.add_argument("--engines", default="httpx,raw")
    options = parser.parse_args()
    print(f"server script: TTFT {TTFT_MS:g} ms, ITL {ITL_MS:g} ms, {TOKENS} tokens; "
          f"{load.available_cpus()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    with server_process(ttft_ms=TTFT_MS, itl_ms=ITL_MS, tokens=TOKENS) as server:
        load.run_load(base_url=server.base_url, model="load-model", api_key=None, prompts=["warm-up"],
                      concurrency=4, requests=8, engine="raw")
        for level in (int(level) for level in options.levels.split(",")):
            for engine in options.engines.split(","):
                print(measure(server, engine, level, options.rounds), flush=True)
    print(f"load average at end {os.getloadavg()[0]:.1f}; targets: median TTFT error <= 2 ms at 1, <= 5 ms at 64")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"took {time.perf_counter() - started:.0f} s")
