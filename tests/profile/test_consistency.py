"""Consistency of models across repeated runs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pytest_modelbench.core.records import RunRecord
from pytest_modelbench.core.table import RunTable
from pytest_modelbench.core.text import table as text_table
from pytest_modelbench.profile.consistency import consistency


def table_from(results, errors=()):
    """results: {model: {task: [(passed, quality) per run]}}; ``errors``: (model, task, run)."""
    records = []
    for model, tasks in results.items():
        for task, runs in tasks.items():
            for run, (passed, quality) in enumerate(runs, start=1):
                if (model, task, run) in errors:
                    records.append(RunRecord(task=task, model=model, run=run, category="accuracy",
                                             difficulty="medium", weight=1.0, outcome="error",
                                             error="timeout"))
                    continue
                records.append(RunRecord(task=task, model=model, run=run, category="accuracy",
                                         difficulty="medium", weight=1.0,
                                         outcome="passed" if passed else "failed", quality=quality))
    return RunTable.from_records(records)


def test_metrics_by_hand():
    table = table_from({"m": {
        "always": [(True, 1.0), (True, 1.0), (True, 1.0)],  # consistent, all pass
        "split": [(True, 1.0), (False, 0.0)],  # pass/fail disagree, quality 1 vs 0
        "spread": [(False, 0.2), (False, 0.4)],  # both fail, quality differs
    }})
    result = consistency(table).get("m")
    assert result.tasks == 3
    assert result.pass_hat_k == pytest.approx(1 / 3)  # only "always" passes all its runs
    assert result.disagreement == pytest.approx(1 / 3)
    # ddof=1 variances: 0, var([1, 0]) = 0.5, var([0.2, 0.4]) = 0.02
    assert result.quality_variance == pytest.approx((0.0 + 0.5 + 0.02) / 3, rel=1e-12)
    # population variances 0, 0.25, 0.01: score = 100·(1 − ½·⅓ − ½·4·0.26/3)
    assert result.score == pytest.approx(100 * (1 - 0.5 / 3 - 0.5 * 4 * 0.26 / 3), rel=1e-12)
    assert [t.task for t in result.most_inconsistent] == ["split", "spread"]
    top = result.most_inconsistent[0]
    assert (top.runs, top.passed, top.quality_mean) == (2, 1, 0.5)
    assert top.quality_std == pytest.approx(math.sqrt(0.5))
    assert top.inconsistency == pytest.approx(0.5 + 0.5 * 4 * 0.25)


def test_quality_variance_matches_numpy():
    rng = np.random.default_rng(0)
    runs = {f"t{i:02d}": [(bool(q >= 0.5), float(q)) for q in np.round(rng.random(k), 3)]
            for i, k in enumerate(rng.integers(2, 9, size=30))}
    result = consistency(table_from({"m": runs})).get("m")
    expected = np.mean([np.var([q for _, q in r], ddof=1) for r in runs.values()])
    assert result.quality_variance == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("n", "c", "expected"),
    [(5, 5, 1.0), (5, 4, 0.0), (3, 0, 0.0), (2, 2, 1.0)],  # C(c, n)/C(n, n) with k = n
)
def test_pass_hat_k_at_k_equals_runs(n, c, expected):
    runs = [(True, 1.0)] * c + [(False, 0.0)] * (n - c)
    result = consistency(table_from({"m": {"t": runs}})).get("m")
    assert result.pass_hat_k == expected == math.comb(c, n) / math.comb(n, n)


def test_pass_hat_k_mixes_run_counts():
    table = table_from({"m": {
        "three": [(True, 1.0)] * 3,
        "five": [(True, 1.0)] * 4 + [(False, 0.0)],
        "two": [(True, 0.9), (True, 0.7)],
    }})
    assert consistency(table).get("m").pass_hat_k == pytest.approx(2 / 3)


def test_always_failing_model_is_perfectly_consistent():
    table = table_from({"m": {f"t{i}": [(False, 0.0)] * 4 for i in range(5)}})
    result = consistency(table).get("m")
    assert result.score == 100.0 and result.pass_hat_k == 0.0 and result.disagreement == 0.0
    assert result.most_inconsistent == ()


def test_most_inconsistent_possible_scores_zero():
    table = table_from({"m": {f"t{i}": [(True, 1.0), (False, 0.0)] * 2 for i in range(3)}})
    result = consistency(table).get("m")
    assert result.disagreement == 1.0 and result.score == pytest.approx(0.0, abs=1e-12)


def test_single_runs_measure_nothing():
    table = table_from({"m": {"a": [(True, 1.0)], "b": [(False, 0.0)]}})
    result = consistency(table).get("m")
    assert result.tasks == 0 and math.isnan(result.score)
    assert result.to_dict()["score"] is None and result.to_dict()["pass_hat_k"] is None


def test_error_runs_are_not_measurements():
    # An errored run says nothing about the answers: the task has one measured run left, so
    # it has no consistency to measure (it does not look inconsistent).
    table = table_from({"m": {"t": [(True, 1.0), (True, 1.0)], "u": [(True, 1.0), (True, 1.0), (True, 1.0)]}},
                       errors={("m", "t", 2), ("m", "u", 3)})
    result = consistency(table).get("m")
    assert result.tasks == 1 and result.disagreement == 0.0 and result.quality_variance == 0.0


def test_top_orders_by_inconsistency_then_name():
    split = [(True, 1.0), (False, 0.0)]
    table = table_from({"m": {"b": split, "a": split, "c": [(True, 0.6), (True, 0.8)], "d": split}})
    result = consistency(table, top=3).get("m")
    assert [t.task for t in result.most_inconsistent] == ["a", "b", "d"]
    assert consistency(table, top=0).get("m").most_inconsistent == ()
    with pytest.raises(ValueError, match=r"top -1 is not allowed; it must be a whole number >= 0"):
        consistency(table, top=-1)


def test_report_is_json_and_rows_fit():
    split = [(True, 1.0), (False, 0.0)]
    table = table_from({"a" * 60: {"t": split}, "b": {"t": [(True, 1.0)] * 2}})
    report = consistency(table)
    json.dumps(report.to_dict(), allow_nan=False)
    rows = report.rows()
    assert rows[1][0] == "a" * 60  # whole: the terminal table wraps it
    rendered = text_table(rows[0], rows[1:], ("left",) * len(rows[0]), width=80, wrap={0: "name"})
    assert max(len(line) for line in rendered.splitlines()) <= 80
    with pytest.raises(KeyError, match="model 'z' is not one of"):
        report.get("z")
