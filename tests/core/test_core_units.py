"""Unit tests of the core's domain modules: specs, marker validation, records, scoring, results."""

from __future__ import annotations

import json
import math

import pytest

from pytest_modelbench import Completion
from pytest_modelbench.core.config import DIFFICULTIES, category_weights, task_spec_from_marker
from pytest_modelbench._exceptions import ConfigError, ModelCallError, ModelResponseError, SpecError
from pytest_modelbench.models.model import to_messages
from pytest_modelbench.core.records import RunRecord, check_quality
from pytest_modelbench.models.model import CallTotals
from pytest_modelbench.core.results import SCHEMA_VERSION, read_results, write_json_atomic
from pytest_modelbench.models.specs import parse_model_list, parse_named_models, parse_spec
from pytest_modelbench.models.providers.local import EchoProvider, PythonProvider
from pytest_modelbench.session.analysis import summarise

PROVIDERS = ("echo", "openai", "python")


class TestSpecs:
    def test_openai_with_url(self) -> None:
        spec = parse_spec("openai:llama3.1@http://127.0.0.1:8000/v1", PROVIDERS)
        assert (spec.name, spec.provider, spec.model, spec.base_url) == (
            "openai:llama3.1", "openai", "llama3.1", "http://127.0.0.1:8000/v1")
        assert spec.spec == "openai:llama3.1@http://127.0.0.1:8000/v1"

    def test_alias_and_python(self) -> None:
        spec = parse_spec("base=python:pkg.mod:fn", PROVIDERS)
        assert (spec.name, spec.provider, spec.model) == ("base", "python", "pkg.mod:fn")

    def test_named_model(self) -> None:
        named = parse_named_models({"fast": {"provider": "openai", "model": "gpt-4o-mini",
                                             "api_key_env": "MY_KEY", "params": {"temperature": 0}}}, PROVIDERS)
        [spec] = parse_model_list("fast", PROVIDERS, named)
        assert spec.name == "fast" and spec.api_key_env == "MY_KEY" and spec.params == {"temperature": 0}
        assert "MY_KEY" in json.dumps(spec.describe())  # the variable's name, not its value

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("gpt", "not a known provider or named model"),
            ("zz:model", "unknown provider 'zz'; known providers: echo, openai, python"),
            ("openai:", "is malformed"),
            ("python:mod", "write python:package.module:function"),
            ("openai:m@localhost:80", "must start with http:// or https://"),
            ("bad alias=echo", "alias 'bad alias'"),
        ],
    )
    def test_bad_specs(self, text: str, message: str) -> None:
        with pytest.raises(SpecError, match=message.replace("(", r"\(")):
            parse_spec(text, PROVIDERS)

    @pytest.mark.parametrize(
        ("table", "message"),
        [
            ({"m": {"provider": "nope", "model": "x"}}, "provider 'nope' is not one of"),
            ({"m": {"provider": "openai"}}, "needs model"),
            ({"m": {"provider": "openai", "model": "x", "colour": 1}}, "unknown key 'colour'"),
            ({"m": {"provider": "openai", "model": "x", "api_key_env": "sk-123 secret"}}, "name of an environment variable"),
        ],
    )
    def test_bad_named_models(self, table: dict, message: str) -> None:
        with pytest.raises(SpecError, match=message):
            parse_named_models(table, PROVIDERS)


