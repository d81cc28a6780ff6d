"""Tool-call scorers: matching one call, F1 over a trajectory, argument validation."""

from __future__ import annotations

import pytest

from pytest_modelbench import Completion
from pytest_modelbench.models.completion import ToolCall
from pytest_modelbench.scorers import check_tool_arguments, tool_call_f1, tool_call_matches, tool_calls_of

WEATHER = {"type": "function", "function": {
    "name": "get_weather",
    "parameters": {"type": "object", "required": ["city"], "additionalProperties": False,
                   "properties": {"city": {"type": "string", "minLength": 1},
                                  "unit": {"type": "string", "enum": ["C", "F"]}}}}}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


def call(name: str, **arguments) -> ToolCall:
    import json

    return ToolCall.from_json(name, json.dumps(arguments))


# --------------------------------------------------------------------------- one call


@pytest.mark.parametrize(("args", "got", "passed"), [
    ("exact", call("get_weather", city="Paris"), True),
    ("exact", call("get_weather", city="Paris", unit="C"), False),  # an extra argument
    ("subset", call("get_weather", city="Paris", unit="C"), True),
    ("subset", call("get_weather", city="Lyon"), False),
    ("name", call("get_weather", city="Lyon"), True),
    ("exact", call("get_time", city="Paris"), False),
    (WEATHER["function"]["parameters"], call("get_weather", city="Rome", unit="F"), True),
    (WEATHER["function"]["parameters"], call("get_weather", town="Rome"), False),
])
def test_tool_call_matches_modes(args, got, passed) -> None:
    result = tool_call_matches({"name": "get_weather", "arguments": {"city": "Paris"}}, got, args=args)
    assert bool(result) is passed and result.score == float(passed)


def test_matches_any_call_of_a_completion_and_numbers_compare_as_json() -> None:
    reply = Completion(text="", tool_calls=(call("get_time"), call("add", a=2, b=3.0)))
    assert tool_call_matches({"name": "add", "arguments": {"a": 2.0, "b": 3}}, reply)
    assert not tool_call_matches({"name": "add", "arguments": {"a": True, "b": 3}}, call("add", a=1, b=3))


def test_nested_subset() -> None:
    got = call("book", trip={"from": "OSL", "to": "CDG", "class": "economy"}, seats=2)
    assert tool_call_matches({"name": "book", "arguments": {"trip": {"to": "CDG"}}}, got, args="subset")
    assert not tool_call_matches({"name": "book", "arguments": {"trip": {"to": "LHR"}}}, got, args="subset")


def test_reasons_name_what_was_called() -> None:
    result = tool_call_matches({"name": "get_weather", "arguments": {"city": "Paris"}}, [call("get_time")])
    assert "expected get_weather" in result.reason and "called get_time({})" in result.reason
    result = tool_call_matches({"name": "get_weather", "arguments": {}}, Completion(text="Sunny"))
    assert result.reason == "expected a call of 'get_weather', but the model called no tool"
    broken = ToolCall.from_json("get_weather", '{"city": ')
    result = tool_call_matches({"name": "get_weather", "arguments": {"city": "Paris"}}, broken)
    assert not result and "not a JSON object" in result.reason


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="args 'fuzzy' is not allowed; use one of: exact, subset, name"):
        tool_call_matches({"name": "f"}, call("f"), args="fuzzy")
    with pytest.raises(ValueError, match="unsupported keyword"):
        tool_call_matches({"name": "f"}, call("f"), args={"anyOf": []})
    with pytest.raises(ValueError, match="takes one expected call, got 2"):
        tool_call_matches([call("f"), call("g")], call("f"))
    with pytest.raises(TypeError, match="expected tool calls"):
        tool_calls_of(42)


# --------------------------------------------------------------------------- F1


