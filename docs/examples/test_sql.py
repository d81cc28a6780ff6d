"""Writing SQL for a small database; the query is run and its result compared."""

from __future__ import annotations

import pytest

from pytest_modelbench.scorers import check_sql, extract_code

QUESTIONS = [
    pytest.param(
        "The total order amount per customer city, highest first. Columns: city, total.",
        "SELECT c.city, SUM(o.amount_eur) AS total FROM orders o JOIN customers c ON c.id = o.customer_id "
        "GROUP BY c.city ORDER BY total DESC",
        True, id="total-per-city",
    ),
    pytest.param(
        "The names of customers who have never placed an order.",
        "SELECT name FROM customers WHERE id NOT IN (SELECT customer_id FROM orders)",
        False, id="no-orders",
    ),
]


@pytest.mark.modelbench(category="coding", difficulty="trivial")
@pytest.mark.parametrize(("question", "expected_query", "ordered"), QUESTIONS)
def test_sql_query(model, shop_db, shop_schema, question, expected_query, ordered):
    reply = model.complete(
        f"SQLite schema:\n{shop_schema}\n\nWrite one SQLite query for: {question}\n"
        "Reply with one ```sql code block only."
    )
    result = check_sql(extract_code(reply.text, "sql"), shop_db, expected_query=expected_query, ordered=ordered)
    assert result, result.reason