class TestMarker:
    def test_defaults(self) -> None:
        spec = task_spec_from_marker((), {"category": "coding"}, category_weights(None))
        assert spec.difficulty == "medium" and spec.default_runs == 10 and spec.effective_weight == 1.0

    @pytest.mark.parametrize(("difficulty", "runs", "multiplier"),
                             [("trivial", 3, .5), ("easy", 5, .75), ("medium", 10, 1.0), ("hard", 15, 1.5), ("expert", 20, 2.0)])
    def test_difficulties(self, difficulty: str, runs: int, multiplier: float) -> None:
        assert (DIFFICULTIES[difficulty].runs, DIFFICULTIES[difficulty].multiplier) == (runs, multiplier)
        spec = task_spec_from_marker((), {"category": "coding", "difficulty": difficulty, "weight": 2},
                                     category_weights(None))
        assert spec.effective_weight == 2 * multiplier

    def test_default_category_weights(self) -> None:
        # As documented in docs/results.md. The first ten sum to one; tool_use came later and
        # was added without changing them: weights are renormalised over the categories a
        # model has tasks in, so a suite without tool-use tasks scores exactly as before.
        weights = category_weights(None)
        assert weights == {
            "accuracy": 0.25, "speed": 0.10, "cost": 0.10, "consistency": 0.10, "quality": 0.20,
            "safety": 0.15, "reasoning": 0.05, "coding": 0.02, "creativity": 0.02,
            "instruction_following": 0.01, "tool_use": 0.05,
        }
        assert math.isclose(sum(value for name, value in weights.items() if name != "tool_use"), 1.0)

    @pytest.mark.parametrize("timeout", [0, -1, "5", True, float("nan")])
    def test_bad_timeout(self, timeout: object) -> None:
        with pytest.raises(ConfigError, match="timeout"):
            task_spec_from_marker((), {"category": "coding", "timeout": timeout}, category_weights(None))


class TestRecords:
    def test_call_totals_sum_and_unknown_tokens(self) -> None:
        totals = CallTotals()
        totals.add(Completion("a", input_tokens=3, output_tokens=4, latency_ms=10.0, ttft_ms=2.0), cost_usd=0.5)
        totals.add(Completion("b", input_tokens=5, output_tokens=None, latency_ms=5.0, ttft_ms=1.0, retries=2),
                   cost_usd=0.25)
        fields = totals.as_fields()
        assert fields == {"calls": 2, "latency_ms": 15.0, "ttft_ms": 2.0, "input_tokens": 8,
                          "output_tokens": None, "cost_usd": 0.75, "cached": False, "retries": 2,
                          "prompt": None, "reply": "b"}  # the last call's reply; no messages given
        totals.add(Completion("c", latency_ms=1.0))
        assert totals.as_fields()["cost_usd"] is None  # a call of unknown cost makes the run's unknown

    @pytest.mark.parametrize("value", [-0.1, 1.01, float("nan"), "0.5", None, True])
    def test_bad_quality(self, value: object) -> None:
        with pytest.raises(ValueError, match="record_quality"):
            check_quality(value)

    def test_round_trip(self) -> None:
        record = RunRecord("t", "m", 1, "coding", "easy", 1.0, "passed", quality=1.0)
        assert RunRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record

    def test_bad_outcome(self) -> None:
        with pytest.raises(ValueError, match="outcome 'weird' is not one of"):
            RunRecord("t", "m", 1, "coding", "easy", 1.0, "weird")


def _record(model: str, task: str, run: int, outcome: str, quality: float | None = None, *,
            category: str = "reasoning", difficulty: str = "medium", weight: float = 1.0,
            latency: float | None = 10.0) -> RunRecord:
    if quality is None and outcome in ("passed", "failed"):
        quality = 1.0 if outcome == "passed" else 0.0
    return RunRecord(task, model, run, category, difficulty, weight, outcome, quality=quality,
                     latency_ms=latency, calls=1)


