"""Shards (a task's shard is a pure function of its id) and plans (estimates only from the
history of the same tasks, sums that say what they leave out), without pytest sessions."""

from __future__ import annotations

import hashlib

import pytest

from pytest_modelbench.models.specs import ModelSpec
from pytest_modelbench.session.plan import Measured, PlannedRun, build_plan, results_history, store_history
from pytest_modelbench.session.shard import shard_of, split_shard
from pytest_modelbench.core.records import RunRecord


@pytest.mark.parametrize(("task", "count", "expected"), [
    # int.from_bytes(sha256(task)[:8], "big") % count + 1, computed once and pinned here: the
    # same on every machine and Python version (Python's hash() of a str is salted per process)
    ("tests/bench/test_math.py::test_addition[2-3]", 4,
     int.from_bytes(hashlib.sha256(b"tests/bench/test_math.py::test_addition[2-3]").digest()[:8], "big") % 4 + 1),
    ("a", 1, 1),
])
def test_shard_of_is_the_sha256_of_the_task_id(task, count, expected):
    assert shard_of(task, count) == expected


@pytest.mark.parametrize(("task", "by_2", "by_3", "by_4"), [
    # from coreutils: printf '%s' TASK | sha256sum, first 16 hex digits as an integer, mod N, + 1
    ("test_suite.py::test_hard", 2, 1, 4),
    ("test_gsm8k.py::test_gsm8k[0000]", 1, 1, 1),
    ("test_gsm8k.py::test_gsm8k[0001]", 2, 2, 2),
    ("test_gsm8k.py::test_gsm8k[0002]", 1, 3, 1),
])
def test_shard_of_pinned_values(task, by_2, by_3, by_4):
    assert (shard_of(task, 2), shard_of(task, 3), shard_of(task, 4)) == (by_2, by_3, by_4)


def test_split_shard_partitions_and_keeps_order():
    tasks = [f"t{i}" for i in range(200)]
    parts = [split_shard(tasks, str, (k, 4)) for k in (1, 2, 3, 4)]
    kept = [part[0] for part in parts]
    assert sorted(sum(kept, [])) == sorted(tasks)
    assert all(part == [t for t in tasks if t in part] for part in kept)
    assert all(30 <= len(part) <= 70 for part in kept)  # about a quarter each
    for part, (_, dropped) in zip(kept, parts):
        assert set(dropped) == set(tasks) - set(part)
    with pytest.raises(ValueError, match="shard count 0"):
        shard_of("t", 0)


SPECS = {"m": ModelSpec(name="m", provider="openai", model="gpt", base_url="http://127.0.0.1:1/v1")}


def test_plan_sums_known_runs_and_counts_the_rest_as_unknown():
    runs = [PlannedRun("t1", "m", r, "easy") for r in (1, 2)] + [PlannedRun("t2", "m", 1, "hard")]
    history = {("t1", "m"): [Measured(1, 10, 4, 100.0, 0.02), Measured(1, 10, 6, 300.0, 0.04)]}
    plan = build_plan(runs, specs=SPECS, history=history, max_cost_usd=0.05)
    entry = plan.models[0]
    assert (entry.tasks, entry.runs, entry.runs_by_difficulty["easy"], entry.runs_by_difficulty["hard"]) == (2, 3, 2, 1)
    assert (entry.cost_usd.value, entry.cost_usd.known, entry.cost_usd.unknown) == (pytest.approx(0.06), 2, 1)
    assert entry.model_time_ms.value == pytest.approx(400.0) and entry.output_tokens.value == pytest.approx(10.0)
    assert plan.fits is False  # the known part alone is over the cap
    assert build_plan(runs, specs=SPECS, history=history, max_cost_usd=1.0).fits is None  # t2 unknown
    assert build_plan(runs[:2], specs=SPECS, history=history, max_cost_usd=1.0).fits is True
    assert "unknown" in build_plan(runs, specs=SPECS, history={}).lines()[2]
    replay = build_plan(runs, specs=SPECS, history={}, mode="replay")
    assert (replay.models[0].calls.value, replay.models[0].cost_usd.value, replay.models[0].cost_usd.unknown) == (0.0, 0.0, 0)


def test_results_history_only_for_the_same_configuration():
    document = {"meta": {"models": [{"name": "m", "spec": "openai:gpt@http://127.0.0.1:1/v1"}]}}
    record = RunRecord(task="t1", model="m", run=1, category="reasoning", difficulty="easy", weight=1.0,
                       outcome="passed", quality=1.0, latency_ms=5.0, input_tokens=3, output_tokens=2, calls=1,
                       cost_usd=0.5)
    assert results_history(document, [record], SPECS) == {("t1", "m"): [Measured(1, 3, 2, 5.0, 0.5)]}
    other = {"meta": {"models": [{"name": "m", "spec": "openai:other-model"}]}}
    assert results_history(other, [record], SPECS) == {}


def test_store_history_matches_the_models_key_and_sums_calls_of_a_run():
    from pytest_modelbench.models.cache import TaskAnswer

    request = {"provider": "openai", "model": "gpt", "base_url": "http://127.0.0.1:1/v1", "spec_params": {},
               "run": 2, "call_index": 0}
    answers = [TaskAnswer("t1", request, 3, 2, 10.0), TaskAnswer("t1", {**request, "call_index": 1}, 4, 1, 5.0),
               TaskAnswer("t1", {**request, "model": "other"}, 100, 100, 1.0)]
    history, stored = store_history(answers, SPECS, {"m": None})
    assert history == {("t1", "m"): [Measured(2, 7, 3, 15.0, None)]}  # no price: cost unknown
    assert stored == {("t1", "m", 2)}
