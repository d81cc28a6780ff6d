"""Overhead of the plugin, as wall-time ratios measured in one session.

1. The same number of trivial tests run as plain parametrized pytest tests and as marked
   benchmark runs against the offline ``echo`` model (target ratio <= 1.3).
2. A suite of plain tests with the plugin installed but no models configured, against the
   same suite with ``-p no:modelbench`` (target ratio <= 1.05).

Each configuration runs in a fresh ``python -m pytest`` process; configurations alternate and
the median of the repeats is used, so machine noise affects both sides alike.

The plugin's end-of-session work (importing numpy and the analysis modules, then ranking,
comparing and recommending) is a fixed cost, independent of the number of runs. To separate
it from the per-run cost, the first comparison is also made at twice the size: the marginal
ratio (extra time of the N extra benchmark runs / extra time of the N extra plain tests) is
the per-run overhead.

    python benchmarks/overhead.py [--tests 2000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

PLAIN = """
import pytest

@pytest.mark.parametrize("i", range({n}))
def test_plain(i):
    assert "x" * (i % 7) != "never"
"""

MARKED = """
import pytest

@pytest.mark.modelbench(category="accuracy", runs=10)
@pytest.mark.parametrize("i", range({n} // 10))
def test_marked(model, i):
    assert model.complete("x" * (i % 7)).text != "never"
"""


def timed_run(directory: Path, args: list[str]) -> float:
    env = dict(os.environ)
    start = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=directory, env=env, capture_output=True, text=True,
    )
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        raise SystemExit(f"pytest {' '.join(args)} failed:\n{completed.stdout[-2000:]}{completed.stderr[-2000:]}")
    return elapsed


def compare(directory: Path, baseline: list[str], candidate: list[str], repeats: int) -> tuple[float, float]:
    base_times, cand_times = [], []
    timed_run(directory, baseline)  # warm caches (imports, bytecode) for both sides
    timed_run(directory, candidate)
    for _ in range(repeats):
        base_times.append(timed_run(directory, baseline))
        cand_times.append(timed_run(directory, candidate))
    return statistics.median(base_times), statistics.median(cand_times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    options = parser.parse_args()
    n = options.tests
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "pytest.ini").write_text("[pytest]\n")
        (directory / "test_plain.py").write_text(textwrap.dedent(PLAIN.format(n=n)))
        (directory / "test_marked.py").write_text(textwrap.dedent(MARKED.format(n=n)))
        (directory / "test_plain2.py").write_text(textwrap.dedent(PLAIN.format(n=2 * n)))
        (directory / "test_marked2.py").write_text(textwrap.dedent(MARKED.format(n=2 * n)))

        plain, marked = compare(
            directory, ["test_plain.py"], ["test_marked.py", "--modelbench-models=echo"], options.repeats
        )
        print(f"{n} plain parametrized tests:          {plain:7.3f} s (median of {options.repeats})")
        print(f"{n} benchmark runs against echo:       {marked:7.3f} s")
        print(f"ratio benchmark/plain:                 {marked / plain:7.3f}  (target <= 1.30)")
        plain2, marked2 = compare(
            directory, ["test_plain2.py"], ["test_marked2.py", "--modelbench-models=echo"], options.repeats
        )
        print(f"{2 * n} plain / benchmark runs:          {plain2:7.3f} s / {marked2:7.3f} s")
        marginal = (marked2 - marked) / (plain2 - plain) if plain2 > plain else float("nan")
        fixed = marked - plain - (marked2 - marked - (plain2 - plain))
        print(f"per-run (marginal) ratio:              {marginal:7.3f}")
        print(f"fixed end-of-session cost (estimate):  {fixed:7.3f} s")

        disabled, enabled = compare(
            directory, ["test_plain.py", "-p", "no:modelbench"], ["test_plain.py"], options.repeats
        )
        print(f"{n} plain tests, -p no:modelbench:     {disabled:7.3f} s")
        print(f"{n} plain tests, plugin, no models:    {enabled:7.3f} s")
        print(f"ratio plugin/no-plugin:                {enabled / disabled:7.3f}  (target <= 1.05)")


if __name__ == "__main__":
    main()
