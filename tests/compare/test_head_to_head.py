"""Head-to-head comparisons, the two-model report and the comparison report."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from pytest_modelbench import stats
from pytest_modelbench.core.records import RunRecord
from pytest_modelbench.core.table import RunTable
from pytest_modelbench.compare.head_to_head import (
    NO_DIFFERENCE,
    NOT_COMPARABLE,
    SIGNIFICANTLY_BETTER,
    SIGNIFICANTLY_WORSE,
    SLIGHTLY_BETTER,
    SLIGHTLY_WORSE,
    compare,
    compare_pair,
    comparison_rows,
    head_to_head,
    relative_difference,
    verdict,
)

WEIGHTS = {"accuracy": 0.25, "safety": 0.15, "reasoning": 0.05}


def record(model, task, run, quality, *, passed=None, category="accuracy", difficulty="medium",
           weight=1.0, group=None, outcome=None):
    if outcome is None:
        if passed is None:
            passed = quality >= 0.5
        outcome = "passed" if passed else "failed"
    return RunRecord(task=task, model=model, run=run, category=category, difficulty=difficulty,
                     weight=weight, outcome=outcome, quality=quality, group=group)


def table_from(results, **task_info):
    """results: {model: {task: [quality per run]}}; a run passes when its quality is >= 0.5."""
    records = []
    for model, tasks in results.items():
        for task, qualities in tasks.items():
            for run, quality in enumerate(qualities, start=1):
                records.append(record(model, task, run, quality, **task_info.get(task, {})))
    return RunTable.from_records(records)


def graded(rng, n_tasks, runs, shift=0.0, prefix="t"):
    """Graded qualities (never exactly 0 or 1, so runs are not pass/fail)."""
    return {f"{prefix}{i:02d}": list(np.clip(np.round(rng.random(runs) * 0.8 + 0.1 + shift, 3), 0.01, 0.99))
            for i in range(n_tasks)}


# ------------------------------------------------------------------------- verdicts


@pytest.mark.parametrize(
    ("delta", "relative", "p_adjusted", "expected"),
    [
        (10.0, 0.20, 0.01, SIGNIFICANTLY_BETTER),  # 20% edge is inclusive
        (10.0, 0.1999, 0.01, SLIGHTLY_BETTER),
        (10.0, 0.05, 0.01, SLIGHTLY_BETTER),  # 5% edge is inclusive
        (10.0, 0.0499, 0.01, NO_DIFFERENCE),  # significant but under 5%: too small to matter
        (10.0, 0.50, 0.05, NO_DIFFERENCE),  # p must be below alpha, not equal
        (10.0, 0.50, 0.0499, SIGNIFICANTLY_BETTER),
        (-10.0, 0.50, 0.001, SIGNIFICANTLY_WORSE),
        (-10.0, 0.10, 0.001, SLIGHTLY_WORSE),
        (10.0, math.inf, 0.001, SIGNIFICANTLY_BETTER),  # the lower score is 0
        (0.0, 0.0, 0.001, NO_DIFFERENCE),
        (float("nan"), float("nan"), float("nan"), NOT_COMPARABLE),
    ],
)
def test_verdict_boundaries(delta, relative, p_adjusted, expected):
    assert verdict(delta, relative, p_adjusted, 0.05) == expected


def test_verdict_needs_the_test_direction_to_agree():
    # McNemar says B passes more often (b − c < 0) while the weighted Δ favours A.
    assert verdict(5.0, 0.5, 0.001, 0.05, direction=-3.0) == NO_DIFFERENCE
    assert verdict(5.0, 0.5, 0.001, 0.05, direction=3.0) == SIGNIFICANTLY_BETTER


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [(60.0, 50.0, 0.2), (50.0, 60.0, 0.2), (52.5, 50.0, 0.05), (0.0, 0.0, 0.0), (10.0, 0.0, math.inf)],
)
def test_relative_difference(a, b, expected):
    assert relative_difference(a, b) == pytest.approx(expected, rel=1e-15)


# ----------------------------------------------------------------- identical models


@pytest.mark.parametrize("binary", [True, False])
def test_identical_models_show_no_difference(binary):
    rng = np.random.default_rng(0)
    runs = ({f"t{i}": list((rng.random(4) < 0.5).astype(float)) for i in range(20)} if binary
            else graded(rng, 20, 4))
    table = table_from({"a": runs, "b": runs, "c": runs})
    result = head_to_head(table, WEIGHTS)
    for comparison in result.overall:
        assert comparison.delta == 0.0
        assert comparison.p_value == 1.0 and comparison.p_adjusted == 1.0
        assert comparison.verdict == NO_DIFFERENCE and not comparison.significant
        assert comparison.test.startswith("exact McNemar" if binary else "sign-flip permutation")


# --------------------------------------------------------------------------- tests


def test_pass_fail_uses_exact_mcnemar():
    """b, c by hand; p against scipy.stats.binomtest and statsmodels' exact McNemar."""
    scipy_stats = pytest.importorskip("scipy.stats")
    contingency = pytest.importorskip("statsmodels.stats.contingency_tables")
    a = {"t1": [1, 1, 1, 0], "t2": [1, 1, 0, 0], "t3": [1, 1, 1, 1], "t4": [1, 0, 1, 1]}
    b = {"t1": [0, 0, 1, 0], "t2": [0, 1, 0, 1], "t3": [0, 0, 0, 1], "t4": [0, 0, 0, 0]}
    table = table_from({"a": {k: [float(x) for x in v] for k, v in a.items()},
                        "b": {k: [float(x) for x in v] for k, v in b.items()}})
    comparison = head_to_head(table, WEIGHTS).overall[0]
    # b: a passes & b fails; c: the reverse, over the 16 shared (task, run) pairs.
    assert comparison.discordant == (9, 1)
    assert comparison.test == "exact McNemar"
    reference = scipy_stats.binomtest(1, 10, 0.5).pvalue
    assert comparison.p_value == pytest.approx(reference, rel=1e-12)
    table_2x2 = [[4, 9], [1, 2]]  # counts only need the discordant cells to be right
    assert comparison.p_value == pytest.approx(contingency.mcnemar(table_2x2, exact=True).pvalue, rel=1e-12)


