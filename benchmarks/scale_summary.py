"""Time and memory of scoring, rankings and head-to-head on synthetic run tables.

Usage::

    .venv/bin/python benchmarks/scale_summary.py            # 10k, 100k and 1M records
    .venv/bin/python benchmarks/scale_summary.py --sizes 10000 --bootstrap 50 --repeat 1

The tables are built directly as ``RunTable`` arrays (not via ``from_records``) so that setup
does not dominate. Models have a latent ability, tasks a difficulty; a run passes with
probability logistic(ability − difficulty) and its quality is rounded to 0.1 (so ties occur,
as with real graders); 1% of runs are errors.

Each (size, stage) runs in a fresh child process, so its peak RSS (``resource.getrusage``)
is that stage's own: "setup RSS" is the peak after building the table, "peak RSS" the peak
after the stage, "stage RSS" their difference. Time is ``time.perf_counter`` around the stage
alone; each stage runs ``--repeat`` times (default 3) and the fastest and slowest are shown. ``--tracemalloc`` adds the tracemalloc peak of the stage (it slows Python-level loops
such as Elo's, so time is then pessimistic). The "compare" stage is everything the plugin
calls (scoring, all rankings with the bootstrap, all pairs overall and per category,
consistency).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from typing import Any

import numpy as np

from pytest_modelbench.core.config import DEFAULT_CATEGORY_WEIGHTS
from pytest_modelbench.core.table import RunTable
from pytest_modelbench.compare.head_to_head import compare, head_to_head
from pytest_modelbench.profile.consistency import consistency
from pytest_modelbench.compare.rankings import rank_models, score_model

CATEGORIES = ("accuracy", "coding", "quality", "reasoning", "safety")
DIFFICULTIES = ("trivial", "easy", "medium", "hard", "expert")
MULTIPLIERS = np.array([0.5, 0.75, 1.0, 1.5, 2.0])


def synthetic_table(n_models: int, n_tasks: int, n_runs: int, seed: int = 0) -> RunTable:
    """A complete RunTable: every model runs every task ``n_runs`` times."""
    rng = np.random.default_rng(seed)
    ability = np.linspace(-1.0, 1.0, n_models)
    difficulty = rng.normal(0.0, 1.0, n_tasks)
    n = n_models * n_tasks * n_runs
    model = np.repeat(np.arange(n_models), n_tasks * n_runs)
    task = np.tile(np.repeat(np.arange(n_tasks), n_runs), n_models)
    run = np.tile(np.arange(1, n_runs + 1), n_models * n_tasks)
    p_pass = 1.0 / (1.0 + np.exp(-(ability[model] - difficulty[task])))
    passed = rng.random(n) < p_pass
    quality = np.round(np.clip(p_pass + rng.normal(0.0, 0.15, n), 0.0, 1.0), 1)
    outcome = np.where(passed, 0, 1).astype(np.int8)
    errors = rng.random(n) < 0.01
    outcome[errors] = 2
    passed &= ~errors
    quality[errors] = 0.0
    latency = rng.lognormal(6.0 + 0.1 * np.arange(n_models)[model], 0.3)
    task_category = rng.integers(0, len(CATEGORIES), n_tasks)
    task_difficulty = rng.integers(0, len(DIFFICULTIES), n_tasks)
    return RunTable(
        models=tuple(f"model-{i:02d}" for i in range(n_models)),
        tasks=tuple(f"test_task_{t:05d}" for t in range(n_tasks)),
        categories=CATEGORIES,
        model=model,
        task=task,
        run=run,
        outcome=outcome,
        passed=passed,
        quality=quality,
        latency_ms=latency,
        ttft_ms=latency / 4.0,
        input_tokens=np.full(n, 100.0),
        output_tokens=np.full(n, 50.0),
        task_category=task_category.astype(np.int64),
        task_weight=MULTIPLIERS[task_difficulty],
        task_difficulty=tuple(DIFFICULTIES[d] for d in task_difficulty),
        task_group=tuple(f"test_task_{t:05d}" for t in range(n_tasks)),
    )


def shape_for(records: int) -> tuple[int, int, int]:
    """20 models × 10 runs × (records / 200) tasks."""
    return 20, max(records // 200, 2), 10


STAGES = ("scoring", "rankings", "head_to_head", "consistency", "compare")


def run_stage(stage: str, table: RunTable, bootstrap: int, seed: int) -> Any:
    weights = dict(DEFAULT_CATEGORY_WEIGHTS)
    if stage == "scoring":
        return score_model(table, weights)
    if stage == "rankings":
        return rank_models(table, weights, bootstrap=bootstrap, seed=seed)
    if stage == "head_to_head":
        return head_to_head(table, weights, seed=seed)
    if stage == "consistency":
        return consistency(table)
    return compare(table, weights, bootstrap=bootstrap, seed=seed)


def peak_rss_mb() -> float:
    kilobytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kilobytes / 1024.0 if sys.platform != "darwin" else kilobytes / 2**20


def child(size: int, stage: str, bootstrap: int, seed: int, trace: bool, repeat: int) -> dict[str, float]:
    """Run one stage in this (fresh) process; the peak RSS then belongs to that stage.

    The stage runs ``repeat`` times and the fastest time is reported (as ``timeit`` does: on
    a shared machine the minimum is the least disturbed measurement).
    """
    table = synthetic_table(*shape_for(size), seed=seed)
    gc.collect()
    setup_rss = peak_rss_mb()
    if trace:
        tracemalloc.start()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run_stage(stage, table, bootstrap, seed)
        times.append(time.perf_counter() - start)
        gc.collect()
    traced = tracemalloc.get_traced_memory()[1] / 2**20 if trace else float("nan")
    return {"seconds": min(times), "slowest": max(times), "setup_rss_mb": setup_rss,
            "peak_rss_mb": peak_rss_mb(), "traced_peak_mb": traced, "records": float(table.model.size)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="Runs per stage; the fastest is shown")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="Also report the tracemalloc peak (slows Python-level loops, e.g. Elo)")
    parser.add_argument("--child", nargs=2, metavar=("SIZE", "STAGE"), help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.child:
        result = child(int(options.child[0]), options.child[1], options.bootstrap, options.seed,
                       options.tracemalloc, options.repeat)
        print(json.dumps(result))
        return 0
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; "
          f"bootstrap={options.bootstrap}")
    print(f"{'records':>9} {'shape':>12} {'stage':<13} {'fastest':>8} {'slowest':>8} {'setup RSS':>10} "
          f"{'peak RSS':>9} {'stage RSS':>10}" + (f" {'traced':>8}" if options.tracemalloc else ""))
    for size in options.sizes:
        n_models, n_tasks, n_runs = shape_for(size)
        for stage in options.stages:
            command = [sys.executable, __file__, "--child", str(size), stage, "--repeat", str(options.repeat),
                       "--bootstrap", str(options.bootstrap), "--seed", str(options.seed)]
            if options.tracemalloc:
                command.append("--tracemalloc")
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            line = (f"{int(result['records']):>9} {f'{n_models}x{n_tasks}x{n_runs}':>12} {stage:<13} "
                    f"{result['seconds']:>8.2f} {result['slowest']:>8.2f} {result['setup_rss_mb']:>8.0f}MB "
                    f"{result['peak_rss_mb']:>7.0f}MB {result['peak_rss_mb'] - result['setup_rss_mb']:>8.0f}MB")
            if options.tracemalloc:
                line += f" {result['traced_peak_mb']:>6.0f}MB"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
