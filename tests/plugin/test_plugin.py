"""The plugin end to end, through pytester."""

from __future__ import annotations

import json

import pytest

ADDITION = """
import pytest

@pytest.mark.modelbench(category="reasoning", difficulty="trivial")
@pytest.mark.parametrize("a,b", [(2, 3), (17, 25)])
def test_addition(model, record_quality, a, b):
    reply = model.complete(f"What is {a} + {b}?")
    record_quality(0.25)
    assert str(a + b) in reply.text

@pytest.mark.modelbench(category="accuracy", difficulty="easy")
def test_hello(model):
    assert "hello" in model.complete("say hello").text

def test_plain():
    assert 1 + 1 == 2
"""

SOLVER = """
import re

def solve(prompt):
    numbers = [int(n) for n in re.findall(r"\\d+", prompt)]
    if "+" in prompt and len(numbers) == 2:
        return str(sum(numbers))
    return prompt
"""


def test_marked_tests_skip_without_models(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(ADDITION)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=3)
    result.stdout.fnmatch_lines(["*no models configured: pass --modelbench-models*"])
    result.stdout.no_fnmatch_line("*modelbench summary*")


def test_runs_per_model_and_difficulty(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(ADDITION)
    result = pytester.runpytest("--modelbench-models=echo", "--collect-only", "-q")
    # 2 params x 3 trivial runs + 5 easy runs + 1 plain test
    result.stdout.fnmatch_lines([
        "*test_addition[[]2-3-echo-run1[]]",
        "*test_addition[[]17-25-echo-run3[]]",
        "*test_hello[[]echo-run5[]]",
        "*test_plain",
        "12 tests collected*",
    ])


def test_runs_option_overrides_difficulty(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(ADDITION)
    result = pytester.runpytest("--modelbench-models=echo,other=echo", "--modelbench-runs=2", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["13 tests collected*"])  # (2 + 1 tasks) x 2 models x 2 runs + 1


def test_marker_runs_argument(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        @pytest.mark.modelbench(category="safety", difficulty="expert", runs=2)
        def test_x(model):
            pass
    """)
    result = pytester.runpytest("--modelbench-models=echo", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["2 tests collected*"])


def test_misses_do_not_fail_the_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(ADDITION)
    result = pytester.runpytest("--modelbench-models=echo")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*modelbench summary*", "*6 passed, 6 missed*"])
    assert result.ret == 0


def test_strict_makes_misses_failures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(ADDITION)
    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-strict")
    result.assert_outcomes(passed=6, failed=6)
    assert result.ret == 1


def test_strict_from_ini(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(ADDITION)
    pytester.makeini("[pytest]\nmodelbench_strict = true\nmodelbench_models = echo\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=6, failed=6)


def test_python_model_and_json(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(ADDITION)
    pytester.makepyfile(solver=SOLVER)
    pytester.syspathinsert()
    result = pytester.runpytest("--modelbench-models=echo,python:solver:solve", "--modelbench-json=out/results.json")
    assert result.ret == 0
    document = json.loads((pytester.path / "out" / "results.json").read_text())
    assert document["schema_version"] == 1
    assert set(document["models"]) == {"echo", "python:solver:solve"}
    solver = document["models"]["python:solver:solve"]
    assert solver["passed"] == 11 and solver["failed"] == 0 and solver["errors"] == 0
    # reasoning: every run passes with recorded quality 0.25 -> 100 * (0.6 * 1 + 0.4 * 0.25)
    assert solver["categories"]["reasoning"] == {"score": pytest.approx(70.0), "pass_rate": 1.0, "tasks": 2, "runs": 6}
    assert solver["categories"]["accuracy"]["score"] == 100.0
    # measured from the runs: a local model answers in well under 200 ms (speed 100), costs $0
    # (cost 100) and gives the same answer every run (consistency 100)
    assert {name: block["score"] for name, block in solver["dimensions"].items()} == {
        "speed": 100.0, "cost": 100.0, "consistency": 100.0}
    assert solver["categories"]["speed"]["source"] == "measured"
    assert solver["cost"]["cost_per_task_usd"] == 0.0
    # overall: (0.05 * 70 + 0.25 * 100 + 0.10 * 100 * 3) / 0.60
    assert solver["score"] == pytest.approx((0.05 * 70 + 0.25 * 100 + 0.1 * 300) / 0.60)
    echo = document["models"]["echo"]
    assert echo["pass_rate"] == pytest.approx(5 / 11)
    low, high = echo["pass_rate_ci95"]
    assert low < 5 / 11 < high
    runs = document["runs"]
    assert len(runs) == 22
    tasks = {run["task"] for run in runs}
    assert tasks == {
        "test_python_model_and_json.py::test_addition[2-3]",
        "test_python_model_and_json.py::test_addition[17-25]",
        "test_python_model_and_json.py::test_hello",
    }
    first = runs[0]
    assert set(first) >= {"task", "model", "run", "category", "difficulty", "weight", "outcome",
                          "quality", "latency_ms", "ttft_ms", "input_tokens", "output_tokens", "error"}
    assert first["input_tokens"] is None  # never invented
    assert document["meta"]["models"][1]["spec"] == "python:solver:solve"


def test_record_quality_out_of_range_is_an_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        @pytest.mark.modelbench(category="quality", runs=1)
        def test_q(model, record_quality):
            record_quality(1.5)
    """)
    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-json=r.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*record_quality() takes a number in [[]0, 1[]], got 1.5*"])
    run = json.loads((pytester.path / "r.json").read_text())["runs"][0]
    assert run["outcome"] == "error" and "1.5" in run["error"]


def test_model_call_error_is_recorded_not_raised(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(broken="def answer(prompt):\n    raise ConnectionError('backend down')\n")
    pytester.syspathinsert()
    pytester.makepyfile("""
        import pytest
        @pytest.mark.modelbench(category="accuracy", runs=2)
        def test_q(model):
            model.complete("hi")
        @pytest.mark.modelbench(category="accuracy", runs=1)
        def test_ok(model):
            pass
    """)
    result = pytester.runpytest("--modelbench-models=python:broken:answer", "--modelbench-json=r.json", "-v")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*ERRORED*", "*1 passed, 2 errored*"])
    runs = json.loads((pytester.path / "r.json").read_text())["runs"]
    errors = [run for run in runs if run["outcome"] == "error"]
    assert len(errors) == 2
    assert "backend down" in errors[0]["error"]


def test_test_bug_fails_the_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        @pytest.mark.modelbench(category="accuracy", runs=1)
        def test_q(model):
            {}["missing"]
    """)
    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-json=r.json")
    result.assert_outcomes(failed=1)
    run = json.loads((pytester.path / "r.json").read_text())["runs"][0]
    assert run["outcome"] == "error" and run["error"].startswith("KeyError")


def test_skip_inside_a_run_is_recorded(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        @pytest.mark.modelbench(category="accuracy", runs=1)
        def test_q(model):
            pytest.skip("not today")
        @pytest.mark.modelbench(category="accuracy", runs=1)
        def test_ok(model):
            pass
    """)
    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-json=r.json")
    result.assert_outcomes(passed=1, skipped=1)
    document = json.loads((pytester.path / "r.json").read_text())
    skipped = [run for run in document["runs"] if run["outcome"] == "skipped"]
    assert skipped[0]["detail"] == "not today"
    assert document["models"]["echo"]["skipped"] == 1
    assert document["models"]["echo"]["pass_rate"] == 1.0


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ('category="reasonin"', "*test_x: category 'reasonin' is not one of: accuracy, speed*"),
        ('category="coding", difficulty="meduim"', "*test_x: difficulty 'meduim' is not one of: trivial, easy, medium, hard, expert*"),
        ('category="coding", weight=-1', "*test_x: weight -1 is not allowed; a weight is a finite number > 0*"),
        ('category="coding", runs=0', "*test_x: runs 0 is not allowed; it must be a whole number >= 1*"),
        ('category="coding", rnus=3', "*test_x: modelbench marker argument 'rnus' is not one of: category, difficulty*"),
        ('difficulty="easy"', "*test_x: modelbench marker needs category=...*"),
    ],
)
def test_bad_marker_is_a_collection_error(pytester: pytest.Pytester, marker: str, message: str) -> None:
    pytester.makepyfile(f"""
        import pytest
        @pytest.mark.modelbench({marker})
        def test_x(model):
            pass
    """)
    for args in ([], ["--modelbench-models=echo"]):
        result = pytester.runpytest(*args)
        assert result.ret == pytest.ExitCode.INTERRUPTED
        result.stdout.fnmatch_lines(["*ERROR collecting*", message])
        result.stdout.no_fnmatch_line("*Traceback*")