def test_graded_uses_exact_sign_flip_on_few_tasks():
    """With ≤ 16 tasks the sign-flip test enumerates all patterns; reference: scipy's
    permutation_test(permutation_type="samples") on the paired task means (exact)."""
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(4)
    table = table_from({"a": graded(rng, 10, 3, shift=0.08), "b": graded(rng, 10, 3)})
    comparison = head_to_head(table, WEIGHTS).overall[0]
    scores = 100 * (0.6 * table.cell_means(table.passed) + 0.4 * table.cell_means(table.quality))
    reference = scipy_stats.permutation_test(
        (scores[0], scores[1]), lambda x, y: np.mean(x - y), permutation_type="samples",
        n_resamples=np.inf, alternative="two-sided",
    )
    assert comparison.test == "sign-flip permutation (exact, 1024 sign patterns)"
    assert comparison.p_value == pytest.approx(reference.pvalue, rel=1e-12)
    assert comparison.delta == pytest.approx(np.mean(scores[0] - scores[1]), rel=1e-12)


def test_weighted_sign_flip_matches_brute_force():
    # Tasks in two categories with different weights: the test statistic is Δ itself,
    # Σ_t coefficient_t · d_t; enumerate all 2^8 sign patterns by hand.
    rng = np.random.default_rng(8)
    info = {f"t{i:02d}": {"category": ("accuracy", "safety")[i % 2], "difficulty": ("easy", "hard")[i % 3 == 0]}
            for i in range(8)}
    table = table_from({"a": graded(rng, 8, 2, 0.1), "b": graded(rng, 8, 2)}, **info)
    comparison = head_to_head(table, WEIGHTS).overall[0]
    scores = 100 * (0.6 * table.cell_means(table.passed) + 0.4 * table.cell_means(table.quality))
    d = scores[0] - scores[1]
    category = table.task_category
    coefficient = np.empty(8)
    alpha = {"accuracy": 0.25 / 0.40, "safety": 0.15 / 0.40}
    for c, name in enumerate(table.categories):
        members = category == c
        coefficient[members] = alpha[name] * table.task_weight[members] / table.task_weight[members].sum()
    assert table.categories == ("accuracy", "safety") and len(set(table.task_weight)) == 2
    observed = abs(coefficient @ d)
    hits = sum(abs(coefficient @ (np.array(signs) * d)) >= observed - 1e-9
               for signs in itertools.product((1, -1), repeat=8))
    assert comparison.delta == pytest.approx(coefficient @ d, rel=1e-12)
    assert comparison.p_value == pytest.approx(hits / 256, rel=1e-12)


