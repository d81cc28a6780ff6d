"""End-to-end analysis of a session's run records, as the plugin does it at session end.

Builds N synthetic ``RunRecord`` objects (as the controller holds them after a session:
20 models x T tasks x 10 runs), then times, in this process:

* ``RunTable.from_records`` (records -> numpy columns),
* ``analyse`` (per-model summary, costs, the measured dimensions, all five rankings with 200
  bootstrap resamples, all model pairs overall and per category, consistency),
* writing the JSON results file,

and prints peak RSS. Growth from 10k to 1M records should be near-linear.

    .venv/bin/python benchmarks/analysis_scale.py [--sizes 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pytest_modelbench.session.analysis import CompareSettings, analyse
from pytest_modelbench.core.config import DEFAULT_CATEGORY_WEIGHTS
from pytest_modelbench.core.dimensions import Dimensions
from pytest_modelbench.core.records import RunRecord
from pytest_modelbench.core.results import build_document, write_json_atomic
from pytest_modelbench.core.table import RunTable

CATEGORIES = ("accuracy", "coding", "quality", "reasoning", "safety")
DIFFICULTIES = ("trivial", "easy", "medium", "hard", "expert")
MODELS = 20
RUNS = 10


def make_records(n_records: int, seed: int = 0) -> list[RunRecord]:
    rng = np.random.default_rng(seed)
    n_tasks = n_records // (MODELS * RUNS)
    ability = np.linspace(-1.0, 1.0, MODELS)
    difficulty = rng.normal(0.0, 1.0, n_tasks)
    records = []
    tasks = [f"tests/bench/test_suite.py::test_task[{i}]" for i in range(n_tasks)]
    models = [f"model-{m:02d}" for m in range(MODELS)]
    for m in range(MODELS):
        p_pass = 1.0 / (1.0 + np.exp(-(ability[m] - difficulty)))
        draws = rng.random((n_tasks, RUNS))
        latency = rng.lognormal(6.0, 0.4, (n_tasks, RUNS))
        for t in range(n_tasks):
            category = CATEGORIES[t % len(CATEGORIES)]
            level = DIFFICULTIES[t % len(DIFFICULTIES)]
            for r in range(RUNS):
                passed = bool(draws[t, r] < p_pass[t])
                records.append(RunRecord(
                    task=tasks[t], model=models[m], run=r + 1, category=category, difficulty=level,
                    weight=1.0, outcome="passed" if passed else "failed", quality=1.0 if passed else 0.0,
                    latency_ms=float(latency[t, r]), ttft_ms=float(latency[t, r]) / 4, input_tokens=120,
                    output_tokens=40, calls=1, cost_usd=0.0001,
                ))
    return records


def measure(size: int) -> None:
    records = make_records(size)
    names = sorted({r.model for r in records})
    start = time.perf_counter()
    RunTable.from_records(records, names)
    from_records = time.perf_counter() - start
    start = time.perf_counter()
    analysis = analyse(records, models=names, category_weights=DEFAULT_CATEGORY_WEIGHTS,
                       compare=CompareSettings(bootstrap=200), dimensions=Dimensions())  # as a session does
    analysed = time.perf_counter() - start
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        document = dict(analysis.document)
        models = document.pop("models")
        write_json_atomic(Path(tmp) / "r.json", build_document({}, models, records, **document))
    written = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{size:>9,} records  from_records {from_records:6.2f} s  analyse {analysed:6.2f} s  "
          f"json {written:6.2f} s  peak RSS {peak_mb:7.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.one:
        measure(options.one)
        return
    for size in options.sizes:  # each size in a fresh process, so peak RSS is its own
        subprocess.run([sys.executable, __file__, "--one", str(size)], check=True, env=os.environ)


if __name__ == "__main__":
    main()
