"""False-positive rate and power of the verdict test, by simulation (issue: verdicts).

Two models answer the same tasks. Task t passes with probability p_t for model "a" and
p_t + difference for model "b" (p_t uniform on [0.15, 0.75]). Runs are either deterministic
per task (each model's answer to a task is drawn once and repeated, as at temperature 0 or
from a replay) or independent per run. For each scenario and seed the script records the
verdict of the head-to-head comparison (``compare.head_to_head``: the sign-flip test on
tasks that every verdict uses) and, for reference, of the exact McNemar test on pooled
(task, run) pairs, the test the first version used, which counts repeated runs as evidence.

Prints one row per scenario: the share of seeds declared significant at α = 0.05 (the
false-positive rate where the difference is 0, the power otherwise) with its 95% Wilson
interval. Run:

    python benchmarks/verdicts_simulation.py --seeds 500
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pytest_modelbench.compare.head_to_head import head_to_head
from pytest_modelbench.core.records import RunRecord
from pytest_modelbench.core.table import RunTable
from pytest_modelbench.stats import mcnemar_exact, wilson_interval

SCENARIOS = (
    # (tasks, runs, difference, deterministic)
    (40, 10, 0.0, True),
    (40, 10, 0.0, False),
    (40, 1, 0.0, False),
    (40, 10, 0.10, False),
    (40, 10, 0.10, True),
    (40, 1, 0.10, False),
    (200, 3, 0.10, True),
)


def simulate(rng: np.random.Generator, tasks: int, runs: int, difference: float, deterministic: bool):
    probability = rng.uniform(0.15, 0.75, tasks)
    outcomes = {}
    for model, shift in (("a", 0.0), ("b", difference)):
        p = (probability + shift)[:, None]
        if deterministic:
            outcomes[model] = np.repeat(rng.random((tasks, 1)) < p, runs, axis=1)
        else:
            outcomes[model] = rng.random((tasks, runs)) < p
    records = [RunRecord(task=f"t{t:03d}", model=model, run=r + 1, category="reasoning", difficulty="medium",
                         weight=1.0, outcome="passed" if passed[t, r] else "failed",
                         quality=1.0 if passed[t, r] else 0.0)
               for model, passed in outcomes.items() for t in range(tasks) for r in range(runs)]
    return RunTable.from_records(records), outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=500, help="simulated benchmarks per scenario")
    parser.add_argument("--permutations", type=int, default=2000, help="Monte-Carlo sign patterns per test")
    args = parser.parse_args()
    print(f"{'tasks':>5} {'runs':>4} {'diff':>5} {'runs are':<13} {'on tasks (now)':>22} "
          f"{'pooled McNemar (before)':>26}")
    started = time.perf_counter()
    for index, (tasks, runs, difference, deterministic) in enumerate(SCENARIOS):
        rng = np.random.default_rng(1000 + index)
        on_tasks = pooled = 0
        for _ in range(args.seeds):
            table, outcomes = simulate(rng, tasks, runs, difference, deterministic)
            comparison = head_to_head(table, {"reasoning": 1.0}, permutations=args.permutations).pair("b", "a")
            on_tasks += comparison.significant
            b = int((outcomes["b"] & ~outcomes["a"]).sum())
            c = int((outcomes["a"] & ~outcomes["b"]).sum())
            pooled += b + c > 0 and mcnemar_exact(b, c).p_value < 0.05
        cells = []
        for hits in (on_tasks, pooled):
            interval = wilson_interval(hits, args.seeds)
            cells.append(f"{hits / args.seeds:6.1%} [{interval.low:5.1%}, {interval.high:5.1%}]")
        kind = "per task" if deterministic else "random"
        print(f"{tasks:>5} {runs:>4} {difference:>5.2f} {kind:<13} {cells[0]:>22} {cells[1]:>26}")
    print(f"{args.seeds} seeds per scenario, alpha 0.05, {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
