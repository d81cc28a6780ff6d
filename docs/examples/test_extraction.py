"""Extracting structured data as JSON, validated against a schema and checked field by field."""

from __future__ import annotations

import pytest

from pytest_modelbench.scorers import check_json

INVOICE_SCHEMA = {
    "type": "object",
    "required": ["invoice_number", "total", "currency", "due_date"],
    "properties": {
        "invoice_number": {"type": "string", "minLength": 1},
        "total": {"type": "number", "minimum": 0},
        "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]},
        "due_date": {"type": "string", "minLength": 10, "maxLength": 10},
    },
    "additionalProperties": False,
}

INVOICE = """Invoice INV-2041 from Lindqvist Tooling AB to Harbour Lights Ltd.
3 x hydraulic press seals, 2 x gasket sets. Total due: EUR 1,249.50, payable by 2026-03-15.
Bank: SE45 5000 0000 0583 9825 7466."""

CONTACT_SCHEMA = {
    "type": "object",
    "required": ["name", "email", "phone"],
    "properties": {
        "name": {"type": "string"},
        "email": {"type": "string"},
        "phone": {"type": "string"},
    },
}

CONTACT = """Hi team, please add the new supplier contact. Sent by Jonas Berg on behalf of Nordkraft:
you can reach him at jonas.berg@nordkraft.example or +46 70 123 45 67 during office hours."""


@pytest.mark.modelbench(category="accuracy", difficulty="easy")
def test_invoice_fields(model, record_quality):
    reply = model.complete(
        "Extract invoice_number, total (a number), currency (ISO code) and due_date (YYYY-MM-DD) "
        f"from this invoice. Reply with one JSON object only.\n\n{INVOICE}",
        temperature=0,
    )
    result = check_json(reply.text, INVOICE_SCHEMA, json_only=True)
    assert result, result.reason
    expected = {"invoice_number": "INV-2041", "total": 1249.50, "currency": "EUR", "due_date": "2026-03-15"}
    right = sum(result.value.get(key) == value for key, value in expected.items())
    record_quality(right / len(expected))
    assert result.value == expected


@pytest.mark.modelbench(category="accuracy", difficulty="easy")
def test_contact_fields(model, record_quality):
    reply = model.complete(
        "Extract the contact person's name, email and phone number (digits and a leading + only) "
        f"as a JSON object with keys name, email, phone. Reply with JSON only.\n\n{CONTACT}",
        temperature=0,
    )
    result = check_json(reply.text, CONTACT_SCHEMA)
    assert result, result.reason
    expected = {"name": "Jonas Berg", "email": "jonas.berg@nordkraft.example", "phone": "+46701234567"}
    right = sum(result.value.get(key) == value for key, value in expected.items())
    record_quality(right / len(expected))
    assert right == len(expected), f"{right} of {len(expected)} fields right: {result.value}"
