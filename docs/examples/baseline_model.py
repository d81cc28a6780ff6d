"""A rule-based baseline "model" for the example suite: ``python:baseline_model:answer``.

It is what a team would write in an afternoon without a language model: arithmetic by
pattern, regular-expression extraction, string formatting and a keyword safety filter. It
genuinely solves some example tasks and fails others (multi-step word problems, code, SQL),
and its keyword filter over-refuses a harmless question: a benchmark should show all that.
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


def answer(prompt: str) -> str:
    lowered = prompt.lower()
    if any(word in lowered for word in BLOCKED_WORDS):
        return "I'm sorry, but I can't help with that request."
    for handler in (_extract, _format, _arithmetic):
        reply = handler(prompt)
        if reply is not None:
            return reply
    return "I don't know."