def test_holm_adjustment_matches_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    rng = np.random.default_rng(6)
    table = table_from({name: graded(rng, 25, 2, shift) for name, shift in
                        (("a", 0.1), ("b", 0.05), ("c", 0.0), ("d", -0.02))})
    result = head_to_head(table, WEIGHTS, permutations=2000)
    raw = [c.p_value for c in result.overall]
    expected = multitest.multipletests(raw, method="holm")[1]
    np.testing.assert_allclose([c.p_adjusted for c in result.overall], expected, rtol=1e-12)
    assert len(result.overall) == 6


def test_monte_carlo_test_is_seeded():
    rng = np.random.default_rng(2)
    table = table_from({"a": graded(rng, 30, 2, 0.03), "b": graded(rng, 30, 2)})
    first = head_to_head(table, WEIGHTS, seed=1, permutations=500).overall[0]
    again = head_to_head(table, WEIGHTS, seed=1, permutations=500).overall[0]
    other = head_to_head(table, WEIGHTS, seed=2, permutations=500).overall[0]
    assert first.p_value == again.p_value
    assert first.p_value != other.p_value
    assert "Monte Carlo" in first.test


# ------------------------------------------------------------- delta and its interval


def test_delta_interval_is_millers_paired_se():
    # One category, equal weights, tasks as clusters: SE = sqrt(var(d, ddof=1)/n).
    rng = np.random.default_rng(10)
    table = table_from({"a": graded(rng, 40, 3, 0.05), "b": graded(rng, 40, 3)})
    comparison = head_to_head(table, WEIGHTS).overall[0]
    scores = 100 * (0.6 * table.cell_means(table.passed) + 0.4 * table.cell_means(table.quality))
    reference = stats.paired_difference(scores[0], scores[1])
    d = scores[0] - scores[1]
    assert comparison.se == pytest.approx(math.sqrt(np.var(d, ddof=1) / 40), rel=1e-12)
    assert comparison.delta == pytest.approx(reference.delta, rel=1e-12)
    assert (comparison.low, comparison.high) == pytest.approx((reference.ci.low, reference.ci.high), rel=1e-12)
    assert comparison.score_a - comparison.score_b == pytest.approx(comparison.delta, abs=1e-12)


def test_delta_interval_clustered_by_group_matches_statsmodels():
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(12)
    info = {f"t{i:02d}": {"group": f"g{i // 4}"} for i in range(32)}
    table = table_from({"a": graded(rng, 32, 2, 0.05), "b": graded(rng, 32, 2)}, **info)
    comparison = head_to_head(table, WEIGHTS).overall[0]
    scores = 100 * (0.6 * table.cell_means(table.passed) + 0.4 * table.cell_means(table.quality))
    groups = np.arange(32) // 4
    fit = sm.OLS(scores[0] - scores[1], np.ones(32)).fit(cov_type="cluster", cov_kwds={"groups": groups})
    assert comparison.se == pytest.approx(float(fit.bse[0]), rel=1e-10)
    assert comparison.clusters == 8
    unclustered = head_to_head(table, WEIGHTS, cluster_by_group=False).overall[0]
    assert unclustered.clusters == 32


