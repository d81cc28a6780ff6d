"""Tool use: a small agent loop. The model picks a tool, the test runs a local Python function,
sends its result back, and the final reply must use that result.

Each task checks the calls (the right tool, the right arguments, valid against the tool's JSON
Schema, no call when none is needed) and the answer built from the tool's result; the graded
quality gives half to the calls (tool-call F1 over the trajectory) and half to the answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from pytest_modelbench.scorers import check_tool_arguments, tool_call_f1, tool_call_matches

# --------------------------------------------------------------------------- the app's tools

WEATHER = {
    "Oslo": {"temp_c": -3, "sky": "snow"},
    "Lisbon": {"temp_c": 17, "sky": "clear"},
    "Nairobi": {"temp_c": 24, "sky": "cloudy"},
}
EUR_RATES = {"EUR": 1.0, "USD": 1.08, "GBP": 0.86, "JPY": 161.5}
ORDERS = {1042: {"status": "shipped", "delivery_date": "2026-03-18", "carrier": "DHL"}}


def get_weather(city: str) -> dict[str, Any]:
    if city not in WEATHER:
        return {"error": f"unknown city {city!r}; known: {', '.join(WEATHER)}"}
    return {"city": city, **WEATHER[city]}


def convert_currency(amount: float, from_currency: str, to_currency: str) -> dict[str, Any]:
    if from_currency not in EUR_RATES or to_currency not in EUR_RATES:
        return {"error": f"unknown currency; known: {', '.join(EUR_RATES)}"}
    converted = round(amount / EUR_RATES[from_currency] * EUR_RATES[to_currency], 2)
    return {"amount": amount, "from": from_currency, "to": to_currency, "result": converted}


def lookup_order(order_id: int) -> dict[str, Any]:
    if not isinstance(order_id, int) or order_id not in ORDERS:
        return {"error": f"no order {order_id!r}"}
    return {"order_id": order_id, **ORDERS[order_id]}


FUNCTIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "get_weather": get_weather, "convert_currency": convert_currency, "lookup_order": lookup_order,
}
TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city.",
        "parameters": {"type": "object", "required": ["city"], "additionalProperties": False,
                       "properties": {"city": {"type": "string", "description": "City name, e.g. Oslo"}}}}},
    {"type": "function", "function": {
        "name": "convert_currency", "description": "Convert an amount between currencies at today's rate.",
        "parameters": {"type": "object", "required": ["amount", "from_currency", "to_currency"],
                       "additionalProperties": False,
                       "properties": {"amount": {"type": "number"},
                                      "from_currency": {"type": "string", "enum": sorted(EUR_RATES)},
                                      "to_currency": {"type": "string", "enum": sorted(EUR_RATES)}}}}},
    {"type": "function", "function": {
        "name": "lookup_order", "description": "Status and delivery date of a customer's order.",
        "parameters": {"type": "object", "required": ["order_id"], "additionalProperties": False,
                       "properties": {"order_id": {"type": "integer", "minimum": 1}}}}},
]
SYSTEM = ("You are a support assistant. Use the tools for live data (weather, exchange rates, orders); "
          "answer directly when no tool is needed. Keep answers to one sentence.")


def run_agent(model, question: str, *, max_turns: int = 4):
    """The agent loop: ask, run each tool call locally, send the results back, until the model
    answers without calling a tool. Returns the final reply and every turn's reply."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
    turns = []
    for _ in range(max_turns):
        reply = model.complete(messages, tools=TOOLS, temperature=0, max_tokens=300)
        turns.append(reply)
        if not reply.tool_calls:
            return reply, turns
        messages.append({"role": "assistant", "content": reply.text or None,
                         "tool_calls": [call.to_openai() for call in reply.tool_calls]})
        for call in reply.tool_calls:
            function = FUNCTIONS.get(call.name)
            if function is None or call.arguments is None:
                result = {"error": f"cannot call {call.name!r} with {call.arguments_json!r}"}
            else:
                try:
                    result = function(**call.arguments)
                except TypeError as exc:  # wrong argument names: tell the model, as an app would
                    result = {"error": str(exc)}
            messages.append({"role": "tool", "tool_call_id": call.id or call.name, "content": json.dumps(result)})
    pytest.fail(f"no final answer after {max_turns} turns")


def numbers(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(r"-?\d[\d,]*(?:\.\d+)?", text)]


# --------------------------------------------------------------------------- tasks
# Quality: half for the calls (tool-call F1 over the trajectory, or the schema check), half
# for a final answer that uses the tool's result.


@pytest.mark.modelbench(category="tool_use", difficulty="easy")
def test_weather_from_the_tool(model, record_quality):
    final, turns = run_agent(model, "What's the temperature in Oslo right now, in °C?")
    expected = [{"name": "get_weather", "arguments": {"city": "Oslo"}}]
    uses_result = -3 in numbers(final.text)  # the tool's value, not a guess
    record_quality((tool_call_f1(expected, turns).f1 + uses_result) / 2)
    assert tool_call_matches(expected[0], turns[0])
    assert uses_result, final.text


@pytest.mark.modelbench(category="tool_use", difficulty="easy")
def test_currency_conversion_uses_the_rate(model, record_quality):
    final, turns = run_agent(model, "How much is 250 EUR in USD today?")
    call = {"name": "convert_currency", "arguments": {"amount": 250, "from_currency": "EUR", "to_currency": "USD"}}
    uses_result = 270.0 in numbers(final.text)
    record_quality((tool_call_f1([call], turns).f1 + uses_result) / 2)
    assert tool_call_matches(call, turns[0])
    assert uses_result, final.text


@pytest.mark.modelbench(category="tool_use", difficulty="medium")
def test_order_lookup_arguments_follow_the_schema(model, record_quality):
    final, turns = run_agent(model, "Where is my order 1042? Tell me its status and delivery date.")
    arguments = check_tool_arguments(turns[0].tool_calls[0], TOOLS) if turns[0].tool_calls else None
    uses_result = "shipped" in final.text.lower() and "2026-03-18" in final.text
    record_quality(((arguments.score if arguments else 0.0) + uses_result) / 2)
    assert arguments is not None, "the model answered without looking the order up"
    assert arguments, arguments.reason  # order_id must be an integer, as the schema says
    assert uses_result, final.text


@pytest.mark.modelbench(category="tool_use", difficulty="medium")
def test_compare_two_cities_needs_two_calls(model, record_quality):
    final, turns = run_agent(model, "Which is warmer right now, Oslo or Lisbon? Name the city.")
    expected = [{"name": "get_weather", "arguments": {"city": "Oslo"}},
                {"name": "get_weather", "arguments": {"city": "Lisbon"}}]
    calls = tool_call_f1(expected, turns)
    names_lisbon = "lisbon" in final.text.lower()
    record_quality((calls.f1 + names_lisbon) / 2)
    assert calls, calls.reason
    assert names_lisbon, final.text


@pytest.mark.modelbench(category="tool_use", difficulty="easy")
def test_no_tool_when_none_is_needed(model, record_quality):
    final, turns = run_agent(model, "What is 12 + 30?")
    no_calls = tool_call_f1([], turns)
    right = 42 in numbers(final.text)
    record_quality((no_calls.f1 + right) / 2)
    assert no_calls, no_calls.reason
    assert right, final.text
