"""The measured dimensions: transforms, per-task values, score columns and how the one paired
test covers them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_modelbench._exceptions import ConfigError
from pytest_modelbench.compare.head_to_head import head_to_head
from pytest_modelbench.compare.paired import paired_deltas
from pytest_modelbench.core.config import DEFAULT_CATEGORY_WEIGHTS
from pytest_modelbench.core.dimensions import DEFAULT_COST, DEFAULT_SPEED, Dimensions, LogLinear, parse_dimensions
from pytest_modelbench.core.measured import (
    cell_percentiles,
    run_agreement,
    task_consistency,
    task_cost_usd,
    task_speed,
)
from pytest_modelbench.core.records import RunRecord
from pytest_modelbench.core.scoring import score_columns, score_model, task_clusters, weighted_category_mean
from pytest_modelbench.core.table import RunTable
from pytest_modelbench.profile.consistency import consistency
from pytest_modelbench.session.analysis import summarise


def run(model, task, number, *, passed=True, latency=None, ttft=None, cost=None, calls=1, category="accuracy",
        quality=None, outcome=None, group=None, difficulty="medium"):
    outcome = outcome or ("passed" if passed else "failed")
    return RunRecord(task=task, model=model, run=number, category=category, difficulty=difficulty, weight=1.0,
                     outcome=outcome, quality=None if outcome == "error" else (quality if quality is not None
                                                                                else float(passed)),
                     latency_ms=latency, ttft_ms=ttft, cost_usd=cost, calls=calls, group=group)


# ---------------------------------------------------------------------------- transforms


@pytest.mark.parametrize(
    ("value", "points"),
    [  # from the definition: 100 at best, 0 at worst, every factor of 10 the same number of points
        (50.0, 100.0), (100.0, 100.0), (1_000.0, 50.0), (10_000.0, 0.0), (1e6, 0.0),
        (100.0 * 10 ** 0.5, 75.0), (100.0 * 10 ** 1.5, 25.0), (0.0, 100.0), (float("nan"), float("nan")),
    ],
)
def test_log_linear_reference_points(value, points):
    transform = LogLinear(100.0, 10_000.0)
    result = float(transform(np.array([value]))[0])
    assert (math.isnan(result) and math.isnan(points)) or result == pytest.approx(points, abs=1e-12)
    assert transform.points_per_decade() == pytest.approx(50.0)


def test_default_transforms_worked_example():
    # docs/results.md: p95 1,650 ms scores 100 · log(10000/1650) / log(10000/300) = 51.4
    p95 = [c for c in DEFAULT_SPEED if c.name == "latency_p95"][0].transform
    assert float(p95(1650.0)) == pytest.approx(51.38, abs=0.01)
    # cost: $0.0021 a task ($2.10 per 1k tasks) is log10(0.1/0.0021) / 3 = 55.9 points
    assert float(DEFAULT_COST(0.0021)) == pytest.approx(55.93, abs=0.01)
    assert float(DEFAULT_COST(0.0)) == 100.0


def test_parse_dimensions_defaults_and_overrides():
    assert parse_dimensions(None) == Dimensions()
    parsed = parse_dimensions({"speed": {"latency_p95": {"best_ms": 500, "worst_ms": 20_000}, "ttft_p50": {"weight": 0}},
                               "cost": {"best_usd": 0.001}, "consistency": {"measured": False}})
    assert [c.name for c in parsed.speed] == ["latency_p50", "latency_p95"]  # weight 0 leaves TTFT out
    p95 = parsed.speed[1]
    assert (p95.transform.best, p95.transform.worst, p95.weight) == (500.0, 20_000.0, 0.4)
    assert (parsed.cost.best, parsed.cost.worst) == (0.001, 0.1)
    assert parsed.measured == ("speed", "cost")
    assert parse_dimensions({"speed": {"measured": False}}).speed is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"speed": {"latency_p95": {"best_ms": 0}}}, r"\[tool.modelbench.speed\] latency_p95: best_ms = 0 is not allowed; "
                                                     r"it must be a number > 0 \(milliseconds\)"),
        ({"speed": {"latency_p95": {"best_ms": 900, "worst_ms": 800}}}, "worst_ms = 800 is not allowed; it must be more "
                                                                      "than best_ms = 900"),
        ({"speed": {"latency_p99": {}}}, r"\[tool.modelbench.speed\] has unknown key 'latency_p99'; allowed: measured, "
                                         "latency_p50, latency_p95, ttft_p50"),
        ({"speed": {"latency_p50": {"weight": -1}}}, "weight = -1 is not allowed; it must be a number >= 0"),
        ({"speed": {c: {"weight": 0} for c in ("latency_p50", "latency_p95", "ttft_p50")}}, "every component has weight 0"),
        ({"speed": {"latency_p50": 200}}, "latency_p50 = 200 is not allowed; it must be a table"),
        ({"cost": {"best_usd": "cheap"}}, r"\[tool.modelbench.cost\]: best_usd = 'cheap' is not allowed"),
        ({"cost": {"worst": 1}}, r"\[tool.modelbench.cost\] has unknown key 'worst'; allowed: measured, best_usd, worst_usd"),
        ({"consistency": {"measured": "no"}}, r"\[tool.modelbench.consistency\]: measured = 'no' is not allowed; use true or false"),
        ({"consistency": True}, r"\[tool.modelbench.consistency\] must be a table"),
    ],
)
def test_parse_dimensions_rejects_bad_values(table, message):
    with pytest.raises(ConfigError, match=message):
        parse_dimensions(table)


# ------------------------------------------------------------------------ per-task values


def test_cell_percentiles_equal_numpy_per_cell():
    rng = np.random.default_rng(3)
    records = [run(m, f"t{t}", k, latency=float(rng.gamma(2, 300)) if rng.random() > 0.1 else None)
               for m in ("a", "b") for t in range(7) for k in range(1, int(rng.integers(1, 9)) + 1)]
    table = RunTable.from_records(records)
    found = cell_percentiles(table, table.latency_ms, (50.0, 95.0, 99.0))
    for i in range(table.n_models):
        for t in range(table.n_tasks):
            values = table.latency_ms[(table.model == i) & (table.task == t)]
            values = values[~np.isnan(values)]
            expected = np.percentile(values, [50, 95, 99]) if values.size else [np.nan] * 3
            np.testing.assert_allclose(found[:, i, t], expected, rtol=1e-12)


def test_task_speed_combines_the_measured_components():
    records = [run("m", "streamed", k, latency=lat, ttft=ttft) for k, (lat, ttft) in enumerate(
        [(1000.0, 100.0), (1000.0, 100.0), (1000.0, 100.0)], start=1)]
    records += [run("m", "plain", 1, latency=300.0)]
    records += [run("m", "uncalled", 1, calls=0)]
    table = RunTable.from_records(records)
    speed = task_speed(table)
    by_task = dict(zip(table.tasks, speed.score[0]))
    p50 = 100 * math.log(5000 / 1000) / math.log(5000 / 200)
    p95 = 100 * math.log(10000 / 1000) / math.log(10000 / 300)
    assert by_task["streamed"] == pytest.approx((0.4 * p50 + 0.4 * p95 + 0.2 * 100.0) / 1.0)
    # no TTFT (not streamed): the two latency components carry the score
    plain_p50 = 100 * math.log(5000 / 300) / math.log(5000 / 200)
    assert by_task["plain"] == pytest.approx((0.4 * plain_p50 + 0.4 * 100.0) / 0.8)
    assert math.isnan(by_task["uncalled"])


def test_task_cost_free_unknown_and_uncalled():
    records = [run("m", "priced", 1, cost=0.002), run("m", "priced", 2, cost=0.004),
               run("m", "partly", 1, cost=0.002), run("m", "partly", 2, cost=None),  # called, cost unknown
               run("m", "uncalled", 1, cost=None, calls=0),
               run("m", "errored", 1, cost=0.001, outcome="error")]
    table = RunTable.from_records(records)
    cost = dict(zip(table.tasks, task_cost_usd(table)[0]))
    assert cost["priced"] == pytest.approx(0.003) and math.isnan(cost["partly"]) and cost["uncalled"] == 0.0
    assert cost["errored"] == pytest.approx(0.001)  # the call was made and paid for


def test_task_consistency_is_the_consistency_reports_term():
    rng = np.random.default_rng(5)
    records = [run(m, f"t{t}", k, passed=bool(rng.random() < 0.6), quality=float(rng.random()))
               for m in ("a", "b") for t in range(9) for k in range(1, 4)]
    table = RunTable.from_records(records)
    values = task_consistency(table)
    report = consistency(table)
    for i, model in enumerate(table.models):
        assert np.nanmean(values[i]) == pytest.approx(report.get(model).score, abs=1e-12)
    assert np.isnan(task_consistency(RunTable.from_records([run("a", "t", 1)]))).all()  # one run: nothing to compare
    agreement = run_agreement(table)
    assert ((agreement.inconsistency >= 0) & (agreement.inconsistency <= 1)).all()


# --------------------------------------------------------------------------- score columns


def mixed_records():
    """Two models, six accuracy tasks and two marked speed tasks, three runs each."""
    records = []
    for m, (scale, price) in {"fast": (200.0, 0.0001), "slow": (4000.0, 0.01)}.items():
        for t in range(6):
            for k in range(1, 4):
                records.append(run(m, f"acc{t}", k, passed=(t + k) % 3 != 0, latency=scale * (1 + 0.1 * t),
                                   cost=price))
        for t in range(2):
            for k in range(1, 4):
                records.append(run(m, f"speed{t}", k, passed=m == "fast", category="speed",
                                   latency=scale, cost=price, difficulty="hard"))
    return records


def test_measured_and_marked_halves_of_a_category():
    table = RunTable.from_records(mixed_records())
    columns = score_columns(table, Dimensions())
    assert columns.categories == ("accuracy", "consistency", "cost", "speed")
    speed = columns.categories.index("speed")
    measured = (columns.category == speed) & ~columns.answers
    marked = (columns.category == speed) & columns.answers
    assert measured.sum() == 8 and marked.sum() == 2
    assert columns.weight[measured].sum() == pytest.approx(1.0) and columns.weight[marked].sum() == pytest.approx(1.0)
    scores = score_model(table, DEFAULT_CATEGORY_WEIGHTS, columns=columns)
    fast = table.models.index("fast")
    half_measured = np.mean(columns.values[fast, measured])
    half_marked = np.mean(columns.values[fast, marked])
    assert scores.category[fast, speed] == pytest.approx((half_measured + half_marked) / 2)
    # without dimensions the columns are the answers alone, as before
    plain = score_columns(table)
    assert plain.n_columns == table.n_tasks and plain.categories == table.categories


def test_a_models_dimension_scores_do_not_depend_on_the_others():
    records = mixed_records()
    alone = summarise([r for r in records if r.model == "fast"], DEFAULT_CATEGORY_WEIGHTS, dimensions=Dimensions())
    together = summarise(records, DEFAULT_CATEGORY_WEIGHTS, dimensions=Dimensions())
    for name, block in alone["fast"]["dimensions"].items():
        other = together["fast"]["dimensions"][name]
        assert block["score"] == pytest.approx(other["score"], abs=1e-9) and block["tasks"] == other["tasks"]
        assert block["ci95"] == pytest.approx(other["ci95"], abs=1e-9)
    assert alone["fast"]["score"] == pytest.approx(together["fast"]["score"])


def test_errored_tasks_have_no_measured_score():
    records = [run("m", "t1", 1, latency=100.0, cost=0.0), run("m", "t2", 1, latency=5.0, cost=0.0, outcome="error"),
               run("dead", "t1", 1, latency=3.0, outcome="error"), run("dead", "t2", 1, latency=3.0, outcome="error")]
    summary = summarise(records, DEFAULT_CATEGORY_WEIGHTS, dimensions=Dimensions())
    assert summary["m"]["dimensions"]["speed"]["tasks"] == 1  # t2 measured no answer
    assert summary["dead"]["score"] is None and summary["dead"]["dimensions"]["speed"]["score"] is None


# ------------------------------------------------------------- the paired test covers them


def test_a_speed_difference_alone_is_tested_on_tasks():
    # identical answers; "fast" is faster on each of 8 tasks by the same margin: every task's
    # contribution has the same sign, so the exact sign-flip p-value is 2/2^8
    records = []
    for m, latency in (("fast", 400.0), ("slow", 4000.0)):
        records += [run(m, f"t{t}", k, latency=latency, cost=0.0) for t in range(8) for k in (1, 2)]
    table = RunTable.from_records(records)
    dimensions = Dimensions(cost=None, consistency=False)
    result = head_to_head(table, DEFAULT_CATEGORY_WEIGHTS, dimensions=dimensions)
    [pair] = result.overall
    fast_speed = float(np.mean(score_columns(table, dimensions).measured_part(table.models.index("fast"), "speed")))
    slow_speed = float(np.mean(score_columns(table, dimensions).measured_part(table.models.index("slow"), "speed")))
    weights = DEFAULT_CATEGORY_WEIGHTS
    delta = weights["speed"] * (fast_speed - slow_speed) / (weights["speed"] + weights["accuracy"])
    assert pair.model_a == "fast" and pair.delta == pytest.approx(delta)
    assert pair.p_value == pytest.approx(2 / 2 ** 8) and pair.tasks == 8 and pair.clusters == 8
    assert result.pair("fast", "slow", "speed").delta == pytest.approx(fast_speed - slow_speed)
    # the same differences with every task in one group: one cluster, nothing to flip
    grouped = [RunRecord(**{**r.to_dict(), "group": "g"}) for r in records]
    [pair] = head_to_head(RunTable.from_records(grouped), weights, dimensions=dimensions).overall
    assert pair.clusters == 1 and pair.p_value == 1.0


def test_a_tasks_columns_flip_together():
    # task t0: A better on answers, worse on speed by exactly as much; every other task even.
    # Flipped together, the task's contribution is 0: nothing to detect.
    a_scores = np.array([[100.0, 50.0, 50.0, 0.0, 50.0, 50.0]])
    b_scores = np.array([[0.0, 50.0, 50.0, 100.0, 50.0, 50.0]])
    weight = np.ones(6)
    category = np.array([0, 0, 0, 1, 1, 1])
    column_task = np.array([0, 1, 2, 0, 1, 2])
    [together] = paired_deltas(a_scores, b_scores, weight, category, np.array([1.0, 1.0]), column_task,
                               column_task=column_task, adjust=False)
    assert together.delta == pytest.approx(0.0) and together.n_tasks == 3 and together.n_clusters == 3
    assert together.p_value == 1.0


def test_the_task_clustered_interval_matches_a_bootstrap_over_tasks():
    # The dimension scores are means of per-task values, so their linearised task-clustered SE
    # is the SE of a mean over tasks; a bootstrap over tasks (Efron & Tibshirani 1993, ch. 6)
    # must agree up to its Monte-Carlo error and the n/(n-1) factor.
    rng = np.random.default_rng(11)
    records = [run("m", f"t{t:02d}", k, latency=float(rng.lognormal(math.log(800 + 60 * t), 0.6)), cost=0.0)
               for t in range(40) for k in range(1, 6)]
    table = RunTable.from_records(records)
    columns = score_columns(table, Dimensions(cost=None, consistency=False))
    values = columns.measured_part(0, "speed")
    cluster, n_clusters = task_clusters(table)
    mean = weighted_category_mean(values[np.newaxis, :], np.ones(40), np.zeros(40, dtype=np.int64), np.ones(1),
                                  cluster, n_clusters, category_se=False)
    boot = rng.choice(values, size=(20_000, values.size), replace=True).mean(axis=1)
    n = values.size
    assert mean.overall_se[0] == pytest.approx(boot.std(ddof=1) * math.sqrt(n / (n - 1)), rel=0.03)


def test_results_md_worked_example():
    """docs/results.md, "Worked example": the numbers the page prints."""
    spec = {"t1": [(800, 200, 0.0021, True), (900, 220, 0.0021, True), (1000, 250, 0.0021, True)],
            "t2": [(2400, 600, 0.003, True), (2600, 650, 0.004, True), (5200, 700, 0.005, False)]}
    records = [run("m", task, k, passed=ok, latency=float(latency), ttft=float(ttft), cost=cost)
               for task, runs in spec.items() for k, (latency, ttft, cost, ok) in enumerate(runs, start=1)]
    table = RunTable.from_records(records)
    speed = task_speed(table)
    assert speed.latency_p95[0].tolist() == pytest.approx([990.0, 4940.0])
    assert speed.score[0].tolist() == pytest.approx([62.43, 23.67], abs=0.005)
    summary = summarise(records, DEFAULT_CATEGORY_WEIGHTS, dimensions=Dimensions())["m"]
    scores = {name: block["score"] for name, block in summary["dimensions"].items()}
    assert scores == pytest.approx({"speed": 43.05, "cost": 51.26, "consistency": 52.78}, abs=0.005)
    assert summary["categories"]["accuracy"]["score"] == pytest.approx(83.33, abs=0.005)
    assert summary["score"] == pytest.approx(64.62, abs=0.005)
    assert float(np.mean(task_cost_usd(table)[0])) * 1000 == pytest.approx(3.05)
