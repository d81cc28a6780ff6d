"""Arithmetic and multi-step word problems; the final number in the reply is graded."""

from __future__ import annotations

import pytest

from pytest_modelbench.scorers import extract_final_number, numeric_match

INSTRUCTION = "Solve the problem. End your reply with 'The answer is N.'"

PROBLEMS = [
    pytest.param("What is 17 * 23?", 391, id="product"),
    pytest.param("What is 15% of 240?", 36, id="percentage"),
    pytest.param(
        "A train leaves at 09:40 and arrives at 13:05 the same day. How many minutes is the journey?",
        205, id="journey-minutes",
    ),
    pytest.param(
        "Mara buys 3 notebooks at $2.50 each and a pen for $1.25. She pays with a $20 bill. "
        "How much change, in dollars, does she get?",
        11.25, id="change",
    ),
    pytest.param(
        "A recipe for 4 people needs 300 g of flour. How many grams of flour are needed for 10 people?",
        750, id="recipe-scaling",
    ),
]


@pytest.mark.modelbench(category="reasoning", difficulty="easy")
@pytest.mark.parametrize(("problem", "answer"), PROBLEMS)
def test_word_problem(model, record_quality, problem, answer):
    reply = model.complete(f"{problem}\n{INSTRUCTION}", temperature=0)
    result = numeric_match(reply.text, answer, rel_tol=1e-9)
    # Partial credit for showing a number at all, full credit only for the right one.
    record_quality(1.0 if result else (0.2 if extract_final_number(reply.text) is not None else 0.0))
    assert result, result.reason