class TestScoring:
    def test_hand_computed_scores(self) -> None:
        records = [
            # reasoning, task a (medium, weight 1): 1 pass of 2, quality .5 and 0 -> .6*.5 + .4*.25 = .4
            _record("m", "a", 1, "passed", 0.5), _record("m", "a", 2, "failed"),
            # reasoning, task b (hard: multiplier 1.5): an error measures nothing; one pass -> 1.0
            _record("m", "b", 1, "error", difficulty="hard"), _record("m", "b", 2, "passed", difficulty="hard"),
            # accuracy, task c: all pass -> 1.0; a skipped run is not counted
            _record("m", "c", 1, "passed", category="accuracy"), _record("m", "c", 2, "skipped", category="accuracy"),
        ]
        summary = summarise(records, category_weights(None))["m"]
        reasoning = 100 * (1.0 * 0.4 + 1.5 * 1.0) / 2.5
        assert summary["categories"]["reasoning"]["score"] == pytest.approx(reasoning)
        assert summary["categories"]["reasoning"]["pass_rate"] == pytest.approx((0.5 + 1.5 * 1.0) / 2.5)
        assert summary["categories"]["reasoning"]["runs"] == 3  # measured runs
        assert summary["categories"]["accuracy"] == {"score": 100.0, "pass_rate": 1.0, "tasks": 1, "runs": 1}
        assert summary["score"] == pytest.approx((0.05 * reasoning + 0.25 * 100) / 0.30)
        assert (summary["runs"], summary["passed"], summary["failed"], summary["errors"], summary["skipped"]) == (6, 3, 1, 1, 1)
        assert summary["measured"] is True and summary["not_measured"] is None
        assert summary["pass_rate"] == pytest.approx(3 / 4)  # of the measured runs
        # Clustered by task, the effective size exceeds the 4 runs, so it is capped at 4:
        # statsmodels.stats.proportion.proportion_confint(3, 4, method="wilson")
        assert summary["pass_rate_effective_n"] == 4.0
        assert summary["pass_rate_ci95"] == pytest.approx([0.30064184258240184, 0.9544127391902995], rel=1e-12)
        assert summary["quality_mean"] == pytest.approx((0.5 + 0 + 1 + 1) / 4)

    def test_repeated_identical_runs_do_not_narrow_the_pass_rate_interval(self) -> None:
        once = [_record("m", f"t{i}", 1, "passed" if i < 6 else "failed") for i in range(10)]
        thrice = [_record("m", f"t{i}", run, "passed" if i < 6 else "failed") for i in range(10) for run in (1, 2, 3)]
        one, three = (summarise(records, category_weights(None))["m"] for records in (once, thrice))
        assert one["pass_rate"] == three["pass_rate"] == 0.6
        # proportion_confint(6, 10, method="wilson"): copies of a run are no new evidence
        assert three["pass_rate_ci95"] == pytest.approx(one["pass_rate_ci95"], rel=1e-12)
        assert one["pass_rate_ci95"] == pytest.approx([0.31267376973365824, 0.8318196702937638], rel=1e-12)

    def test_model_whose_every_run_errored_is_not_measured(self) -> None:
        records = [_record("m", "a", 1, "error"), _record("m", "a", 2, "error"), _record("n", "a", 1, "passed")]
        summary = summarise(records, category_weights(None), ["m", "n"])
        assert summary["m"]["measured"] is False and summary["m"]["score"] is None
        assert summary["m"]["not_measured"].startswith("all 2 runs errored")
        assert summary["n"]["measured"] is True

    def test_latency_percentiles_linear(self) -> None:
        records = [_record("m", "a", i, "passed", latency=float(i)) for i in range(1, 11)]
        latency = summarise(records, category_weights(None))["m"]["latency_ms"]
        assert latency == {"p50": 5.5, "p95": pytest.approx(9.55), "p99": pytest.approx(9.91), "mean": 5.5}

    def test_model_with_only_skips(self) -> None:
        summary = summarise([_record("m", "a", 1, "skipped")], category_weights(None), ["m"])["m"]
        assert summary["score"] is None and summary["pass_rate"] is None and summary["categories"] == {}


