"""Shared fixtures of the example suite."""

from __future__ import annotations

import pytest

from pytest_modelbench.scorers import SQLDatabase

SHOP_SCHEMA = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    placed_on TEXT NOT NULL,
    amount_eur REAL NOT NULL
);
"""

SHOP_ROWS = {
    "customers": [
        (1, "Ada Byrne", "Dublin"), (2, "Bruno Keller", "Zurich"), (3, "Chiara Rossi", "Milan"),
        (4, "Dara Walsh", "Dublin"), (5, "Emil Novak", "Prague"),
    ],
    "orders": [
        (1, 1, "2026-01-04", 120.0), (2, 1, "2026-02-11", 35.5), (3, 2, "2026-01-20", 410.0),
        (4, 3, "2026-03-02", 89.9), (5, 4, "2026-03-15", 15.0), (6, 4, "2026-03-28", 240.0),
        (7, 2, "2026-04-01", 60.0),
    ],
}


@pytest.fixture(scope="session")
def shop_db() -> SQLDatabase:
    """A small shop database (customers and orders) for the SQL tasks."""
    return SQLDatabase(schema=SHOP_SCHEMA, rows=SHOP_ROWS)


@pytest.fixture(scope="session")
def shop_schema() -> str:
    return SHOP_SCHEMA.strip()
