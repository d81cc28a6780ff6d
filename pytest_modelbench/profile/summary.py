"""The performance profile of a model's runs: latency and TTFT percentiles, token totals, and
load-profile summaries.

Percentiles use numpy's default linear interpolation (as vLLM's benchmark_serving). A token
total is unknown (None) when any run's count is unknown, never a partial sum.
Numpy only; does not import pytest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

LOAD_METRICS = ("request_throughput", "output_token_throughput", "goodput", "error_rate", "mean_in_flight")


LOAD_LATENCIES = ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms")


def summarise_loads(levels: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (task, concurrency or rate) level: the median of each metric over the runs
    that measured it (median, so one disturbed run does not move the summary), and how many
    runs that was; flags a level where any run found the client to be the bottleneck."""
    groups: dict[tuple[str, str, Any], list[Mapping[str, Any]]] = {}
    for level in levels:
        key = (level["task"], level["mode"], level["concurrency"] if level["mode"] == "concurrency" else level["rate"])
        groups.setdefault(key, []).append(level)

    def median(values: list[Any]) -> float | None:
        known = [float(v) for v in values if v is not None]
        return float(np.median(known)) if known else None

    summary = []
    for (task, mode, value), runs in groups.items():
        entry: dict[str, Any] = {"task": task, "mode": mode, "level": value, "runs": len(runs)}
        for metric in LOAD_METRICS:
            entry[metric] = median([run.get(metric) for run in runs])
        for metric in LOAD_LATENCIES:
            entry[metric] = {
                stat: median([(run.get(metric) or {}).get(stat) for run in runs])
                for stat in ("mean", "p50", "p95", "p99")
            }
        entry["client_bottleneck"] = any(run.get("client_bottleneck") for run in runs)
        summary.append(entry)
    summary.sort(key=lambda item: (item["task"], item["mode"], item["level"]))
    return summary


def percentiles(values: np.ndarray) -> dict[str, float] | None:
    known = values[~np.isnan(values)]
    if known.size == 0:
        return None
    p50, p95, p99 = np.percentile(known, [50, 95, 99])  # linear interpolation (numpy default)
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "mean": float(known.mean())}


def token_total(values: np.ndarray) -> int | None:
    if values.size == 0 or np.isnan(values).any():
        return None
    return int(values.sum())