def test_f1_reference_value() -> None:
    # 2 of 3 expected calls among 4 made: P = 1/2, R = 2/3, F1 = 2PR/(P+R) = 4/7 = 2·2/(3+4)
    expected = [call("a"), call("b"), call("c")]
    made = [call("a"), call("b"), call("d"), call("e")]
    result = tool_call_f1(expected, made)
    assert (result.precision, result.recall) == (0.5, pytest.approx(2 / 3))
    assert result.f1 == pytest.approx(4 / 7, abs=1e-12) and result.score == result.f1
    assert not result and "F1 0.57 < 1" in result.reason
    assert tool_call_f1(expected, made, min_f1=0.5)


def test_f1_counts_each_call_once() -> None:
    result = tool_call_f1([call("a")], [call("a"), call("a")])
    assert (result.matched, result.precision, result.recall) == (1, 0.5, 1.0)
    assert result.f1 == pytest.approx(2 / 3)


def test_f1_uses_a_maximum_matching_not_a_greedy_one() -> None:
    # Greedy would pair the first expected call (any arguments) with f(a=1) and leave f(a=1)
    # unmatched; the maximum matching pairs both.
    expected = [{"name": "f", "arguments": {}}, {"name": "f", "arguments": {"a": 1}}]
    made = [call("f", a=1), call("f", b=2)]
    assert tool_call_f1(expected, made, args="subset").f1 == 1.0


def test_f1_ordered_is_the_longest_common_subsequence() -> None:
    expected = [call("search"), call("open"), call("answer")]
    made = [call("answer"), call("search"), call("open")]
    assert tool_call_f1(expected, made).f1 == 1.0
    ordered = tool_call_f1(expected, made, ordered=True)
    assert ordered.matched == 2 and ordered.f1 == pytest.approx(2 / 3)


@pytest.mark.parametrize(("expected", "made", "f1"), [
    ([], [], 1.0),
    ([], [call("a")], 0.0),
    ([call("a")], [], 0.0),
])
def test_f1_empty_sides(expected, made, f1) -> None:
    assert tool_call_f1(expected, made).f1 == f1


def test_f1_over_the_turns_of_an_agent_loop() -> None:
    turns = [Completion(text="", tool_calls=(call("search", q="x"),)), Completion(text="done")]
    assert tool_call_f1([{"name": "search", "arguments": {"q": "x"}}], turns)
    with pytest.raises(ValueError, match="min_f1 2 is not allowed"):
        tool_call_f1([], [], min_f1=2)


# --------------------------------------------------------------------------- arguments


def test_check_tool_arguments_against_a_tool_list() -> None:
    good = check_tool_arguments(call("get_weather", city="Paris", unit="C"), [TIME, WEATHER])
    assert good and good.value == {"city": "Paris", "unit": "C"}
    bad = check_tool_arguments(call("get_weather", city="", unit="K"), [TIME, WEATHER])
    assert not bad and [error.path for error in bad.errors] == ["/city", "/unit"]
    assert "2 schema violation(s) in the arguments of 'get_weather'" in bad.reason
    unknown = check_tool_arguments(call("delete_everything"), [TIME, WEATHER])
    assert not unknown and "not one of the tools: get_time, get_weather" in unknown.reason


def test_check_tool_arguments_forms() -> None:
    assert check_tool_arguments(Completion(text="", tool_calls=(call("get_weather", city="Oslo"),)), WEATHER)
    assert not check_tool_arguments(call("get_time"), WEATHER)  # another tool than the one given
    assert check_tool_arguments({"name": "f", "arguments": '{"n": 3}'}, {"type": "object",
                                                                         "properties": {"n": {"type": "integer"}}})
    broken = check_tool_arguments(ToolCall.from_json("f", "[1, 2]"), {"type": "object"})
    assert not broken and not broken.found and "not a JSON object: '[1, 2]'" in broken.reason
    with pytest.raises(ValueError, match="checks one call, got 0"):
        check_tool_arguments(Completion(text=""), WEATHER)