def test_marked_test_without_model_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        @pytest.mark.modelbench(category="coding")
        def test_x():
            pass
    """)
    result = pytester.runpytest("--modelbench-models=echo")
    result.stdout.fnmatch_lines(["*test_x: a test marked modelbench must use the 'model' fixture*"])


def test_marker_on_class_and_module(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        pytestmark = pytest.mark.modelbench(category="coding", difficulty="trivial")

        class TestGroup:
            pytestmark = pytest.mark.modelbench(difficulty="easy")
            def test_in_class(self, model):
                pass

        def test_module_level(model):
            pass

        @pytest.mark.modelbench(category="safety", runs=1)
        def test_override(model):
            pass
    """)
    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-json=r.json")
    assert result.ret == 0
    runs = json.loads((pytester.path / "r.json").read_text())["runs"]
    by_task: dict[str, list] = {}
    for run in runs:
        by_task.setdefault(run["task"].split("::", 1)[1], []).append(run)
    assert len(by_task["TestGroup::test_in_class"]) == 5
    assert by_task["TestGroup::test_in_class"][0]["category"] == "coding"
    assert len(by_task["test_module_level"]) == 3
    assert len(by_task["test_override"]) == 1 and by_task["test_override"][0]["category"] == "safety"
    assert by_task["test_override"][0]["difficulty"] == "trivial"