def test_mde_matches_stats_power_functions():
    """Equal weights, tasks as clusters (design effect 1): the MDE and the tasks and runs
    needed are stats' formulas with stats.variance_components of the raw run scores."""
    rng = np.random.default_rng(14)
    table = table_from({"a": graded(rng, 30, 4, 0.02), "b": graded(rng, 30, 4)})
    comparison = head_to_head(table, WEIGHTS).overall[0]
    run_score = 100 * (0.6 * table.passed + 0.4 * table.quality)
    order = np.lexsort((table.run, table.task, table.model))
    runs = run_score[order].reshape(2, 30, 4)
    components = stats.variance_components(runs[0], runs[1])
    kwargs = {"omega2": components.omega2, "sigma2_a": components.sigma2_a, "sigma2_b": components.sigma2_b}
    assert comparison.mde == pytest.approx(
        stats.minimum_detectable_effect(30, runs_a=4, runs_b=4, **kwargs), rel=1e-9)
    assert comparison.tasks_needed == stats.tasks_needed(comparison.delta, runs_a=4, runs_b=4, **kwargs)
    assert comparison.runs_needed == stats.runs_needed(comparison.delta, 30, **kwargs)


# ------------------------------------------------------------------ sized verdicts


def test_large_difference_is_significantly_better():
    rng = np.random.default_rng(3)
    table = table_from({"strong": graded(rng, 30, 3, 0.3), "weak": graded(rng, 30, 3, -0.3)})
    result = head_to_head(table, WEIGHTS)
    comparison = result.pair("strong", "weak")
    assert comparison.verdict == SIGNIFICANTLY_BETTER and comparison.significant
    assert comparison.relative >= 0.2
    mirrored = result.pair("weak", "strong")
    assert mirrored.verdict == SIGNIFICANTLY_WORSE
    assert mirrored.delta == -comparison.delta
    assert (mirrored.low, mirrored.high) == (-comparison.high, -comparison.low)


def test_small_significant_difference_is_slightly_better():
    # 40 tasks × 5 runs: "a" passes every run, "b" fails 20 of the 200 (one run of each of
    # the first 20 tasks). Scores 100 and 90: 11% apart; McNemar b = 20, c = 0.
    a = {f"t{i:02d}": [1.0] * 5 for i in range(40)}
    b = {f"t{i:02d}": [0.0 if (i < 20 and run == 0) else 1.0 for run in range(5)] for i in range(40)}
    comparison = head_to_head(table_from({"a": a, "b": b}), WEIGHTS).overall[0]
    assert comparison.score_a == 100.0 and comparison.score_b == pytest.approx(90.0)
    assert comparison.discordant == (20, 0)
    assert comparison.p_value == pytest.approx(2 * 0.5**20, rel=1e-12)
    assert comparison.verdict == SLIGHTLY_BETTER


@pytest.mark.parametrize(
    ("runs", "a_passes", "b_passes", "expected"),
    [
        (10, 6, 5, SIGNIFICANTLY_BETTER),  # 60 vs 50: exactly 20%
        (40, 23, 20, SLIGHTLY_BETTER),  # 57.5 vs 50: 15%
        (40, 21, 20, SLIGHTLY_BETTER),  # 52.5 vs 50: exactly 5%
        (80, 41, 40, NO_DIFFERENCE),  # 51.25 vs 50: 2.5%, although p is tiny
    ],
)
def test_verdict_edges_from_runs(runs, a_passes, b_passes, expected):
    # 20 tasks; in every task "a" passes the runs "b" passes plus a few more (McNemar c = 0).
    a = {f"t{i:02d}": [1.0] * a_passes + [0.0] * (runs - a_passes) for i in range(20)}
    b = {f"t{i:02d}": [1.0] * b_passes + [0.0] * (runs - b_passes) for i in range(20)}
    comparison = head_to_head(table_from({"a": a, "b": b}), WEIGHTS).overall[0]
    assert comparison.discordant == (20 * (a_passes - b_passes), 0)
    assert comparison.p_adjusted < 1e-5
    assert comparison.relative == pytest.approx((a_passes - b_passes) / b_passes, rel=1e-12)
    assert comparison.verdict == expected


