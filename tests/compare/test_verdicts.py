"""Verdicts a team can act on: the task is the unit of evidence everywhere.

* On the recorded GSM8K solutions of four real systems (../shared/data, skipped when absent),
  every verdict is the same whether each question is run once or three times.
* The same pair, compared with the same weights, gets the same p-value, interval and verdict
  in the head-to-head, in ``--modelbench-compare`` and as a baseline comparison; the interval
  excludes 0 exactly when the verdict is significant, in every section.
* Simulation on the null (two models with the same per-task pass probabilities, runs
  deterministic per task or random per run): the false-positive rate stays near α. Under a
  true difference of 0.10 in pass probability the test detects it most of the time.
  benchmarks/verdicts_simulation.py runs the full version (hundreds of seeds).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pytest_modelbench.compare.baseline import Baseline, compare_to_baseline
from pytest_modelbench.compare.head_to_head import compare_pair, head_to_head
from pytest_modelbench.compare.recommend import BUILTIN_USE_CASES, recommend
from pytest_modelbench.core.config import DEFAULT_CATEGORY_WEIGHTS
from pytest_modelbench.core.records import RunRecord
from pytest_modelbench.core.table import RunTable
from pytest_modelbench.session.analysis import summarise

SOLUTIONS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "gsm8k" / "example_model_solutions.jsonl"
SYSTEMS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")


def _record(model: str, task: str, run: int, passed: bool, category: str = "reasoning") -> RunRecord:
    return RunRecord(task=task, model=model, run=run, category=category, difficulty="medium", weight=1.0,
                     outcome="passed" if passed else "failed", quality=1.0 if passed else 0.0)


@pytest.fixture(scope="module")
def gsm8k() -> list[dict]:
    if not SOLUTIONS.is_file():
        pytest.skip(f"shared data file {SOLUTIONS} is absent (expected beside the repository in ../shared/data)")
    with SOLUTIONS.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _replay(rows: list[dict], systems: tuple[str, ...], runs: int, questions: int) -> list[RunRecord]:
    """The recorded (deterministic) answers, replayed ``runs`` times: a temperature-0 model."""
    return [_record(system, f"gsm8k[{i:04d}]", run, bool(row[system]["is_correct"]))
            for system in systems for i, row in enumerate(rows[:questions]) for run in range(1, runs + 1)]


def _summary(comparison) -> tuple:
    return (comparison.verdict, comparison.p_value, comparison.p_adjusted, comparison.low, comparison.high,
            comparison.significant)


def test_gsm8k_verdicts_do_not_depend_on_repeating_runs(gsm8k):
    weights = DEFAULT_CATEGORY_WEIGHTS
    results = {}
    for runs in (1, 3):
        table = RunTable.from_records(_replay(gsm8k, SYSTEMS, runs, 400))
        results[runs] = head_to_head(table, weights)
    for once, thrice in zip(results[1].overall, results[3].overall):
        assert (once.model_a, once.model_b) == (thrice.model_a, thrice.model_b)
        assert _summary(once) == _summary(thrice)
        assert once.delta == pytest.approx(thrice.delta, abs=1e-9)
    verdicts = {(c.model_a, c.model_b): c.significant for c in results[1].overall}
    assert verdicts[("175b_verification", "6b_finetuning")]  # 55% against 22%: real
    assert len(verdicts) == 6


def test_gsm8k_issue_example_is_not_significant_at_any_repeat(gsm8k):
    """The issue's case: 200 questions, 6b_verification against 175b_finetuning. Pooling runs
    made it "slightly better, p 0.018" at runs=3 (p 0.203 at runs=1); on tasks it is neither,
    and the head-to-head, the detailed report and a regression gate all agree."""
    pair = ("6b_verification", "175b_finetuning")
    seen = set()
    for runs in (1, 3):
        records = _replay(gsm8k, pair, runs, 200)
        table = RunTable.from_records(records)
        head = head_to_head(table, DEFAULT_CATEGORY_WEIGHTS)
        comparison = head.pair(*pair)
        report = compare_pair(table, *pair, DEFAULT_CATEGORY_WEIGHTS, head_to_head_result=head)
        assert report.overall == comparison
        # the same pair as a regression check: 175b_finetuning's answers as the "baseline" of 6b_verification
        current = [r for r in records if r.model == pair[0]]
        then = [RunRecord.from_dict({**r.to_dict(), "model": pair[0]}) for r in records if r.model == pair[1]]
        entry = compare_to_baseline(current, Baseline("b.json", {}, tuple(then))).get(pair[0])
        assert entry.score.p_value == pytest.approx(comparison.p_value, abs=1e-15)
        assert (entry.score.ci.low, entry.score.ci.high) == pytest.approx((comparison.low, comparison.high))
        assert not comparison.significant and not entry.score.significant
        assert comparison.low < 0 < comparison.high
        seen.add(_summary(comparison))
    assert len(seen) == 1


def test_same_pair_same_weights_same_verdict_everywhere():
    rng = np.random.default_rng(31)
    records = []
    for t in range(60):
        category = ("accuracy", "reasoning", "safety")[t % 3]
        p_a, p_b = rng.uniform(0.2, 0.9), rng.uniform(0.2, 0.9)
        for run in range(1, 4):
            records.append(_record("a", f"t{t:02d}", run, rng.random() < p_a, category))
            records.append(_record("b", f"t{t:02d}", run, rng.random() < p_b + 0.08, category))
    table = RunTable.from_records(records)
    head = head_to_head(table, DEFAULT_CATEGORY_WEIGHTS)
    comparison = head.pair("b", "a")
    report = compare_pair(table, "b", "a", DEFAULT_CATEGORY_WEIGHTS)
    assert report.overall == comparison
    for name in table.categories:
        assert report.categories[table.categories.index(name)] == head.pair("b", "a", name)
    current = [r for r in records if r.model == "b"]
    then = [RunRecord.from_dict({**r.to_dict(), "model": "b"}) for r in records if r.model == "a"]
    entry = compare_to_baseline(current, Baseline("b.json", {}, tuple(then))).get("b")
    assert entry.score.significant == comparison.significant
    assert entry.score.p_value == pytest.approx(comparison.p_value, abs=1e-15)
    assert entry.score.delta == pytest.approx(comparison.delta, abs=1e-9)
    for category in entry.categories:
        assert category.delta.p_value == pytest.approx(head.pair("b", "a", category.category).p_value, abs=1e-15)


@pytest.mark.parametrize("seed", range(6))
def test_interval_excludes_zero_exactly_when_significant(seed):
    """Across Holm families of four models (six pairs), overall and per category."""
    rng = np.random.default_rng(100 + seed)
    records = []
    for t in range(24):
        category = ("accuracy", "safety")[t % 2]
        base = rng.uniform(0.1, 0.9)
        for m, shift in enumerate((0.0, 0.05, 0.25, 0.4)):
            for run in range(1, 3):
                records.append(_record(f"m{m}", f"t{t:02d}", run, rng.random() < min(1.0, base + shift), category))
    head = head_to_head(RunTable.from_records(records), DEFAULT_CATEGORY_WEIGHTS)
    for family in (head.overall, *head.categories.values()):
        for comparison in family:
            excludes_zero = comparison.low > 0 or comparison.high < 0
            assert excludes_zero == comparison.significant, comparison


def test_recommendation_states_when_its_weights_differ(gsm8k):
    records = _replay(gsm8k, ("6b_finetuning", "175b_verification"), 1, 100)
    document = {"models": summarise(records, DEFAULT_CATEGORY_WEIGHTS)}
    [rec] = recommend(document, [BUILTIN_USE_CASES["complex_reasoning"]], records=records)
    assert rec.best.model == "175b_verification" and rec.significance == "significant"
    assert "weighted by complex_reasoning's category weights (not the overall score's" in rec.rationale


# ----------------------------------------------------------------------------- simulation


def _simulated(rng: np.random.Generator, *, tasks: int, runs: int, difference: float, deterministic: bool):
    """Two models; task t passes with probability p_t (model a) and p_t + difference (model b).
    ``deterministic``: each model's answer to a task is drawn once and repeated (temperature 0)."""
    probability = rng.uniform(0.15, 0.75, tasks)
    records = []
    for model, shift in (("a", 0.0), ("b", difference)):
        for t in range(tasks):
            p = probability[t] + shift
            draws = np.repeat(rng.random() < p, runs) if deterministic else rng.random(runs) < p
            records += [_record(model, f"t{t:02d}", run + 1, bool(draws[run])) for run in range(runs)]
    return RunTable.from_records(records)


