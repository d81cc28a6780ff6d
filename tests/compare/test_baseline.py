"""Baseline comparison: paired score change, latency and cost deltas, errors, saving.

References: the score change is checked against ``scoring.summarise`` (the independent code
that computes the overall score of the results file); standard errors against
statsmodels' cluster-robust OLS/WLS; p-values against ``scipy.stats.permutation_test``
(exact sign flips); percentiles against ``numpy.percentile`` by hand.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats as sps

from pytest_modelbench.core.config import DEFAULT_CATEGORY_WEIGHTS, DIFFICULTIES
from pytest_modelbench._exceptions import ConfigError
from pytest_modelbench.core.records import RunRecord
from pytest_modelbench.core.results import read_results
from pytest_modelbench.compare.baseline import (
    Baseline,
    baseline_document,
    compare_to_baseline,
    cost_per_task_by_model,
    load_baseline,
    weighted_paired_delta,
    write_baseline,
)
from pytest_modelbench.core.scoring import task_shares
from pytest_modelbench.session.analysis import summarise
from pytest_modelbench.stats import variance_components

Z975 = sps.norm.ppf(0.975)


def run(model, task, number, passed, *, quality=None, category="accuracy", difficulty="medium",
        weight=1.0, group=None, latency_ms=None, cost_usd=None, calls=1, outcome=None):
    if outcome is None:
        outcome = "passed" if passed else "failed"
    if quality is None and outcome != "error":
        quality = 1.0 if passed else 0.0
    return RunRecord(task=task, model=model, run=number, category=category, difficulty=difficulty,
                     weight=weight, outcome=outcome, quality=quality, latency_ms=latency_ms,
                     group=group, cost_usd=cost_usd, calls=calls)


def random_records(pass_rates, n_tasks, runs, seed, *, categories=("accuracy",), difficulties=("medium",),
                   weights=(1.0,), groups=None, prefix="t"):
    """Records for models × tasks × runs; pass_rates[model] is a number or a per-task array."""
    rng = np.random.default_rng(seed)
    records = []
    for model, rate in pass_rates.items():
        rates = np.broadcast_to(np.asarray(rate, dtype=float), (n_tasks,))
        for t in range(n_tasks):
            for number in range(1, runs + 1):
                passed = bool(rng.random() < rates[t])
                quality = float(np.clip(rng.normal(0.8 if passed else 0.3, 0.15), 0, 1))
                records.append(run(model, f"{prefix}{t:03d}", number, passed, quality=quality,
                                   category=categories[t % len(categories)],
                                   difficulty=difficulties[t % len(difficulties)],
                                   weight=weights[t % len(weights)],
                                   group=None if groups is None else groups[t],
                                   latency_ms=float(rng.gamma(4.0, 100.0))))
    return records


def base(records, path="base.json"):
    return Baseline(path, {"meta": {"git_commit": "abc", "finished_at": "2026-01-01T00:00:00+00:00"}},
                    tuple(records))


def task_means(records, model):
    """Per-task score 100·(0.6·pass rate + 0.4·mean quality), computed with plain Python."""
    cells = {}
    for r in records:
        if r.model == model and r.outcome != "skipped":
            cells.setdefault(r.task, []).append(r)
    result = {}
    for task, runs in cells.items():
        pass_rate = sum(r.passed for r in runs) / len(runs)
        quality = sum(0.0 if r.quality is None else r.quality for r in runs) / len(runs)
        result[task] = 100 * (0.6 * pass_rate + 0.4 * quality)
    return result


# ------------------------------------------------------------------- score change


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_delta_is_the_change_of_the_overall_score(seed):
    # Several categories, difficulties and weights: the change over identical task sets must
    # equal the difference of the overall scores scoring.summarise computes independently.
    kwargs = dict(categories=("accuracy", "safety", "reasoning"), difficulties=("easy", "hard", "medium", "expert"),
                  weights=(1.0, 2.0, 0.5))
    before = random_records({"m": 0.8, "n": 0.5}, 23, 4, seed, **kwargs)
    after = random_records({"m": 0.6, "n": 0.55}, 23, 4, seed + 100, **kwargs)
    comparison = compare_to_baseline(after, base(before))
    now, then = summarise(after, DEFAULT_CATEGORY_WEIGHTS), summarise(before, DEFAULT_CATEGORY_WEIGHTS)
    for name in ("m", "n"):
        entry = comparison.get(name)
        assert entry.score.a == pytest.approx(now[name]["score"], abs=1e-9)
        assert entry.score.b == pytest.approx(then[name]["score"], abs=1e-9)
        assert entry.delta == pytest.approx(now[name]["score"] - then[name]["score"], abs=1e-9)
        for category in entry.categories:
            expected = (now[name]["categories"][category.category]["score"]
                        - then[name]["categories"][category.category]["score"])
            assert category.delta.delta == pytest.approx(expected, abs=1e-9)


def test_only_shared_tasks_are_compared():
    before = random_records({"m": 0.9}, 12, 3, 5)
    after = random_records({"m": 0.7}, 8, 3, 6) + random_records({"m": 0.2}, 5, 3, 7, prefix="new")
    entry = compare_to_baseline(after, base(before)).get("m")
    assert (entry.shared_tasks, entry.only_current_tasks, entry.only_baseline_tasks) == (8, 5, 4)
    shared_before = [r for r in before if r.task < "t008"]
    expected = (summarise([r for r in after if r.task.startswith("t")], DEFAULT_CATEGORY_WEIGHTS)["m"]["score"]
                - summarise(shared_before, DEFAULT_CATEGORY_WEIGHTS)["m"]["score"])
    assert entry.delta == pytest.approx(expected, abs=1e-9)


def test_single_category_matches_paired_t_se_and_exact_permutation():
    # One category, equal weights: the change is mean(d) over tasks; SE = sem(d) (scipy);
    # p = exact sign-flip p-value (scipy.stats.permutation_test, permutation_type="samples").
    before = random_records({"m": 0.8}, 12, 5, 11)
    after = random_records({"m": 0.55}, 12, 5, 12)
    entry = compare_to_baseline(after, base(before)).get("m")
    now, then = task_means(after, "m"), task_means(before, "m")
    d = np.array([now[t] - then[t] for t in sorted(now)])
    assert entry.delta == pytest.approx(d.mean(), abs=1e-9)
    assert entry.score.se == pytest.approx(sps.sem(d), rel=1e-12)

    def p(delta):
        return sps.permutation_test((d - delta,), np.mean, permutation_type="samples", n_resamples=np.inf,
                                    alternative="two-sided").pvalue

    assert entry.score.p_value == pytest.approx(p(0.0), rel=1e-12)
    assert "exact" in entry.score.test
    # The interval inverts that same test: just inside its ends p > 0.05, just outside p <= 0.05.
    low, high = entry.score.ci.low, entry.score.ci.high
    assert p(low + 1e-6) > 0.05 >= p(low - 1e-6) and p(high - 1e-6) > 0.05 >= p(high + 1e-6)
    assert entry.score.significant == (high < 0 or low > 0)


def test_weighted_categories_se_matches_statsmodels_wls_cluster():
    # Reference: WLS of d on category dummies with task weights, cluster-robust with every task
    # its own cluster; SE² = αᵀVα with statsmodels' (N−1)/(N−K) small-sample factor removed.
    rng = np.random.default_rng(3)
    n = 30
    category = np.arange(n) % 3
    task_weight = rng.choice([0.5, 1.0, 1.5, 2.0], size=n)
    category_weight = np.array([0.5, 0.3, 0.2])
    a = rng.uniform(20, 100, n)
    b = a - rng.normal([5.0, -2.0, 1.0][0], 10.0, n)
    result = weighted_paired_delta(a, b, task_weight, category, category_weight)
    d = a - b
    dummies = np.eye(3)[category]
    fit = sm.WLS(d, dummies, weights=task_weight).fit(cov_type="cluster", cov_kwds={"groups": np.arange(n)})
    correction = (n - 3) / (n - 1)
    expected_se = math.sqrt(category_weight @ fit.cov_params() @ category_weight * correction)
    assert result.delta == pytest.approx(category_weight @ fit.params, rel=1e-12)
    assert result.se == pytest.approx(expected_se, rel=1e-10)


def test_task_shares_sum_to_one_and_follow_weights():
    shares = task_shares(np.array([1.0, 3.0, 2.0]), np.array([0, 0, 1]), np.array([0.75, 0.25, 9.0]))
    # category 2 has no tasks: α renormalised over 0 and 1 → 0.75, 0.25
    np.testing.assert_allclose(shares, [0.75 * 1 / 4, 0.75 * 3 / 4, 0.25])


def test_groups_cluster_the_se_and_flip_whole_groups():
    # Tasks sharing a group move together: SE is statsmodels' cluster-robust OLS SE (CR1), and
    # the p-value is the exact sign-flip test of the group sums of d.
    rng = np.random.default_rng(8)
    groups = np.repeat([f"g{k}" for k in range(6)], 3)
    a = rng.uniform(40, 100, 18)
    b = a + rng.normal(-6, 8, 6).repeat(3) + rng.normal(0, 2, 18)
    result = weighted_paired_delta(a, b, np.ones(18), np.zeros(18, dtype=int), np.ones(1), groups)
    d = a - b
    fit = sm.OLS(d, np.ones(18)).fit(cov_type="cluster", cov_kwds={"groups": np.repeat(np.arange(6), 3)})
    assert result.se == pytest.approx(float(fit.bse[0]), rel=1e-10)
    assert result.n_clusters == 6
    sums = d.reshape(6, 3).sum(axis=1)
    reference = sps.permutation_test((sums,), np.mean, permutation_type="samples", n_resamples=np.inf).pvalue
    assert result.p_value == pytest.approx(reference, rel=1e-12)
    assert "6 task groups" in result.test


def test_one_shared_task_has_no_se_and_p_one():
    before = [run("m", "t", k, True) for k in (1, 2, 3)]
    after = [run("m", "t", k, k == 1) for k in (1, 2, 3)]
    entry = compare_to_baseline(after, base(before)).get("m")
    assert entry.shared_tasks == 1
    assert entry.delta == pytest.approx(-100 * 2 / 3)
    assert math.isnan(entry.score.se) and entry.score.ci.low == -math.inf  # no bound: any change fits
    assert entry.score.p_value == 1.0  # one sign flip pattern besides the identity: never significant
    assert entry.variance is None and entry.mde == math.inf  # nothing is detectable with one task


def test_identical_runs_give_zero_change_and_p_one():
    records = random_records({"m": 0.6}, 10, 3, 4)
    entry = compare_to_baseline(records, base(records)).get("m")
    assert entry.delta == 0.0 and entry.score.se == 0.0
    assert entry.score.p_value == 1.0
    assert entry.latency_p95_ms_delta == 0.0


@pytest.mark.parametrize(("passed", "score"), [(True, 100.0), (False, 0.0)])
def test_all_pass_or_all_fail_before_and_after_is_no_change(passed, score):
    before = [run("m", f"t{k}", r, passed) for k in range(5) for r in (1, 2)]
    entry = compare_to_baseline(before, base(before)).get("m")
    assert (entry.score.a, entry.score.b, entry.delta, entry.score.p_value) == (score, score, 0.0, 1.0)
    assert entry.variance is not None and entry.variance.sigma2_a == 0.0
    assert entry.mde == math.inf  # 5 tasks: the exact test cannot reject at 0.05 (2/32 > 0.05)


def test_variance_components_use_the_shared_runs():
    # One category, equal weights: the scaled run matrices are the raw per-run scores, so the
    # components equal stats.variance_components of the raw (tasks × runs) score matrices.
    before = random_records({"m": 0.7}, 9, 4, 21)
    after = random_records({"m": 0.6}, 9, 4, 22)
    entry = compare_to_baseline(after, base(before)).get("m")

    def matrix(records):
        rows = sorted((r.task, r.run, 100 * (0.6 * r.passed + 0.4 * r.quality)) for r in records)
        return np.array([score for _, _, score in rows]).reshape(9, 4)

    expected = variance_components(matrix(after), matrix(before))
    assert entry.variance.omega2 == pytest.approx(expected.omega2, rel=1e-9, abs=1e-9)
    assert entry.variance.sigma2_a == pytest.approx(expected.sigma2_a, rel=1e-12)
    assert entry.variance.sigma2_b == pytest.approx(expected.sigma2_b, rel=1e-12)
    assert (entry.runs_current, entry.runs_baseline) == (4, 4)
    assert entry.mde is not None and entry.mde > 0


# ------------------------------------------------------------------ latency, cost


def test_p95_latency_delta_uses_shared_tasks():
    before = [run("m", f"t{k}", r, True, latency_ms=100.0 * k + r) for k in range(4) for r in (1, 2, 3)]
    after = [run("m", f"t{k}", r, True, latency_ms=150.0 * k + r) for k in range(3) for r in (1, 2, 3)]
    entry = compare_to_baseline(after, base(before)).get("m")
    expected_now = np.percentile([150.0 * k + r for k in range(3) for r in (1, 2, 3)], 95)
    expected_then = np.percentile([100.0 * k + r for k in range(3) for r in (1, 2, 3)], 95)
    assert entry.latency_p95_ms_current == pytest.approx(expected_now)
    assert entry.latency_p95_ms_baseline == pytest.approx(expected_then)
    assert entry.latency_p95_ms_delta == pytest.approx(expected_now - expected_then)


def test_cost_per_task_delta_and_unknown_cost():
    before = [run("m", f"t{k}", r, True, cost_usd=0.001 * (k + 1)) for k in range(3) for r in (1, 2)]
    after = [run("m", f"t{k}", r, True, cost_usd=0.002 * (k + 1)) for k in range(3) for r in (1, 2)]
    entry = compare_to_baseline(after, base(before)).get("m")
    assert entry.cost_per_task_usd_baseline == pytest.approx(0.002)
    assert entry.cost_per_task_usd_current == pytest.approx(0.004)
    assert entry.cost_per_task_usd_delta == pytest.approx(0.002)
    unpriced = after[:-1] + [run("m", "t2", 2, True, cost_usd=None, calls=1)]
    entry = compare_to_baseline(unpriced, base(before)).get("m")
    assert entry.cost_per_task_usd_current is None and entry.cost_per_task_usd_delta is None
    assert entry.to_dict()["cost_per_task_usd"] == {"current": None, "baseline": pytest.approx(0.002), "delta": None}


def test_a_run_without_model_calls_costs_nothing():
    records = [run("m", "t0", 1, True, cost_usd=0.01), run("m", "t0", 2, False, outcome="error", calls=0),
               run("m", "t1", 1, True, cost_usd=0.03)]
    assert cost_per_task_by_model(records) == {"m": pytest.approx((0.005 + 0.03) / 2)}
    assert cost_per_task_by_model([run("m", "t0", 1, True)]) == {"m": None}  # called, no price


# ------------------------------------------------------------------------- errors


def test_no_shared_model_names_the_file():
    with pytest.raises(ConfigError, match=r"baseline 'old\.json' shares no model with this run: the baseline has a, "
                                          r"this run has b"):
        compare_to_baseline([run("b", "t", 1, True)], base([run("a", "t", 1, True)], "old.json"))


def test_no_shared_task_names_the_file():
    with pytest.raises(ConfigError, match=r"baseline 'old\.json' shares no task with this run"):
        compare_to_baseline([run("a", "new", 1, True)], base([run("a", "old", 1, True)], "old.json"))


def test_model_without_shared_tasks_among_others():
    before = [run("a", "t", 1, True), run("b", "x", 1, True)]
    after = [run("a", "t", 1, False), run("b", "y", 1, True)]
    comparison = compare_to_baseline(after, base(before))
    assert comparison.get("b").score is None and comparison.get("b").delta is None
    assert comparison.get("a").delta == -100.0


def test_missing_and_malformed_baseline_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_baseline(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="bad.json.*not valid JSON"):
        load_baseline(bad)


def test_unweighted_category_is_a_config_error():
    records = [run("m", "t", 1, True, category="refunds")]
    with pytest.raises(ConfigError, match="category 'refunds' has runs but no weight"):
        compare_to_baseline(records, base(records))


# ------------------------------------------------------------------ saving, output


def test_write_baseline_round_trip_drops_comparison_blocks(tmp_path):
    records = random_records({"m": 0.5}, 3, 2, 1)
    document = {"schema_version": 1, "meta": {}, "models": summarise(records, DEFAULT_CATEGORY_WEIGHTS),
                "baseline": {"old": True}, "gates": [], "runs": [r.to_dict() for r in records]}
    path = tmp_path / "baselines" / "main.json"
    write_baseline(path, document)
    loaded = load_baseline(path)
    assert "baseline" not in loaded.document and "gates" not in loaded.document
    assert loaded.records == tuple(records)
    assert read_results(path)[1] == records
    assert baseline_document(document).keys() == {"schema_version", "meta", "models", "runs"}


@pytest.mark.parametrize("width", [80, 100, 120])
def test_to_dict_is_json_and_rows_fit_the_width(width):
    before = random_records({"a-very-long-model-name-that-goes-on-and-on": 0.8, "b": 0.7}, 20, 3, 2)
    after = random_records({"a-very-long-model-name-that-goes-on-and-on": 0.6, "b": 0.7}, 20, 3, 3)
    comparison = compare_to_baseline(after, base(before))
    json.dumps(comparison.to_dict(), allow_nan=False)
    text = comparison.table(width=width)
    assert max(len(line) for line in text.splitlines()) <= width
    # wrapped, never cut: the first column's lines below the rule read the whole name back
    lines = text.splitlines()
    rule = next(i for i, line in enumerate(lines) if set(line) <= {"-", " "})
    column = len(lines[rule].split()[0])
    first = [line[:column].strip() for line in lines[rule + 1:]]
    assert "".join(first) == "a-very-long-model-name-that-goes-on-and-on" + "b"
    assert "…" not in text
    assert comparison.to_dict()["models"]["b"]["shared_tasks"] == 20


def test_difficulty_multipliers_enter_the_weights():
    # Sanity check of the weighting against the documented multipliers.
    before = [run("m", "easy", 1, True, difficulty="easy"), run("m", "hard", 1, True, difficulty="hard")]
    after = [run("m", "easy", 1, False, difficulty="easy"), run("m", "hard", 1, True, difficulty="hard")]
    entry = compare_to_baseline(after, base(before)).get("m")
    easy, hard = DIFFICULTIES["easy"].multiplier, DIFFICULTIES["hard"].multiplier
    assert entry.delta == pytest.approx(-100 * easy / (easy + hard))


def test_grouped_tasks_are_tested_by_group_in_a_comparison():
    # 4 groups of 3 tasks: the p-value is the exact sign-flip test over the 4 group sums of d,
    # and the SE the cluster-robust one (statsmodels OLS, clusters = groups).
    groups = [f"g{k // 3}" for k in range(12)]
    before = random_records({"m": 0.8}, 12, 4, 31, groups=groups)
    after = random_records({"m": np.repeat([0.9, 0.4, 0.6, 0.3], 3)}, 12, 4, 32, groups=groups)
    entry = compare_to_baseline(after, base(before)).get("m")
    now, then = task_means(after, "m"), task_means(before, "m")
    d = np.array([now[t] - then[t] for t in sorted(now)])
    sums = d.reshape(4, 3).sum(axis=1)
    reference = sps.permutation_test((sums,), np.mean, permutation_type="samples", n_resamples=np.inf).pvalue
    assert entry.score.p_value == pytest.approx(reference, rel=1e-12)
    assert entry.score.test.endswith("over 4 task groups") and entry.score.n_clusters == 4
    fit = sm.OLS(d, np.ones(12)).fit(cov_type="cluster", cov_kwds={"groups": np.repeat(np.arange(4), 3)})
    assert entry.score.se == pytest.approx(float(fit.bse[0]), rel=1e-10)