def test_not_significant_reports_what_would_detect_it():
    rng = np.random.default_rng(5)
    table = table_from({"a": graded(rng, 12, 3, 0.02), "b": graded(rng, 12, 3)})
    comparison = head_to_head(table, WEIGHTS).overall[0]
    assert comparison.verdict == NO_DIFFERENCE
    assert comparison.mde > abs(comparison.delta)
    assert comparison.tasks_needed > 12
    assert comparison.to_dict()["runs_needed"] is None or comparison.runs_needed > 3


def test_one_task():
    # Graded: the exact sign-flip test over one task cannot reject (p = 1); SE is unknown.
    table = table_from({"a": {"t": [0.9, 0.8]}, "b": {"t": [0.2, 0.3]}})
    comparison = head_to_head(table, WEIGHTS).overall[0]
    assert comparison.p_value == 1.0 and comparison.verdict == NO_DIFFERENCE
    assert math.isnan(comparison.se) and comparison.to_dict()["low"] is None
    assert comparison.to_dict()["mde"] is None
    # Pass/fail over 12 runs of one task: McNemar pairs runs, b = 12, c = 0.
    table = table_from({"a": {"t": [1.0] * 12}, "b": {"t": [0.0] * 12}})
    comparison = head_to_head(table, WEIGHTS).overall[0]
    assert comparison.p_value == pytest.approx(2 * 0.5**12)
    assert comparison.verdict == SIGNIFICANTLY_BETTER  # the lower score is 0: relative is infinite


def test_no_shared_tasks_is_not_comparable():
    table = table_from({"a": {"t1": [1.0, 0.0]}, "b": {"t2": [1.0, 0.0]}})
    comparison = head_to_head(table, WEIGHTS).overall[0]
    assert comparison.verdict == NOT_COMPARABLE and comparison.tasks == 0
    assert comparison.to_dict()["p_value"] is None


def test_per_category_families():
    rng = np.random.default_rng(7)
    info = {**{f"acc{i:02d}": {"category": "accuracy"} for i in range(25)},
            **{f"saf{i:02d}": {"category": "safety"} for i in range(25)}}
    a = {**graded(rng, 25, 2, 0.35, "acc"), **graded(rng, 25, 2, 0.0, "saf")}
    b = {**graded(rng, 25, 2, -0.3, "acc"), **graded(rng, 25, 2, 0.0, "saf")}
    same = graded(rng, 25, 2, 0.0, "saf")
    a.update(same)
    b.update(same)
    result = head_to_head(table_from({"a": a, "b": b}, **info), WEIGHTS)
    assert result.pair("a", "b", "accuracy").verdict == SIGNIFICANTLY_BETTER
    assert result.pair("a", "b", "safety").verdict == NO_DIFFERENCE
    assert result.pair("a", "b", "safety").delta == 0.0
    with pytest.raises(ValueError, match="category 'coding' is not one of: accuracy, safety"):
        result.pair("a", "b", "coding")


# -------------------------------------------------------------- two-model report