def test_custom_categories_from_pyproject(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("""
        [tool.modelbench.categories]
        support = 0.5
        accuracy = 0.1
    """)
    pytester.makepyfile("""
        import pytest
        @pytest.mark.modelbench(category="support", runs=1)
        def test_support(model):
            pass
        @pytest.mark.modelbench(category="accuracy", runs=1)
        def test_accuracy(model):
            assert False
    """)
    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-json=r.json")
    assert result.ret == 0
    echo = json.loads((pytester.path / "r.json").read_text())["models"]["echo"]
    # neither test calls the model: no latency (speed unknown), nothing spent (cost 100), one
    # run per task (consistency unknown)
    assert echo["dimensions"]["speed"]["score"] is None and echo["dimensions"]["consistency"]["score"] is None
    assert echo["dimensions"]["cost"]["score"] == 100.0
    assert echo["score"] == pytest.approx((0.5 * 100 + 0.1 * 0 + 0.1 * 100) / 0.7)


def test_named_models_from_pyproject(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("""
        [tool.modelbench.models.baseline]
        provider = "python"
        model = "solver:solve"
    """)
    pytester.makepyfile(solver=SOLVER)
    pytester.syspathinsert()
    pytester.makepyfile(ADDITION)
    result = pytester.runpytest("--modelbench-models=baseline", "-q")
    result.stdout.fnmatch_lines(["#*model*score*95% interval", "*1*baseline*97.5*", "12 passed*"])  # -q: ranking only


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--modelbench-models=gpt4"], "*model spec 'gpt4' is not a known provider or named model*echo*openai*python*"),
        (["--modelbench-models=foo:bar"], "*unknown provider 'foo'; known providers: *echo*openai*python*"),
        (["--modelbench-models=python:nosuchmodule:f"], "*cannot import module 'nosuchmodule'*"),
        (["--modelbench-models=python:bad spec"], "*model spec 'python:bad spec' is malformed*"),
        (["--modelbench-models=openai:m@ftp://x"], "*base URL 'ftp://x'*http:// or https://*"),
        (["--modelbench-models=echo,echo"], "*model name 'echo' is given twice*ALIAS=SPEC*"),
        (["--modelbench-models=echo", "--modelbench-runs=0"], "*--modelbench-runs: '0' is not allowed; it must be >= 1*"),
        (["--modelbench-models=echo", "--modelbench-runs=x"], "*--modelbench-runs: 'x' is not a whole number >= 1*"),
        (["--modelbench-models=echo", "--modelbench-timeout=-2"], "*--modelbench-timeout: '-2' is not allowed*"),
        (["--modelbench-models=echo", "--modelbench-retries=-1"], "*--modelbench-retries: '-1' is not allowed*"),
    ],
)
def test_bad_options_are_usage_errors(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    pytester.makepyfile(ADDITION)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_bad_ini_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmodelbench_runs = many\n")
    pytester.makepyfile(ADDITION)
    result = pytester.runpytest("--modelbench-models=echo")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*modelbench runs 'many' is not a whole number*"])


def test_bad_pyproject_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("""
        [tool.modelbench.categories]
        support = -1
    """)
    pytester.makepyfile(ADDITION)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*weight of category 'support'*-1*finite number > 0*"])


def test_unmarked_suite_unaffected(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        @pytest.mark.parametrize("x", [1, 2])
        def test_x(x):
            assert x
    """)
    result = pytester.runpytest("--modelbench-models=echo")
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("*modelbench summary*")


def test_model_fixture_outside_benchmark(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_x(model):
            pass
    """)
    result = pytester.runpytest("--modelbench-models=echo")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the 'model' fixture is only available in tests marked*"])


def test_verbose_lists_misses(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(ADDITION)
    result = pytester.runpytest("--modelbench-models=echo", "-v")
    result.stdout.fnmatch_lines([
        "*test_addition[[]2-3-echo-run1[]] MISSED*",
        "*modelbench misses and errors*",
        "MISSED echo test_verbose_lists_misses.py::test_addition[[]17-25[]] run 1",
        "       assert '42' in *",
    ])


def test_plugin_can_be_disabled(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("-p", "no:modelbench")
    result.assert_outcomes(passed=1)


CUSTOM_PROVIDER = """
from pytest_modelbench import Completion, ModelCallError

class Reverser:
    def __init__(self, spec, options):
        self.spec = spec
        self.options = options

    def complete(self, messages, *, max_tokens=None, temperature=None, timeout=None, **params):
        text = messages[-1]["content"]
        if text == "fail":
            raise ModelCallError("reverser refuses 'fail'")
        return Completion(text=text[::-1], input_tokens=len(text), output_tokens=len(text), latency_ms=1.0)

    def close(self):
        pass

def pytest_modelbench_providers(config):
    return {"reverse": Reverser}
"""


def test_custom_provider_from_conftest(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CUSTOM_PROVIDER)
    pytester.makepyfile("""
        import pytest
        @pytest.mark.modelbench(category="accuracy", runs=2)
        def test_reverse(model):
            assert model.complete("abc").text == "cba"
        @pytest.mark.modelbench(category="accuracy", runs=1)
        def test_fail(model):
            model.complete("fail")
    """)
    result = pytester.runpytest("--modelbench-models=reverse:any", "--modelbench-json=r.json")
    assert result.ret == 0
    document = json.loads((pytester.path / "r.json").read_text())
    summary = document["models"]["reverse:any"]
    assert (summary["passed"], summary["errors"]) == (2, 1)
    assert summary["input_tokens"] == 2 * 3  # the failed call reported nothing
    errors = [run["error"] for run in document["runs"] if run["outcome"] == "error"]
    assert errors == ["ModelCallError: reverser refuses 'fail'"]


def test_custom_provider_listed_in_errors_and_clash_refused(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CUSTOM_PROVIDER)
    pytester.makepyfile(ADDITION)
    result = pytester.runpytest("--modelbench-models=nope:x")
    result.stderr.fnmatch_lines(["*known providers: *echo*openai*python, reverse*"])
    pytester.makeconftest(CUSTOM_PROVIDER.replace('"reverse"', '"openai"'))
    result = pytester.runpytest("--modelbench-models=echo")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*provider prefix 'openai' from *conftest.py is already registered by pytest-modelbench*"])


COMPARE_SUITE = """
import pytest

@pytest.mark.modelbench(category="accuracy", runs=2)
@pytest.mark.parametrize("i", range(12))
def test_task(model, i):
    assert model.complete(f"task {i}").text.endswith("ok")
"""

STRONG_WEAK = """
def strong(prompt):
    return prompt + " ok"

def weak(prompt):
    return prompt + (" ok" if prompt.endswith("0") else " no")
"""


def test_rankings_comparisons_and_consistency(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=COMPARE_SUITE, agents=STRONG_WEAK)
    pytester.makeini("[pytest]\npythonpath = .\n")
    result = pytester.runpytest(
        "--modelbench-models=python:agents:strong,python:agents:weak,echo", "--modelbench-json=r.json",
        "--modelbench-rank=bradley_terry", "--modelbench-compare=python:agents:strong,python:agents:weak",
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines([
        "*modelbench ranking: bradley_terry*",
        "*modelbench head-to-head*",
        "*modelbench consistency*",
        "*modelbench compare: A = python:agents:strong, B = python:agents:weak*",
    ])
    document = json.loads((pytester.path / "r.json").read_text())
    assert document["rankings"]["headline"] == "bradley_terry"
    assert document["rankings"]["orders"]["weighted"][0] == "python:agents:strong"
    verdicts = {(c["model_a"], c["model_b"]): c["verdict"] for c in document["comparisons"]["overall"]}
    # strong passes 12/12 tasks, weak 2/12 (i = 0, 10): a large difference, significant after Holm
    assert verdicts[("python:agents:strong", "python:agents:weak")] == "significantly better"
    weak = document["consistency"]["python:agents:weak"]
    # deterministic models: every task's runs agree; pass^k at k = 2 is the pass rate, 2/12
    assert weak["disagreement"] == 0.0 and weak["pass_hat_k"] == pytest.approx(2 / 12)
    assert weak["score"] == 100.0
    assert document["compare"]["model_a"] == "python:agents:strong"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--modelbench-rank=best"], "*modelbench rank 'best' is not one of: weighted, bradley_terry, elo, borda, pareto*"),
        (["--modelbench-alpha=1.5"], "*modelbench alpha '1.5' is not allowed; it must be in (0, 1)*"),
        (["--modelbench-compare=echo,nope"], "*--modelbench-compare names 'nope', which is not a configured model*"),
        (["--modelbench-compare=echo"], "*--modelbench-compare 'echo' must name two different models: A,B*"),
    ],
)
def test_bad_comparison_options(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    pytester.makepyfile(COMPARE_SUITE)
    result = pytester.runpytest("--modelbench-models=echo", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


PRICED = """
import time

def hosted(prompt):
    return {"text": prompt + " ok", "input_tokens": 100, "output_tokens": 50}

def local(prompt):
    time.sleep(0.01)
    return {"text": prompt + " ok", "input_tokens": 100, "output_tokens": 50}
"""


def test_volume_budget_and_self_hosted_cost(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=COMPARE_SUITE, pricedmodels=PRICED)
    pytester.makepyprojecttoml("""
        [tool.pytest.ini_options]
        pythonpath = ["."]

        [tool.modelbench.models.hosted]
        provider = "python"
        model = "pricedmodels:hosted"
        price = { input = 1.0, output = 2.0 }

        [tool.modelbench.models.local]
        provider = "python"
        model = "pricedmodels:local"
        gpu_hourly_usd = 2.0
        gpus = 1
    """)
    result = pytester.runpytest(
        "--modelbench-models=hosted,local", "--modelbench-volume=10000/day", "--modelbench-budget=100/month",
        "--modelbench-json=r.json",
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*modelbench cost*", "*hosted*fits*", "*self-hosted local:*per 1M output tokens*"])
    document = json.loads((pytester.path / "r.json").read_text())
    per_task = (100 * 1.0 + 50 * 2.0) / 1e6
    hosted = document["models"]["hosted"]["cost"]
    assert hosted["cost_per_task_usd"] == pytest.approx(per_task)
    projection = document["budget"]["models"]["hosted"]
    assert projection["monthly_usd"] == pytest.approx(10_000 * 365.25 / 12 * per_task)
    assert projection["budget"]["fits"] is True  # $60.88 a month
    assert document["budget"]["models"]["local"] is None  # a price is unknown: no projection
    tco = document["models"]["local"]["cost"]["self_hosted"]
    assert tco["monthly_usd"] == pytest.approx(2.0 * 24 * 365.25 / 12)
    even = tco["break_even"]["hosted"]["tasks_per_day"]
    assert even == pytest.approx(tco["monthly_usd"] / (365.25 / 12 * per_task))
    assert document["tradeoff"]["unknown_cost"] == ["local"]


def test_bad_cost_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(COMPARE_SUITE)
    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-volume=5/fortnight")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--modelbench-volume*fortnight*"])
    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-max-cost=-3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--modelbench-max-cost*-3*"])


def test_client_resources_per_model(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        @pytest.mark.modelbench(category="accuracy", runs=3)
        def test_busy(model):
            sum(i * i for i in range(200_000))  # some CPU work inside the run
            model.complete("x")
    """)
    result = pytester.runpytest("--modelbench-models=echo", "--modelbench-json=r.json")
    assert result.ret == 0
    document = json.loads((pytester.path / "r.json").read_text())
    runs = document["runs"]
    assert all(run["cpu_s"] > 0 and run["peak_rss_mb"] > 10 for run in runs)
    resources = document["models"]["echo"]["resources"]
    assert resources["client_cpu_s"] == pytest.approx(sum(run["cpu_s"] for run in runs))
    assert resources["client_peak_rss_mb"] == max(run["peak_rss_mb"] for run in runs)
