"""The HTML report at scale: render time and file size in Python, and in headless Chromium the
time to open the page and to answer a filter, for 1,000 and 10,000 runs (each with a prompt and
a reply), printed with their ratio to the smallest size measured in the same run.

    .venv/bin/python benchmarks/html_report_scale.py [--sizes 1000 10000] [--reply-chars 400]

Chromium timings need ``chromium`` (``apt-get install chromium``); without it only the Python
side is measured. Timings are medians of ``--repeat`` tries.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from pytest_modelbench.core.config import DEFAULT_CATEGORY_WEIGHTS  # noqa: E402
from pytest_modelbench.core.dimensions import Dimensions  # noqa: E402
from pytest_modelbench.core.records import RunRecord  # noqa: E402
from pytest_modelbench.core.results import build_document, plain_document  # noqa: E402
from pytest_modelbench.reports import render_html  # noqa: E402
from pytest_modelbench.session.analysis import CostSettings, analyse  # noqa: E402

MODELS = ("model-a-2026-01", "model-b-2026-01", "model-c-2026-01", "model-d-2026-01")
RUNS = 5


def document(n_runs: int, reply_chars: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    n_tasks = n_runs // (len(MODELS) * RUNS)
    records = []
    for m, name in enumerate(MODELS):
        for t in range(n_tasks):
            for r in range(1, RUNS + 1):
                passed = bool(rng.random() < 0.5 + 0.1 * m)
                records.append(RunRecord(
                    task=f"tests/bench/test_suite.py::test_task[{t:05d}]", model=name, run=r,
                    category=("accuracy", "reasoning", "coding")[t % 3], difficulty="medium", weight=1.0,
                    outcome="passed" if passed else "failed", quality=1.0 if passed else 0.0,
                    latency_ms=float(rng.lognormal(6.5, 0.4)), ttft_ms=float(rng.lognormal(4.5, 0.3)),
                    input_tokens=200, output_tokens=int(rng.integers(20, 400)), calls=1, cost_usd=0.0004 * (m + 1),
                    detail=None if passed else "expected 42",
                ))
    analysis = analyse(records, models=list(MODELS), category_weights=DEFAULT_CATEGORY_WEIGHTS, cost=CostSettings(),
                       dimensions=Dimensions())
    blocks = analysis.document
    models = blocks.pop("models")
    plain = plain_document(build_document({"finished_at": "2026-12-01T10:00:00+00:00"}, models, records, **blocks))
    words = "the quick brown fox jumps over the lazy dog 42 ".split()
    for k, run in enumerate(plain["runs"]):
        run["prompt"] = f"Task {k}: " + " ".join(words[(k + i) % len(words)] for i in range(reply_chars // 10))
        run["reply"] = " ".join(words[(k * 7 + i) % len(words)] for i in range(reply_chars // 5))
    return plain


def median_time(action, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


FILTER = """(() => {
  const started = performance.now();
  const text = document.getElementById("filter-text");
  text.value = "fox jumps"; text.dispatchEvent(new Event("input"));
  const model = document.getElementById("filter-model");
  model.value = model.options[2].value; model.dispatchEvent(new Event("change"));
  const elapsed = performance.now() - started;
  text.value = ""; text.dispatchEvent(new Event("input"));
  model.value = ""; model.dispatchEvent(new Event("change"));
  return elapsed;
})()"""

ALL = """(() => {
  const started = performance.now();
  const size = document.getElementById("page-size");
  size.value = "0"; size.dispatchEvent(new Event("change"));
  const rows = document.querySelectorAll("#runs-table tbody tr.run").length;
  void document.body.offsetHeight;  // force layout
  const elapsed = performance.now() - started;
  size.value = "100"; size.dispatchEvent(new Event("change"));
  return [elapsed, rows];
})()"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--reply-chars", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    try:
        from chromium import CHROMIUM, Chromium
    except ImportError:
        CHROMIUM = None
    results = []
    with tempfile.TemporaryDirectory() as directory:
        for size in args.sizes:
            data = document(size, args.reply_chars)
            html = render_html(data)
            render = median_time(lambda: render_html(data), args.repeat)
            path = Path(directory) / f"report-{size}.html"
            path.write_text(html, encoding="utf-8")
            row = {"runs": len(data["runs"]), "render_s": render, "mb": path.stat().st_size / 1e6}
            if CHROMIUM is not None:
                with Chromium(width=1280) as browser:
                    opens = [browser.open(path) for _ in range(args.repeat)]
                    row["open_s"] = statistics.median(opens)
                    row["filter_ms"] = statistics.median(browser.evaluate(FILTER) for _ in range(args.repeat))
                    elapsed, rows = browser.evaluate(ALL)
                    row["all_rows_ms"], row["all_rows"] = elapsed, rows
                    row["problems"] = browser.problems()
            results.append(row)
    base = results[0]
    print(f"{'runs':>7} {'render s':>9} {'size MB':>8} {'open s':>7} {'filter ms':>10} {'all rows ms':>12}"
          f"   ratios to {base['runs']} runs (render, size, open)")
    for row in results:
        ratios = [row["render_s"] / base["render_s"], row["mb"] / base["mb"]]
        if "open_s" in row:
            ratios.append(row["open_s"] / base["open_s"])
        print(f"{row['runs']:>7} {row['render_s']:>9.3f} {row['mb']:>8.2f} {row.get('open_s', float('nan')):>7.2f} "
              f"{row.get('filter_ms', float('nan')):>10.1f} {row.get('all_rows_ms', float('nan')):>12.0f}   "
              + ", ".join(f"{ratio:.1f}x" for ratio in ratios))
        if row.get("problems"):
            print("  browser problems:", json.dumps(row["problems"])[:500])


if __name__ == "__main__":
    main()