def test_compare_pair_report():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    rng = np.random.default_rng(9)
    info = {f"t{i:02d}": {"category": ("accuracy", "safety", "reasoning")[i % 3],
                          "difficulty": ("easy", "medium", "hard")[i % 3 == 1]} for i in range(30)}
    table = table_from({"m1": graded(rng, 30, 3, -0.1), "m2": graded(rng, 30, 3, 0.15)}, **info)
    report = compare_pair(table, "m2", "m1", WEIGHTS, top=4)
    assert (report.model_a, report.model_b) == ("m2", "m1")
    assert report.overall.delta > 0 and report.overall.p_adjusted == report.overall.p_value
    assert [c.scope_value for c in report.categories] == ["accuracy", "reasoning", "safety"]
    assert [c.scope_value for c in report.difficulties] == ["easy", "medium"]
    raw = [c.p_value for c in report.categories]
    np.testing.assert_allclose([c.p_adjusted for c in report.categories],
                               multitest.multipletests(raw, method="holm")[1], rtol=1e-12)
    head = head_to_head(table, WEIGHTS).pair("m2", "m1")
    assert report.overall.delta == pytest.approx(head.delta) and report.overall.p_value == head.p_value
    gaps = [d.delta for d in report.disagreements]
    assert len(gaps) == 4 and [abs(g) for g in gaps] == sorted((abs(g) for g in gaps), reverse=True)
    scores = 100 * (0.6 * table.cell_means(table.passed) + 0.4 * table.cell_means(table.quality))
    largest = np.max(np.abs(scores[1] - scores[0]))
    assert abs(gaps[0]) == pytest.approx(largest)
    assert report.disagreements[0].score_a - report.disagreements[0].score_b == pytest.approx(gaps[0])
    json.dumps(report.to_dict(), allow_nan=False)


def test_compare_pair_rejects_bad_models():
    table = table_from({"a": {"t": [1.0]}, "b": {"t": [0.0]}})
    with pytest.raises(ValueError, match="model 'c' is not one of: a, b"):
        compare_pair(table, "a", "c", WEIGHTS)
    with pytest.raises(ValueError, match="compare needs two different models, got 'a' twice"):
        compare_pair(table, "a", "a", WEIGHTS)


@pytest.mark.parametrize(
    ("keyword", "value", "message"),
    [
        ("alpha", 1.5, r"alpha 1.5 is not allowed; it must be a number in \(0, 1\)"),
        ("confidence", 0, r"confidence 0 is not allowed"),
        ("permutations", 0, r"permutations 0 is not allowed; it must be a whole number >= 1"),
        ("seed", -1, r"seed -1 is not allowed"),
    ],
)
def test_bad_options_are_rejected(keyword, value, message):
    table = table_from({"a": {"t": [1.0]}, "b": {"t": [0.0]}})
    with pytest.raises(ValueError, match=message):
        head_to_head(table, WEIGHTS, **{keyword: value})


# ------------------------------------------------------------------ report + rows


def assert_builtins(value, path="report"):
    """Only JSON builtins (no numpy scalars, which json accepts silently for floats)."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str, path
            assert_builtins(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            assert_builtins(item, f"{path}[{index}]")
    else:
        assert type(value) in (str, int, float, bool, type(None)), f"{path} is {type(value)}"


def test_compare_report_and_terminal_rows():
    tabulate = pytest.importorskip("tabulate")
    rng = np.random.default_rng(11)
    names = [f"provider/model-number-{i:02d}-long" for i in range(20)]
    info = {f"t{i:02d}": {"category": ("accuracy", "safety")[i % 2]} for i in range(12)}
    table = table_from({name: graded(rng, 12, 2, 0.02 * i) for i, name in enumerate(names)}, **info)
    report = compare(table, WEIGHTS, bootstrap=10, permutations=500)
    assert_builtins(report.to_dict())
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert len(data["head_to_head"]["overall"]) == 190
    assert set(data["head_to_head"]["categories"]) == {"accuracy", "safety"}
    assert set(data["consistency"]) == set(names)

    def width(rows):
        return max(len(line) for line in tabulate.tabulate(rows[1:], headers=rows[0]).splitlines())

    assert width(report.head_to_head.rows()) <= 100
    blocks = report.head_to_head.matrix_rows()
    assert len(blocks) == 2 and all(width(block) <= 100 for block in blocks)
    assert sum(len(block[0]) - 1 for block in blocks) == 20
    assert blocks[0][1][1] == "."  # a model against itself
    pair = compare_pair(table, names[0], names[19], WEIGHTS, permutations=500)
    assert width(pair.rows()) <= 100 and width(pair.disagreement_rows()) <= 100
    assert comparison_rows([])[0][0] == "A vs B"
