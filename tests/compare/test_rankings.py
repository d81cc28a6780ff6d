"""Rankings: weighted score with clustered SE, Bradley–Terry, Elo, Borda, Pareto."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pytest_modelbench.core.records import RunRecord
from pytest_modelbench.core.table import RunTable
from pytest_modelbench.compare.rankings import (
    RANK_METHODS,
    average_positions,
    battles,
    borda,
    bradley_terry,
    elo,
    fit_bradley_terry,
    pareto,
    rank_models,
    ranking_rows,
    strong_components,
)
from pytest_modelbench.core.scoring import score_model, weighted_category_mean

WEIGHTS = {"accuracy": 0.25, "safety": 0.15, "reasoning": 0.05, "coding": 0.02}


def record(model, task, run, quality, *, passed=None, category="accuracy", difficulty="medium",
           weight=1.0, group=None, latency_ms=None):
    if passed is None:
        passed = quality >= 0.5
    return RunRecord(task=task, model=model, run=run, category=category, difficulty=difficulty,
                     weight=weight, outcome="passed" if passed else "failed", quality=quality,
                     latency_ms=latency_ms, group=group)


def table_from(results, **task_info):
    """results: {model: {task: [quality per run]}}; task_info: {task: dict(category=...)}."""
    records = []
    for model, tasks in results.items():
        for task, qualities in tasks.items():
            for run, quality in enumerate(qualities, start=1):
                records.append(record(model, task, run, quality, **task_info.get(task, {})))
    return RunTable.from_records(records)


# ----------------------------------------------------------------------- scores


def test_score_by_hand():
    # accuracy: t1 (medium, ×1.0) and t2 (hard, ×1.5); safety: t3 (easy, ×0.75).
    info = {"t1": {"category": "accuracy"}, "t2": {"category": "accuracy", "difficulty": "hard"},
            "t3": {"category": "safety", "difficulty": "easy"}}
    table = table_from({"m": {"t1": [1.0, 0.0], "t2": [0.4, 0.4], "t3": [0.8, 0.6]}}, **info)
    scores = score_model(table, WEIGHTS)
    # t1: pass 0.5, quality 0.5 → 0.5; t2: pass 0 (0.4 < 0.5 fails), quality 0.4 → 0.16;
    # t3: pass 1, quality 0.7 → 0.88.
    accuracy = 100 * (1.0 * 0.5 + 1.5 * 0.16) / 2.5
    safety = 100 * 0.88
    assert scores.category[0, scores.categories.index("accuracy")] == pytest.approx(accuracy, abs=1e-12)
    assert scores.category[0, scores.categories.index("safety")] == pytest.approx(safety, abs=1e-12)
    overall = (0.25 * accuracy + 0.15 * safety) / 0.40
    assert scores.overall[0] == pytest.approx(overall, abs=1e-12)


def test_score_renormalises_over_the_categories_a_model_has():
    info = {"a": {"category": "accuracy"}, "s": {"category": "safety"}}
    table = table_from({"both": {"a": [1.0], "s": [0.0]}, "only_a": {"a": [1.0]}}, **info)
    scores = score_model(table, WEIGHTS)
    assert scores.overall[1] == pytest.approx(100.0)
    assert scores.overall[0] == pytest.approx(100 * 0.25 / 0.40)
    assert math.isnan(scores.category[1, scores.categories.index("safety")])
    assert scores.to_dict()["models"]["only_a"]["categories"].keys() == {"accuracy"}


def test_score_matches_scoring_module():
    """The overall score here and in pytest_modelbench.core.scoring are one definition."""
    from pytest_modelbench.core import scoring

    rng = np.random.default_rng(3)
    info = {f"t{i}": {"category": ("accuracy", "safety", "coding")[i % 3],
                      "difficulty": ("easy", "hard", "expert", "medium")[i % 4], "weight": 1 + i % 2}
            for i in range(12)}
    results = {m: {t: list(np.round(rng.random(3), 2)) for t in info if rng.random() < 0.8}
               for m in ("a", "b", "c")}
    table = table_from(results, **info)
    mine = score_model(table, WEIGHTS)
    category, _, _ = scoring.category_scores(table)
    np.testing.assert_allclose(mine.category, category, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(
        mine.overall, scoring.overall_scores(category, table.categories, WEIGHTS), rtol=1e-12
    )


def test_se_equals_miller_clt_for_one_category_equal_weights():
    # Miller (2024): SE = sqrt(var(task_means, ddof=1) / n).
    rng = np.random.default_rng(7)
    results = {"m": {f"t{i:02d}": list(np.round(rng.random(4), 2)) for i in range(25)}}
    table = table_from(results)
    scores = score_model(table, WEIGHTS)
    task_means = 100 * (0.6 * table.cell_means(table.passed) + 0.4 * table.cell_means(table.quality))[0]
    expected = math.sqrt(np.var(task_means, ddof=1) / 25)
    assert scores.overall_se[0] == pytest.approx(expected, rel=1e-12)
    assert scores.category_se[0, 0] == pytest.approx(expected, rel=1e-12)
    z = 1.959963984540054  # scipy.stats.norm.ppf(0.975)
    assert scores.overall_low[0] == pytest.approx(scores.overall[0] - z * expected, rel=1e-12)


def test_se_equals_statsmodels_cluster_robust_wls():
    """Weighted, two categories, task groups: α' V α with V the cluster-robust WLS covariance.

    statsmodels' default small-sample factor is G/(G−1)·(N−1)/(N−K); ours is G/(G−1), so the
    reference is computed with ``use_correction=False`` and multiplied by G/(G−1).
    """
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(11)
    n_tasks = 30
    values = rng.random((1, n_tasks)) * 100
    category = np.arange(n_tasks) % 2
    weight = rng.choice([0.5, 0.75, 1.0, 1.5, 2.0], n_tasks)
    group = np.arange(n_tasks) // 3  # 10 groups of three tasks, each spanning both categories
    category_weight = np.array([0.25, 0.15])
    result = weighted_category_mean(values, weight, category, category_weight, group, 10)
    design = np.column_stack([category == 0, category == 1]).astype(float)
    fit = sm.WLS(values[0], design, weights=weight).fit(
        cov_type="cluster", cov_kwds={"groups": group, "use_correction": False}
    )
    alpha = category_weight / category_weight.sum()
    np.testing.assert_allclose(result.category[0], fit.params, rtol=1e-12)
    assert result.overall[0] == pytest.approx(alpha @ fit.params, rel=1e-12)
    expected = math.sqrt(10 / 9 * alpha @ fit.cov_params() @ alpha)
    assert result.overall_se[0] == pytest.approx(expected, rel=1e-10)


def test_se_equals_statsmodels_ols_cluster_for_unweighted_groups():
    # REFERENCES.md: SE_cl equals statsmodels OLS(d, ones).fit(cov_type="cluster").
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(5)
    values = rng.random((1, 24))
    group = np.repeat(np.arange(8), 3)
    result = weighted_category_mean(values, np.ones(24), np.zeros(24, int), np.ones(1), group, 8)
    fit = sm.OLS(values[0], np.ones(24)).fit(cov_type="cluster", cov_kwds={"groups": group})
    # statsmodels' factor G/(G−1)·(N−1)/(N−K) with K = 1 is our G/(G−1).
    assert result.overall_se[0] == pytest.approx(float(fit.bse[0]), rel=1e-10)


def test_se_is_nan_with_one_task():
    scores = score_model(table_from({"m": {"t": [1.0, 0.0, 1.0]}}), WEIGHTS)
    assert scores.overall[0] == pytest.approx(100 * (0.6 * 2 / 3 + 0.4 * 2 / 3))
    assert math.isnan(scores.overall_se[0]) and math.isnan(scores.overall_low[0])
    assert scores.to_dict()["models"]["m"]["se"] is None


def test_identical_tasks_give_zero_se():
    scores = score_model(table_from({"m": {"a": [1.0, 1.0], "b": [1.0, 1.0]}}), WEIGHTS)
    assert scores.overall_se[0] == 0.0
    assert scores.overall_low[0] == scores.overall_high[0] == 100.0


def test_missing_category_weight_is_an_error():
    table = table_from({"m": {"t": [1.0]}}, t={"category": "accuracy"})
    with pytest.raises(ValueError, match="category 'accuracy' has runs but no weight; weighted categories: safety"):
        score_model(table, {"safety": 1.0})


def test_bad_confidence_is_rejected():
    with pytest.raises(ValueError, match=r"confidence 1.5 is not allowed"):
        score_model(table_from({"m": {"t": [1.0]}}), WEIGHTS, confidence=1.5)


# ---------------------------------------------------------------- Bradley–Terry

# BradleyTerry2's `baseball` data (Agresti 2002, Table 10.10): 1987 AL East, home/away wins.
BASEBALL = """\
Milwaukee,Detroit,4,3
Milwaukee,Toronto,4,2
Milwaukee,New York,4,3
Milwaukee,Boston,6,1
Milwaukee,Cleveland,4,2
Milwaukee,Baltimore,6,0
Detroit,Milwaukee,3,3
Detroit,Toronto,4,2
Detroit,New York,4,3
Detroit,Boston,6,0
Detroit,Cleveland,6,1
Detroit,Baltimore,4,3
Toronto,Milwaukee,2,5
Toronto,Detroit,4,3
Toronto,New York,2,4
Toronto,Boston,4,3
Toronto,Cleveland,4,2
Toronto,Baltimore,6,0
New York,Milwaukee,3,3
New York,Detroit,5,1
New York,Toronto,2,5
New York,Boston,4,3
New York,Cleveland,4,2
New York,Baltimore,6,1
Boston,Milwaukee,5,1
Boston,Detroit,2,5
Boston,Toronto,3,3
Boston,New York,4,2
Boston,Cleveland,5,2
Boston,Baltimore,6,0
Cleveland,Milwaukee,2,5
Cleveland,Detroit,3,3
Cleveland,Toronto,3,4
Cleveland,New York,4,3
Cleveland,Boston,4,2
Cleveland,Baltimore,2,4
Baltimore,Milwaukee,2,5
Baltimore,Detroit,1,5
Baltimore,Toronto,1,6
Baltimore,New York,2,4
Baltimore,Boston,1,6
Baltimore,Cleveland,3,4
"""
TEAMS = ("Milwaukee", "Detroit", "Toronto", "New York", "Boston", "Cleveland", "Baltimore")


def baseball_wins() -> np.ndarray:
    index = {team: i for i, team in enumerate(TEAMS)}
    wins = np.zeros((7, 7))
    for line in BASEBALL.splitlines():
        home, away, home_wins, away_wins = line.split(",")
        wins[index[home], index[away]] += int(home_wins)
        wins[index[away], index[home]] += int(away_wins)
    return wins


# Log-abilities relative to Baltimore. Agresti (2002) §10.6, Table 10.11 (2 decimals);
# BradleyTerry2 tests/baseball.Rout.save, BTm(cbind(home.wins, away.wins), ...) (4 decimals).
BASEBALL_REFERENCE = [
    ("Milwaukee", 1.58, 1.5814),
    ("Detroit", 1.44, 1.4364),
    ("Toronto", 1.29, 1.2945),
    ("New York", 1.25, 1.2476),
    ("Boston", 1.11, 1.1077),
    ("Cleveland", 0.68, 0.6839),
]


@pytest.mark.parametrize(("team", "agresti", "btm"), BASEBALL_REFERENCE)
def test_bradley_terry_baseball_published(team, agresti, btm):
    wins = baseball_wins()
    assert (wins + wins.T)[~np.eye(7, dtype=bool)].tolist() == [13.0] * 42  # 13 games per pair
    fit = fit_bradley_terry(wins)
    relative = fit.log_ability - fit.log_ability[TEAMS.index("Baltimore")]
    value = relative[TEAMS.index(team)]
    assert round(value, 2) == agresti
    assert value == pytest.approx(btm, abs=5e-5)  # R prints 4 decimals


def test_bradley_terry_baseball_matches_statsmodels_glm():
    """The BT MLE is a logistic regression on ±1 team indicators (Agresti 2002, §10.6)."""
    sm = pytest.importorskip("statsmodels.api")
    wins = baseball_wins()
    rows, outcome = [], []
    for i in range(7):
        for j in range(i + 1, 7):
            x = np.zeros(6)
            if i < 6:
                x[i] = 1.0
            if j < 6:
                x[j] = -1.0
            rows.append(x)
            outcome.append([wins[i, j], wins[j, i]])
    glm = sm.GLM(np.array(outcome), np.array(rows), family=sm.families.Binomial()).fit(tol=1e-14)
    fit = fit_bradley_terry(wins)
    relative = fit.log_ability - fit.log_ability[6]
    np.testing.assert_allclose(relative[:6], glm.params, atol=1e-8)


def test_bradley_terry_symmetric_table_gives_equal_ratings():
    # Every pair splits its battles evenly (a cyclic win pattern plus ties).
    table = table_from({
        "a": {"t1": [1.0], "t2": [0.0], "t3": [0.5]},
        "b": {"t1": [0.0], "t2": [1.0], "t3": [0.5]},
        "c": {"t1": [0.5], "t2": [0.5], "t3": [0.5]},
    })
    result = bradley_terry(table, bootstrap=0)
    assert result.strongly_connected
    np.testing.assert_allclose(result.rating, [1000.0, 1000.0, 1000.0], atol=1e-9)
    assert np.isnan(result.low).all()  # no bootstrap asked


def test_bradley_terry_two_models_closed_form():
    # 3 wins to 1: γ_a/γ_b = 3, so the rating gap is 400·log10(3).
    table = table_from({"a": {"t": [1.0, 1.0, 1.0, 0.0]}, "b": {"t": [0.0, 0.0, 0.0, 1.0]}})
    result = bradley_terry(table, bootstrap=0)
    gap = 400 * math.log10(3)
    np.testing.assert_allclose(result.rating, [1000 + gap / 2, 1000 - gap / 2], rtol=1e-10)
    assert result.battles.tolist() == [4.0, 4.0] and result.wins.tolist() == [3.0, 1.0]


def test_ties_count_half_a_win():
    table = table_from({"a": {"t": [1.0, 0.5, 0.5]}, "b": {"t": [0.0, 0.5, 0.5]}})
    data = battles(table)
    assert data.win_matrix().tolist() == [[0.0, 2.0], [1.0, 0.0]]


def test_model_winning_every_battle_ranks_first_everywhere():
    rng = np.random.default_rng(1)
    results = {"best": {f"t{i}": [1.0, 1.0] for i in range(6)}}
    for name in ("x", "y", "z"):
        results[name] = {f"t{i}": list(np.round(rng.random(2) * 0.9, 1)) for i in range(6)}
    table = table_from(results)
    rankings = rank_models(table, WEIGHTS, bootstrap=20)
    for method in ("weighted", "bradley_terry", "elo", "borda", "pareto"):
        assert rankings.ranking(method).order[0] == "best", method
    bt = rankings.bradley_terry
    # Nobody ever beat "best": no MLE exists (its γ would be infinite), which is reported.
    assert not bt.strongly_connected
    assert bt.components[0] == ("best",)
    assert np.isnan(bt.rating).all()
    assert "not strongly connected" in rankings.ranking("bradley_terry").note


def test_disconnected_graph_is_reported():
    # {a, b} and {c, d} never ran the same task: no battle links the two halves.
    table = table_from({
        "a": {"t1": [1.0, 0.0]}, "b": {"t1": [0.0, 1.0]},
        "c": {"t2": [1.0, 0.0]}, "d": {"t2": [0.0, 1.0]},
    })
    result = bradley_terry(table, bootstrap=10)
    assert not result.strongly_connected
    assert sorted(result.components) == [("a", "b"), ("c", "d")]
    assert result.to_dict()["models"]["a"]["rating"] is None
    assert result.bootstrap_valid == 0


def test_strong_components_dominance_order():
    # a beats b, b and c beat each other, c beats d: {a} > {b, c} > {d}.
    win = np.zeros((4, 4))
    win[0, 1] = win[1, 2] = win[2, 1] = win[2, 3] = 1
    assert strong_components(win) == [[0], [1, 2], [3]]


def test_bradley_terry_bootstrap_is_seeded_and_covers_the_estimate():
    rng = np.random.default_rng(2)
    results = {m: {f"t{i:02d}": list(np.round(np.clip(rng.random(3) + shift, 0, 1), 1)) for i in range(30)}
               for m, shift in (("a", 0.2), ("b", 0.0), ("c", -0.2))}
    table = table_from(results)
    first = bradley_terry(table, bootstrap=50, seed=4)
    again = bradley_terry(table, bootstrap=50, seed=4)
    other = bradley_terry(table, bootstrap=50, seed=5)
    np.testing.assert_array_equal(first.low, again.low)
    assert not np.array_equal(first.low, other.low)
    assert (first.low <= first.rating).all() and (first.rating <= first.high).all()
    assert first.bootstrap_valid == 50
    assert first.rating[0] > first.rating[1] > first.rating[2]
    assert first.rating.mean() == pytest.approx(1000.0)


def test_bootstrap_must_be_a_count():
    table = table_from({"a": {"t": [1.0]}, "b": {"t": [0.0]}})
    with pytest.raises(ValueError, match=r"bootstrap -1 is not allowed; it must be a whole number >= 0"):
        bradley_terry(table, bootstrap=-1)


def test_duplicate_runs_are_rejected():
    records = [record("m", "t", 1, 1.0), record("m", "t", 1, 0.0)]
    with pytest.raises(ValueError, match=r"model 'm' has 2 records for task 't' run 1"):
        battles(RunTable.from_records(records))


# -------------------------------------------------------------------------- Elo

E1 = 1 / (1 + 10 ** (-4 / 400))  # expected score of 1002 against 998


@pytest.mark.parametrize(
    ("qualities_a", "qualities_b", "expected_a"),
    [
        # one battle, a wins: 1000 + 4·(1 − ½)
        ([1.0], [0.0], 1002.0),
        # a tie between equals changes nothing
        ([0.5], [0.5], 1000.0),
        # a wins twice: second expected score E1 (computed by hand above)
        ([1.0, 1.0], [0.0, 0.0], 1002.0 + 4 * (1 - E1)),
        # a wins then loses: 1002, then 1002 + 4·(0 − E1)
        ([1.0, 0.0], [0.0, 1.0], 1002.0 - 4 * E1),
    ],
)
def test_elo_by_hand(qualities_a, qualities_b, expected_a):
    table = table_from({"a": {"t": qualities_a}, "b": {"t": qualities_b}})
    result = elo(table)
    assert result.rating[0] == pytest.approx(expected_a, abs=1e-12)
    assert result.rating[1] == pytest.approx(2000.0 - expected_a, abs=1e-12)


def test_elo_rating_period_with_three_models():
    # One (task, run): a > b > c. All three pairs rated from 1000 at the period's start:
    # a: +2 +2, b: −2 +2, c: −2 −2. Then a second period a > b only (c absent):
    # E = 1/(1 + 10^((1000 − 1004)/400)).
    table = table_from({"a": {"t": [1.0, 1.0]}, "b": {"t": [0.5, 0.0]}, "c": {"t": [0.0]}})
    result = elo(table)
    e_ab = 1 / (1 + 10 ** ((1000 - 1004) / 400))
    np.testing.assert_allclose(result.rating, [1004 + 4 * (1 - e_ab), 1000 - 4 * (1 - e_ab), 996], atol=1e-12)
    assert result.battles.tolist() == [3, 3, 2] and result.rounds == 2


def test_elo_order_is_task_name_then_run_not_record_order():
    results = {"a": {"t2": [1.0, 0.0], "t1": [0.0, 1.0]}, "b": {"t2": [0.0, 1.0], "t1": [1.0, 0.0]}}
    records = [record(m, t, r, q) for m, tasks in results.items() for t, qs in tasks.items()
               for r, q in enumerate(qs, start=1)]
    forward = elo(RunTable.from_records(records))
    backward = elo(RunTable.from_records(records[::-1]))
    np.testing.assert_array_equal(forward.rating, backward.rating)
    # t1 first: a loses, wins; t2: a wins, loses — by hand in that order.
    rating = 1000.0
    for score in (0.0, 1.0, 1.0, 0.0):
        rating += 4 * (score - 1 / (1 + 10 ** ((2000 - 2 * rating) / 400)))
    assert forward.rating[0] == pytest.approx(rating, abs=1e-12)
    assert forward.to_dict()["order_dependent"] is True


# ------------------------------------------------------------------------ Borda


@pytest.mark.parametrize(
    ("scores", "positions"),
    [
        ([90, 80, 70], [1, 2, 3]),
        ([80, 90, 80], [2.5, 1, 2.5]),
        ([50, 50, 50, 50], [2.5, 2.5, 2.5, 2.5]),
        ([70, float("nan"), 90, float("nan")], [2, 3.5, 1, 3.5]),
    ],
)
def test_average_positions(scores, positions):
    assert average_positions(np.array(scores, dtype=float)).tolist() == positions


def test_borda_ties_and_sums():
    info = {"a1": {"category": "accuracy"}, "s1": {"category": "safety"}, "c1": {"category": "coding"}}
    table = table_from({
        "x": {"a1": [1.0], "s1": [0.0], "c1": [1.0]},
        "y": {"a1": [1.0], "s1": [1.0], "c1": [0.0]},
        "z": {"a1": [0.0], "s1": [0.0], "c1": [1.0]},
    }, **info)
    result = borda(score_model(table, WEIGHTS))
    # accuracy: x, y tie (1.5 each), z 3; safety: y 1, x, z tie (2.5); coding: x, z tie (1.5), y 3.
    assert result.position_sum.tolist() == [1.5 + 2.5 + 1.5, 1.5 + 1 + 3, 3 + 2.5 + 1.5]
    assert result.points.tolist() == [9 - 5.5, 9 - 5.5, 9 - 7]
    ranking = rank_models(table, WEIGHTS, bootstrap=0).ranking("borda")
    assert [(e.model, e.position) for e in ranking.entries] == [("x", 1), ("y", 1), ("z", 3)]


# ----------------------------------------------------------------------- Pareto


def test_pareto_dominance_lists():
    result = pareto(["a", "b", "c", "d"], np.array([90.0, 80.0, 85.0, 70.0]),
                    np.array([1.0, 0.5, 1.0, 2.0]), np.array([100.0, 100.0, 200.0, 300.0]))
    assert result.front == ("a", "b")
    assert result.dominated_by == ((), (), ("a",), ("a", "b", "c"))
    assert result.layer.tolist() == [1, 1, 2, 3]
    assert result.dimensions == ("score", "cost_per_task_usd", "latency_p50_ms")


def test_pareto_equal_models_do_not_dominate_each_other():
    result = pareto(["a", "b"], np.array([80.0, 80.0]), np.array([1.0, 1.0]), np.array([5.0, 5.0]))
    assert result.front == ("a", "b")


def test_pareto_unknown_values_are_explicit():
    nan = float("nan")
    # No cost for anyone: the dimension is dropped. c's latency is unknown: c is compared with
    # no one (it can neither dominate nor be dominated on a guess).
    result = pareto(["a", "b", "c"], np.array([90.0, 80.0, 10.0]), np.array([nan, nan, nan]),
                    np.array([100.0, 200.0, nan]))
    assert result.dimensions == ("score", "latency_p50_ms")
    assert result.front == ("a", "c")
    assert result.dominated_by == ((), ("a",), ())
    assert result.unknown == ((), (), ("latency_p50_ms",))
    assert result.to_dict()["models"]["c"]["latency_p50_ms"] is None


def test_pareto_uses_measured_latency_and_given_costs():
    records = [record("fast", "t", 1, 0.8, latency_ms=100.0), record("fast", "t", 2, 0.8, latency_ms=300.0),
               record("slow", "t", 1, 0.8, latency_ms=900.0), record("slow", "t", 2, 0.8, latency_ms=1100.0)]
    table = RunTable.from_records(records)
    result = rank_models(table, WEIGHTS, bootstrap=0, costs={"fast": 0.01, "slow": 0.02}).pareto
    assert result.values[:, 2].tolist() == [200.0, 1000.0]
    assert result.front == ("fast",) and result.dominated_by[1] == ("fast",)
    with pytest.raises(ValueError, match=r"cost per task given for model 'other', which is not one of: fast, slow"):
        rank_models(table, WEIGHTS, bootstrap=0, costs={"other": 1.0})
    with pytest.raises(ValueError, match=r"cost per task -1 of model 'fast' is not allowed"):
        rank_models(table, WEIGHTS, bootstrap=0, costs={"fast": -1})


# ------------------------------------------------------------------ all together


def test_rankings_to_dict_is_json_and_rows_fit_100_columns():
    tabulate = pytest.importorskip("tabulate")
    rng = np.random.default_rng(9)
    info = {f"t{i}": {"category": ("accuracy", "safety")[i % 2]} for i in range(8)}
    results = {f"model-with-a-long-name-{k}": {t: list(np.round(rng.random(3), 1)) for t in info}
               for k in range(4)}
    table = table_from(results, **info)
    rankings = rank_models(table, WEIGHTS, bootstrap=20, costs={"model-with-a-long-name-0": 0.5})
    text = json.dumps(rankings.to_dict(), allow_nan=False)
    assert set(json.loads(text)["orders"]) == set(RANK_METHODS)
    for method in RANK_METHODS:
        rows = ranking_rows(rankings.ranking(method))
        rendered = tabulate.tabulate(rows[1:], headers=rows[0])
        assert max(len(line) for line in rendered.splitlines()) <= 100
        assert len(rows) == 5


def test_unknown_rank_method():
    rankings = rank_models(table_from({"a": {"t": [1.0]}, "b": {"t": [0.0]}}), WEIGHTS, bootstrap=0)
    with pytest.raises(ValueError, match="ranking method 'best' is not one of: weighted, bradley_terry"):
        rankings.ranking("best")
