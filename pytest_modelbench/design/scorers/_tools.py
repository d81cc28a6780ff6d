"""Tool calls (function calling): did the model call the right tool with the right arguments,
how well does a whole trajectory of calls match the expected one, and are the arguments valid
against the tool's JSON Schema.

A tool call may be given as a :class:`~pytest_modelbench.models.completion.ToolCall` (what
``Completion.tool_calls`` holds), an OpenAI ``tool_calls`` entry, or a plain
``{"name": ..., "arguments": {...} or "JSON text"}`` dict; "calls" may also be a
``Completion`` (its ``tool_calls``) or a list mixing all of these (a trajectory of several
turns: each Completion contributes its calls, in order).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ...models.completion import Completion, ToolCall, coerce_tool_calls
from ._json import JSONResult, _check_schema, _json_equal, validate_json
from ._result import ScoreResult, pass_fail, shorten

ARG_MODES = ("exact", "subset", "name")


def tool_calls_of(calls: Any) -> tuple[ToolCall, ...]:
    """The tool calls in ``calls`` (see the module docstring for the forms accepted), in order."""
    if isinstance(calls, Completion):
        return calls.tool_calls
    if isinstance(calls, (ToolCall, Mapping)):
        return coerce_tool_calls([calls])
    if isinstance(calls, Iterable) and not isinstance(calls, (str, bytes)):
        found: list[ToolCall] = []
        for item in calls:
            found.extend(item.tool_calls if isinstance(item, Completion) else coerce_tool_calls([item]))
        return tuple(found)
    raise TypeError(
        f"expected tool calls (a Completion, a ToolCall, a dict with 'name' and 'arguments', or a "
        f"list of them), got {type(calls).__name__}"
    )


def _is_subset(expected: Any, got: Any) -> bool:
    """Every key of the expected object is in ``got`` with a matching value (recursively for
    objects; other values, lists included, are compared as JSON values)."""
    if isinstance(expected, Mapping) and isinstance(got, Mapping):
        return all(key in got and _is_subset(value, got[key]) for key, value in expected.items())
    return _json_equal(expected, got)


def _matcher(args: Any) -> tuple[Callable[[ToolCall, ToolCall], bool], str]:
    """The test two calls (expected, got) must pass under ``args``, and how to name it."""
    if isinstance(args, Mapping) or isinstance(args, bool):
        _check_schema(args, "")
        schema = args

        def by_schema(expected: ToolCall, got: ToolCall) -> bool:
            return expected.name == got.name and got.arguments is not None and not validate_json(got.arguments, schema)

        return by_schema, "arguments valid against the schema"
    if args == "name":
        return (lambda expected, got: expected.name == got.name), "same name"
    if args == "exact":
        def exact(expected: ToolCall, got: ToolCall) -> bool:
            return expected.name == got.name and got.arguments is not None and \
                _json_equal(expected.arguments, got.arguments)

        return exact, "same name and arguments"
    if args == "subset":
        def subset(expected: ToolCall, got: ToolCall) -> bool:
            return expected.name == got.name and got.arguments is not None and \
                _is_subset(expected.arguments, got.arguments)

        return subset, "same name, expected arguments included"
    raise ValueError(f"args {args!r} is not allowed; use one of: {', '.join(ARG_MODES)}, or a JSON Schema (a dict)")


def _show(call: ToolCall) -> str:
    arguments = call.arguments_json if call.arguments is None else json.dumps(call.arguments, ensure_ascii=False)
    return f"{call.name}({shorten(arguments, 60)})"


def tool_call_matches(expected: Any, got: Any, *, args: str | Mapping[str, Any] = "exact") -> ScoreResult:
    """Whether the model made the expected tool call (any of the calls in ``got`` will do).

    ``args`` says how arguments are compared: ``"exact"`` (equal JSON values: ``1`` equals
    ``1.0``, key order does not matter), ``"subset"`` (every expected argument is present with an
    equal value; objects are compared the same way, recursively; extra arguments are allowed),
    ``"name"`` (arguments are not compared), or a JSON Schema (a dict) the arguments must satisfy
    (the expected call then needs only its name). Arguments that are not a JSON object never
    match. Returns a :class:`ScoreResult` (1.0 or 0.0) whose reason names the calls made.
    """
    wanted = tool_calls_of(expected)
    if len(wanted) != 1:
        raise ValueError(f"tool_call_matches() takes one expected call, got {len(wanted)}; use tool_call_f1 for several")
    target = wanted[0]
    matches, how = _matcher(args)
    made = tool_calls_of(got)
    if any(matches(target, call) for call in made):
        return pass_fail(True, f"called {_show(target) if args != 'name' else target.name} ({how})")
    if not made:
        return pass_fail(False, f"expected a call of {target.name!r}, but the model called no tool")
    shown = ", ".join(_show(call) for call in made[:5])
    broken = [call.name for call in made if call.name == target.name and call.arguments is None]
    detail = f"; the arguments of {broken[0]!r} are not a JSON object" if broken else ""
    return pass_fail(False, f"expected {_show(target)} ({how}), the model called {shown}{detail}")


@dataclasses.dataclass(frozen=True, slots=True)
class ToolCallF1:
    """The agreement of the tool calls made with the ones expected.

    ``precision`` = matched / calls made, ``recall`` = matched / calls expected, ``f1`` their
    harmonic mean (``score`` is the same number); ``matched`` counts the pairs of a one-to-one
    matching (a maximum bipartite matching, or, with ``ordered=True``, the longest common
    subsequence of the two trajectories). ``passed`` is ``f1 >= min_f1``; truthy exactly then.
    """

    passed: bool
    score: float
    reason: str
    precision: float
    recall: float
    f1: float
    matched: int
    expected: int
    made: int

    def __bool__(self) -> bool:
        return self.passed


def _max_matching(expected: Sequence[ToolCall], made: Sequence[ToolCall],
                  matches: Callable[[ToolCall, ToolCall], bool]) -> int:
    """Size of a maximum bipartite matching (Kuhn's augmenting paths; the trajectories are short)."""
    edges = [[j for j, call in enumerate(made) if matches(want, call)] for want in expected]
    owner: list[int | None] = [None] * len(made)

    def augment(i: int, seen: set[int]) -> bool:
        for j in edges[i]:
            if j in seen:
                continue
            seen.add(j)
            if owner[j] is None or augment(owner[j], seen):  # type: ignore[arg-type]
                owner[j] = i
                return True
        return False

    return sum(augment(i, set()) for i in range(len(expected)))


def _ordered_matching(expected: Sequence[ToolCall], made: Sequence[ToolCall],
                      matches: Callable[[ToolCall, ToolCall], bool]) -> int:
    """Longest common subsequence of the trajectories, ``matches`` as equality."""
    previous = [0] * (len(made) + 1)
    for want in expected:
        current = [0]
        for j, call in enumerate(made):
            current.append(previous[j] + 1 if matches(want, call) else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def tool_call_f1(expected: Any, got: Any, *, args: str | Mapping[str, Any] = "exact",
                 ordered: bool = False, min_f1: float = 1.0) -> ToolCallF1:
    """Tool-call F1 of a trajectory: how many of the expected calls were made, and how many of
    the calls made were expected.

    Each call counts once (one-to-one matching), compared as ``args`` says (see
    :func:`tool_call_matches`; ``args="name"`` compares tool names only, as promptfoo's
    ``tool-call-f1``). ``ordered=True`` also requires the calls in the expected order.
    ``expected`` and ``got`` take any form of calls, e.g. the Completions of an agent loop's
    turns. No call expected and none made scores 1; otherwise an empty side scores 0.
    """
    if isinstance(min_f1, bool) or not isinstance(min_f1, (int, float)) or not 0.0 <= min_f1 <= 1.0:
        raise ValueError(f"min_f1 {min_f1!r} is not allowed; it must be a number in [0, 1]")
    matches, how = _matcher(args)
    wanted, made = tool_calls_of(expected), tool_calls_of(got)
    if not wanted and not made:
        return ToolCallF1(True, 1.0, "no tool call expected and none made", 1.0, 1.0, 1.0, 0, 0, 0)
    matched = (_ordered_matching if ordered else _max_matching)(wanted, made, matches)
    precision = matched / len(made) if made else 0.0
    recall = matched / len(wanted) if wanted else 0.0
    f1 = 0.0 if matched == 0 else 2 * precision * recall / (precision + recall)
    passed = f1 >= min_f1
    order = ", in order" if ordered else ""
    reason = (f"{matched} of {len(wanted)} expected call(s) matched among {len(made)} made ({how}{order}): "
              f"precision {precision:.2f}, recall {recall:.2f}, F1 {f1:.2f}")
    if not passed:
        reason += f" < {min_f1:g}; made: {', '.join(_show(call) for call in made[:5]) or 'none'}"
    return ToolCallF1(passed, f1, reason, precision, recall, f1, matched, len(wanted), len(made))


def _schema_for(call: ToolCall, schema: Any) -> tuple[Any, str | None]:
    """The JSON Schema of the call's arguments: ``schema`` itself, an OpenAI tool's
    ``parameters``, or the parameters of the tool named like the call in a list of tools."""
    if isinstance(schema, list):
        names = []
        for tool in schema:
            function = tool.get("function") if isinstance(tool, Mapping) else None
            if isinstance(function, Mapping):
                names.append(function.get("name"))
                if function.get("name") == call.name:
                    return function.get("parameters") or {"type": "object"}, None
        return None, f"the model called {call.name!r}, which is not one of the tools: {', '.join(map(str, names))}"
    if isinstance(schema, Mapping) and isinstance(schema.get("function"), Mapping):
        function = schema["function"]
        if function.get("name") != call.name:
            return None, f"the model called {call.name!r}, not {function.get('name')!r}"
        return function.get("parameters") or {"type": "object"}, None
    return schema, None


def check_tool_arguments(call: Any, schema: Mapping[str, Any] | Sequence[Mapping[str, Any]] | bool) -> JSONResult:
    """Whether a tool call's arguments are a JSON object valid against the tool's JSON Schema.

    ``call`` is one call (a ToolCall, a dict, or a Completion holding exactly one call).
    ``schema`` is a JSON Schema (the subset of :func:`validate_json`), an OpenAI tool definition
    (its ``function.parameters`` is used, and the names must agree) or the list of tools the
    model was given (the one named like the call is used; calling another tool fails). Returns a
    :class:`JSONResult`: ``value`` the parsed arguments, ``errors`` the violations.
    """
    calls = tool_calls_of(call)
    if len(calls) != 1:
        raise ValueError(f"check_tool_arguments() checks one call, got {len(calls)}")
    made = calls[0]
    parameters, problem = _schema_for(made, schema)
    if parameters is not None:
        _check_schema(parameters, "")
    if problem is not None:
        return JSONResult(False, 0.0, problem, found=made.arguments is not None, value=made.arguments)
    if made.arguments is None:
        return JSONResult(False, 0.0, f"the arguments of {made.name!r} are not a JSON object: "
                                      f"{shorten(made.arguments_json)!r}", found=False)
    errors = tuple(validate_json(made.arguments, parameters))
    if errors:
        shown = "; ".join(str(error) for error in errors[:5])
        return JSONResult(False, 0.0, f"{len(errors)} schema violation(s) in the arguments of {made.name!r}: {shown}",
                          True, made.arguments, errors)
    return JSONResult(True, 1.0, f"the arguments of {made.name!r} match the schema", True, made.arguments)


