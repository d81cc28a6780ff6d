"""An example conftest.py for a team's benchmark suite: copy it next to your benchmark tests.

The models, categories and weights live in pyproject.toml, where pytest and CI find them::

    [tool.pytest.ini_options]
    modelbench_models = "fast, strong, rules"
    modelbench_json = "modelbench-results.json"

    [tool.modelbench.categories]
    accuracy = 0.30             # re-weight a built-in category
    refunds = 0.20              # declare the team's own category

    [tool.modelbench.models.fast]
    provider = "openai"
    model = "gpt-4o-mini"
    params = { temperature = 0 }

    [tool.modelbench.models.strong]
    provider = "openai"
    model = "llama3.1:70b"
    base_url = "http://127.0.0.1:8000/v1"
    api_key_env = "VLLM_API_KEY"

    [tool.modelbench.models.rules]     # the team's current rule-based pipeline, as a baseline
    provider = "python"
    model = "conftest_example:support_pipeline"

This file adds what the tasks share: the system prompt the product uses, the policy facts
the answers are checked against, and the team's own pipeline wrapped as a model, so the
benchmark compares candidate models with what runs in production today.
"""

from __future__ import annotations

import re

import pytest

SYSTEM_PROMPT = (
    "You are the support assistant of Northwind Outfitters. Answer in at most three "
    "sentences. Quote policy numbers exactly."
)

POLICY = {
    "refund_days": 30,
    "exchange_days": 60,
    "free_shipping_over_eur": 50,
}


def support_pipeline(prompt: str, *, system: str | None = None) -> str:
    """The rule-based pipeline in production today: keyword routing to canned answers."""
    text = prompt.lower()
    if "refund" in text or "money back" in text:
        return f"You can get a refund within {POLICY['refund_days']} days of delivery."
    if "exchange" in text:
        return f"Exchanges are possible within {POLICY['exchange_days']} days."
    if "shipping" in text:
        return f"Shipping is free for orders over EUR {POLICY['free_shipping_over_eur']}."
    return "Please contact support@northwind.example for help."


@pytest.fixture
def system_prompt() -> str:
    return SYSTEM_PROMPT


@pytest.fixture
def policy() -> dict[str, int]:
    return dict(POLICY)


@pytest.fixture
def ask(model, system_prompt):
    """Ask the model under test as the product does (with its system prompt)."""

    def ask(question: str) -> str:
        return model.complete(question, system=system_prompt, temperature=0).text

    return ask


def mentions_number(text: str, number: int) -> bool:
    """True when ``number`` appears as a whole number in ``text`` (30 matches "30 days", not "300")."""
    return re.search(rf"(?<![\d.]){number}(?![\d])", text) is not None