@pytest.mark.parametrize("deterministic", [True, False], ids=["deterministic-per-task", "random-per-run"])
def test_false_positive_rate_on_the_null_is_near_alpha(deterministic):
    # 40 tasks × 10 runs, the same per-task distribution for both models. Pooling runs declared
    # 60-73% of such seeds significant (deterministic per task). 120 seeds: a true rate of 5%
    # exceeds 10% with probability < 1% (binomial).
    rng = np.random.default_rng(2024 if deterministic else 2025)
    significant = 0
    seeds = 120
    for _ in range(seeds):
        table = _simulated(rng, tasks=40, runs=10, difference=0.0, deterministic=deterministic)
        significant += head_to_head(table, {"reasoning": 1.0}, permutations=2000).overall[0].significant
    assert significant / seeds <= 0.10


def test_a_true_difference_is_detected_most_of_the_time():
    # 40 tasks × 10 runs, random per run, a true difference of 0.10 in pass probability.
    rng = np.random.default_rng(7)
    detected = 0
    seeds = 60
    for _ in range(seeds):
        table = _simulated(rng, tasks=40, runs=10, difference=0.10, deterministic=False)
        comparison = head_to_head(table, {"reasoning": 1.0}, permutations=2000).pair("b", "a")
        detected += comparison.significant and comparison.delta > 0
    assert detected / seeds >= 0.6