class TestLocalProviders:
    def test_echo(self) -> None:
        reply = EchoProvider().complete(to_messages("hello", "be brief"))
        assert reply.text == "hello" and reply.input_tokens is None and reply.latency_ms >= 0

    def test_python_keywords(self, tmp_path, monkeypatch) -> None:
        (tmp_path / "mymodel.py").write_text(
            "def answer(prompt, *, system=None, temperature=None):\n"
            "    return {'text': f'{system}|{prompt}|{temperature}', 'input_tokens': 3}\n"
            "def broken(prompt):\n    return 42\n")
        monkeypatch.syspath_prepend(str(tmp_path))
        reply = PythonProvider("mymodel:answer").complete(to_messages("hi", "sys"), temperature=0.5, top_p=1)
        assert reply.text == "sys|hi|0.5" and reply.input_tokens == 3 and reply.output_tokens is None
        with pytest.raises(ModelResponseError, match="returned int"):
            PythonProvider("mymodel:broken").complete(to_messages("hi", None))
        with pytest.raises(SpecError, match="has no callable 'nope'"):
            PythonProvider("mymodel:nope")

    def test_python_exception_is_call_error(self, tmp_path, monkeypatch) -> None:
        (tmp_path / "failing.py").write_text("def answer(prompt):\n    raise TimeoutError('slow')\n")
        monkeypatch.syspath_prepend(str(tmp_path))
        with pytest.raises(ModelCallError, match="raised TimeoutError: slow"):
            PythonProvider("failing:answer").complete(to_messages("hi", None))

    def test_messages(self) -> None:
        assert to_messages([{"role": "user", "content": "x"}], "s")[0] == {"role": "system", "content": "s"}
        with pytest.raises(TypeError, match="prompt string or a non-empty list"):
            to_messages(42, None)
        with pytest.raises(ValueError, match="give one"):
            to_messages([{"role": "system", "content": "a"}, {"role": "user", "content": "b"}], "s")


class TestResultsFile:
    def test_write_and_read(self, tmp_path) -> None:
        record = _record("m", "a", 1, "passed")
        path = tmp_path / "sub" / "r.json"
        write_json_atomic(path, {"schema_version": SCHEMA_VERSION, "runs": [record.to_dict()]})
        _, records = read_results(path)
        assert records == [record]
        assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temporary file left

    def test_nan_is_refused_and_old_file_kept(self, tmp_path) -> None:
        path = tmp_path / "r.json"
        path.write_text("{}")
        with pytest.raises(ValueError):
            write_json_atomic(path, {"x": float("nan")})
        assert path.read_text() == "{}" and len(list(tmp_path.iterdir())) == 1

    @pytest.mark.parametrize(("content", "message"), [
        (None, "does not exist"), ("{", "is not valid JSON"),
        ('{"schema_version": 99, "runs": []}', "has schema_version 99"),
        ('{"schema_version": 1, "runs": [{"task": 1}]}',
         r"has 7 invalid fields in its runs: run 0: field 'task' is 1; it must be a non-empty string; "
         r"run 0: field 'model' is missing"),
    ])
    def test_bad_results_files(self, tmp_path, content: str | None, message: str) -> None:
        path = tmp_path / "r.json"
        if content is not None:
            path.write_text(content)
        with pytest.raises(ConfigError, match=message):
            read_results(path)


def test_pass_at_k_for_coding_tasks() -> None:
    from fractions import Fraction
    from math import comb

    from pytest_modelbench.session.analysis import summarise

    # task a: 5 runs, 2 pass; task b: 5 runs, 0 pass; a reasoning task is not counted
    records = [_record("m", "a", r, "passed" if r <= 2 else "failed", category="coding") for r in range(1, 6)]
    records += [_record("m", "b", r, "failed", category="coding") for r in range(1, 6)]
    records += [_record("m", "c", r, "passed") for r in range(1, 6)]
    block = summarise(records, category_weights(None))["m"]["pass_at_k"]
    exact = lambda n, c, k: 1 - Fraction(comb(n - c, k), comb(n, k))  # Chen et al. (2021), exact
    assert block["tasks"] == 2 and block["runs_min"] == 5
    assert set(block) == {"tasks", "runs_min", "pass@1", "pass@5"}
    assert block["pass@1"] == pytest.approx(float((exact(5, 2, 1) + exact(5, 0, 1)) / 2), rel=1e-12)
    assert block["pass@5"] == pytest.approx(float((exact(5, 2, 5) + 0) / 2), rel=1e-12)
