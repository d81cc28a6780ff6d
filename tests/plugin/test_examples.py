"""The shipped examples work: conftest_example.py and the offline example suite in docs/examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_conftest_example_configures_a_team_suite(pytester: pytest.Pytester) -> None:
    source = (ROOT / "conftest_example.py").read_text()
    pytester.makepyfile(conftest=source, conftest_example=source)
    pytester.makepyprojecttoml("""
        [tool.pytest.ini_options]
        modelbench_models = "rules, echo"
        pythonpath = ["."]

        [tool.modelbench.categories]
        refunds = 0.2

        [tool.modelbench.models.rules]
        provider = "python"
        model = "conftest_example:support_pipeline"
    """)
    pytester.makepyfile(test_support="""
        import pytest
        from conftest_example import mentions_number

        @pytest.mark.modelbench(category="refunds", difficulty="trivial")
        def test_refund_window(ask, policy):
            reply = ask("Can I get my money back after two weeks?")
            assert mentions_number(reply, policy["refund_days"])

        @pytest.mark.modelbench(category="refunds", difficulty="trivial")
        def test_free_shipping_threshold(ask, policy):
            reply = ask("From which order value is shipping free?")
            assert mentions_number(reply, policy["free_shipping_over_eur"])
    """)
    result = pytester.runpytest("--modelbench-json=r.json")
    assert result.ret == 0
    models = json.loads((pytester.path / "r.json").read_text())["models"]
    assert models["rules"]["pass_rate"] == 1.0
    assert models["echo"]["pass_rate"] == 0.0
    # the marked category, and the dimensions measured from the runs
    assert set(models["rules"]["categories"]) == {"refunds", "speed", "cost", "consistency"}


def test_offline_example_suite(pytester: pytest.Pytester) -> None:
    """The README's offline benchmark: the example suite against echo and the rule-based baseline."""
    examples = ROOT / "docs" / "examples"
    result = pytester.runpytest_subprocess(
        str(examples), "-p", "no:cacheprovider",
        "--modelbench-models=echo,python:baseline_model:answer", "--modelbench-json=results.json",
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*modelbench summary*", "*1*python:baseline_model*", "*2*echo*"])
    document = json.loads((pytester.path / "results.json").read_text())
    baseline = document["models"]["python:baseline_model:answer"]
    echo = document["models"]["echo"]
    assert baseline["score"] > echo["score"] + 20
    # what the rule-based baseline can and cannot do
    assert baseline["categories"]["accuracy"]["score"] == 100.0
    assert baseline["categories"]["coding"]["score"] == 0.0
    assert 0 < baseline["categories"]["safety"]["score"] < 100  # it over-refuses a harmless question
    # tool use: it calls one tool by keywords (weather, currency) and answers from the result,
    # but cannot compare two cities and sends the order id as a string
    tool_use = baseline["categories"]["tool_use"]["score"]
    assert 30 < tool_use < 80 and echo["categories"]["tool_use"]["score"] < 20
    tool_runs = {}
    for run in document["runs"]:
        if run["model"] == "python:baseline_model:answer" and run["category"] == "tool_use":
            tool_runs.setdefault(run["task"].rsplit("::", 1)[1], set()).add(run["outcome"])
    assert tool_runs == {
        "test_weather_from_the_tool": {"passed"}, "test_currency_conversion_uses_the_rate": {"passed"},
        "test_no_tool_when_none_is_needed": {"passed"}, "test_order_lookup_arguments_follow_the_schema": {"failed"},
        "test_compare_two_cities_needs_two_calls": {"failed"},
    }
    categories = {run["category"] for run in document["runs"]}
    assert categories == {"accuracy", "quality", "safety", "reasoning", "coding", "instruction_following", "tool_use"}
    assert not any(run["outcome"] == "error" for run in document["runs"])
