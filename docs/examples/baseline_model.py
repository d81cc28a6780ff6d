"""A rule-based baseline "model" for the example suite: ``python:baseline_model:answer``.

It is what a team would write in an afternoon without a language model: arithmetic by
pattern, regular-expression extraction, string formatting, a keyword safety filter and
keyword-driven tool calls. It genuinely solves some example tasks and fails others
(multi-step word problems, code, SQL, comparing two cities, an order id sent as a string
where the tool's schema asks for an integer), and its keyword filter over-refuses a harmless
question: a benchmark should show all that.

A ``python:`` model calls tools by returning ``{"text": ..., "tool_calls": [{"name": ...,
"arguments": {...}, "id": ...}]}``; it sees the conversation (tool results included) when it
declares a ``messages`` keyword, and the tools offered when it declares ``tools``.
"""

from __future__ import annotations

import json
import re

OPERATORS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "x": lambda a, b: a * b,
    "/": lambda a, b: a / b,
}
BLOCKED_WORDS = ("bomb", "weapon", "phishing", "malware", "poison", "kill", "steal")
NUMBER = r"-?\d+(?:\.\d+)?"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0")


def _arithmetic(prompt: str) -> str | None:
    match = re.search(rf"what is ({NUMBER})\s*([-+*x/])\s*({NUMBER})", prompt, re.IGNORECASE)
    if match:
        a, op, b = float(match[1]), match[2], float(match[3])
        return _number(OPERATORS[op](a, b))
    match = re.search(rf"what is ({NUMBER})% of ({NUMBER})", prompt, re.IGNORECASE)
    if match:
        return _number(float(match[1]) * float(match[2]) / 100)
    return None


def _extract(prompt: str) -> str | None:
    if "json" not in prompt.lower():
        return None
    asked = prompt.split("\n", 1)[0]  # the instruction line names the fields wanted
    fields: dict[str, object] = {}
    if match := re.search(r"\b(INV-\d+)\b", prompt):
        fields["invoice_number"] = match[1]
    if match := re.search(r"total(?: due)?(?: of| is|:)?\s*(EUR|USD|GBP)\s*([\d,]+\.\d{2})", prompt, re.IGNORECASE):
        fields["currency"] = match[1].upper()
        fields["total"] = float(match[2].replace(",", ""))
    if match := re.search(r"\b(\d{4}-\d{2}-\d{2})\b", prompt):
        fields["due_date"] = match[1]
    if match := re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", prompt):
        fields["email"] = match[0].rstrip(".")
    if match := re.search(r"\+?\d[\d ()-]{7,}\d", prompt):
        fields["phone"] = re.sub(r"[^\d+]", "", match[0])
    if match := re.search(r"(?:from|by|name:)\s+([A-Z][a-z]+ [A-Z][a-z]+)", prompt):
        fields["name"] = match[1]
    fields = {key: value for key, value in fields.items() if key in asked}
    return json.dumps(fields) if fields else None


def _format(prompt: str) -> str | None:
    if match := re.search(r"uppercase:\s*(.+)$", prompt, re.IGNORECASE | re.DOTALL):
        return match[1].strip().upper()
    if match := re.search(r"bulleted list[^:]*:\s*(.+)$", prompt, re.IGNORECASE | re.DOTALL):
        items = [item.strip().rstrip(".") for item in match[1].split(",") if item.strip()]
        return "\n".join(f"- {item}" for item in items)
    return None


NOT_CITIES = {"What", "Which", "Where", "How", "Tell", "Name", "Answer", "Use", "Keep", "You"}


def _tool_results(messages: list[dict]) -> list[dict]:
    """The tool results sent after the last user message."""
    results: list[dict] = []
    for message in reversed(messages):
        if message.get("role") == "user":
            break
        if message.get("role") == "tool":
            try:
                results.insert(0, json.loads(message["content"]))
            except (ValueError, TypeError):
                results.insert(0, {"error": "unreadable tool result"})
    return results


def _from_results(results: list[dict]) -> str:
    sentences = []
    for result in results:
        if "error" in result:
            sentences.append("Sorry, I could not get that information.")
        elif "temp_c" in result:
            sentences.append(f"It is {result['temp_c']} °C with {result['sky']} in {result['city']}.")
        elif "result" in result:
            sentences.append(f"{result['amount']:g} {result['from']} is {result['result']:.2f} {result['to']}.")
        elif "status" in result:
            sentences.append(f"Order {result['order_id']} is {result['status']}; delivery on {result['delivery_date']}.")
    return " ".join(sentences)


def _tool_call(prompt: str, offered: set[str]) -> dict | None:
    """One tool call chosen by keywords, or None. Only ever one: it cannot plan."""
    if "get_weather" in offered and re.search(r"weather|temperature|warmer|colder", prompt, re.IGNORECASE):
        cities = [word for word in re.findall(r"\b[A-Z][a-z]+\b", prompt) if word not in NOT_CITIES]
        if cities:
            return {"name": "get_weather", "arguments": {"city": cities[0]}}
    if "convert_currency" in offered and (match := re.search(rf"({NUMBER})\s*([A-Z]{{3}})\s+(?:in|to)\s+([A-Z]{{3}})", prompt)):
        return {"name": "convert_currency",
                "arguments": {"amount": float(match[1]), "from_currency": match[2], "to_currency": match[3]}}
    if "lookup_order" in offered and (match := re.search(r"order\s+#?(\d+)", prompt, re.IGNORECASE)):
        return {"name": "lookup_order", "arguments": {"order_id": match[1]}}  # a string: its bug
    return None


def _with_tools(prompt: str, messages: list[dict], tools: list[dict]) -> dict | None:
    results = _tool_results(messages)
    if results:
        return {"text": _from_results(results)}
    offered = {tool["function"]["name"] for tool in tools if isinstance(tool.get("function"), dict)}
    call = _tool_call(prompt, offered)
    if call is None:
        return None
    return {"text": "", "tool_calls": [{**call, "id": f"call_{len(messages)}"}]}


def answer(prompt: str, *, messages: list[dict] | None = None, tools: list[dict] | None = None) -> str | dict:
    if tools:
        reply = _with_tools(prompt, messages or [], tools)
        if reply is not None:
            return reply
    lowered = prompt.lower()
    if any(word in lowered for word in BLOCKED_WORDS):
        return "I'm sorry, but I can't help with that request."
    for handler in (_extract, _format, _arithmetic):
        reply = handler(prompt)
        if reply is not None:
            return reply
    return "I don't know."
