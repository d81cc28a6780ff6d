"""JSON extraction and validation against the supported JSON Schema subset."""

from __future__ import annotations

import pytest

from pytest_modelbench.scorers import SchemaViolation, check_json, extract_json, validate_json

# --- extraction -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('  [1, 2]\n', [1, 2]),
        ("null", None),
        ('Here you go:\n```json\n{"name": "Ada"}\n```\nAnything else?', {"name": "Ada"}),
        ('```\n[true]\n```', [True]),
        ('```python\nx = {1: 2}\n```\n```json\n{"ok": true}\n```', {"ok": True}),  # json fence first
        ('The result is {"price": 3.5, "tags": ["a}", "b"]} as requested.', {"price": 3.5, "tags": ["a}", "b"]}),
        ('Sure: {"s": "quote \\" and brace {"} done', {"s": 'quote " and brace {'}),
        ('broken {"a": } then {"b": 2}', {"b": 2}),  # first *valid* balanced value
        ('{"nested": {"deep": [1, {"x": null}]}}', {"nested": {"deep": [1, {"x": None}]}}),
    ],
)
def test_extract_json(text, expected):
    assert extract_json(text) == expected


@pytest.mark.parametrize(
    "text", ["", "no json here", "{'single': 'quotes'}", '{"a": NaN}', "[1, 2", "[" * 5000 + "{" * 5000]
)
def test_extract_json_raises_when_there_is_none(text):
    with pytest.raises(ValueError, match="no JSON value found"):
        extract_json(text)


# --- validation: JSON-Schema-Test-Suite cases -----------------------------------------------

# Cases from the official JSON-Schema-Test-Suite (github.com/json-schema-org/JSON-Schema-Test-Suite),
# tests/draft7/type.json, enum.json and minLength.json: (schema, instance, valid).
SUITE_CASES = [
    ({"type": "integer"}, 1, True),
    ({"type": "integer"}, 1.0, True),  # a float with zero fractional part is an integer
    ({"type": "integer"}, 1.1, False),
    ({"type": "integer"}, "1", False),
    ({"type": "integer"}, True, False),
    ({"type": "integer"}, None, False),
    ({"type": "number"}, 1, True),
    ({"type": "number"}, 1.1, True),
    ({"type": "number"}, "1", False),
    ({"type": "number"}, True, False),
    ({"type": "string"}, "", True),
    ({"type": "string"}, 1, False),
    ({"type": "object"}, {}, True),
    ({"type": "object"}, [], False),
    ({"type": "array"}, [], True),
    ({"type": "array"}, {}, False),
    ({"type": "boolean"}, False, True),
    ({"type": "boolean"}, 0, False),
    ({"type": "boolean"}, "", False),
    ({"type": "null"}, None, True),
    ({"type": "null"}, False, False),
    ({"type": "null"}, 0, False),
    ({"type": ["integer", "string"]}, 1, True),
    ({"type": ["integer", "string"]}, "foo", True),
    ({"type": ["integer", "string"]}, 1.1, False),
    ({"type": ["integer", "string"]}, None, False),
    ({"type": ["array", "object", "null"]}, None, True),
    ({"type": ["array", "object", "null"]}, "foo", False),
    ({"enum": [1, 2, 3]}, 1, True),
    ({"enum": [1, 2, 3]}, 4, False),
    ({"enum": [6, "foo", [], True, {"foo": 12}]}, [], True),
    ({"enum": [6, "foo", [], True, {"foo": 12}]}, None, False),
    ({"enum": [6, "foo", [], True, {"foo": 12}]}, {"foo": False}, False),  # objects deep-compared
    ({"enum": [6, "foo", [], True, {"foo": 12}]}, {"foo": 12}, True),
    ({"enum": [6, "foo", [], True, {"foo": 12}]}, {"foo": 12, "boo": 42}, False),
    ({"enum": [False]}, 0, False),  # false does not match 0
    ({"enum": [False]}, 0.0, False),
    ({"enum": [[False]]}, [0], False),
    ({"enum": [True]}, 1, False),
    ({"enum": [0]}, False, False),
    ({"enum": [0]}, 0.0, True),
    ({"enum": [1]}, 1.0, True),
    ({"enum": [[1]]}, [True], False),
    ({"enum": ["hello\u0000there"]}, "hellothere", False),
    ({"enum": ["\u00e4"]}, "a\u0308", False),  # same look, different code points
    ({"minLength": 2}, "foo", True),
    ({"minLength": 2}, "fo", True),
    ({"minLength": 2}, "f", False),
    ({"minLength": 2}, 1, True),  # ignores non-strings
    ({"minLength": 2}, "\U0001f4a9", False),  # one code point is not long enough
    ({"minLength": 2.0}, "f", False),
]


@pytest.mark.parametrize(("schema", "instance", "valid"), SUITE_CASES)
def test_json_schema_test_suite_cases(schema, instance, valid):
    assert (validate_json(instance, schema) == []) is valid


# --- validation: the other keywords, with locations -----------------------------------------

ORDER_SCHEMA = {
    "type": "object",
    "properties": {
        "customer": {"type": "string", "minLength": 1},
        "items": {
            "type": "array",
            "minItems": 1,
            "maxItems": 3,
            "items": {
                "type": "object",
                "properties": {
                    "sku": {"type": "string"},
                    "price": {"type": "number", "minimum": 0, "exclusiveMaximum": 1000},
                    "qty": {"type": "integer", "minimum": 1, "maximum": 10},
                },
                "required": ["sku", "price"],
                "additionalProperties": False,
            },
        },
        "status": {"enum": ["new", "paid"]},
    },
    "required": ["customer", "items"],
}


def test_valid_document_has_no_violations():
    order = {"customer": "Ada", "items": [{"sku": "A1", "price": 9.5, "qty": 2}], "status": "new"}
    assert validate_json(order, ORDER_SCHEMA) == []


def test_violations_are_located_by_json_pointer():
    order = {
        "customer": "",
        "items": [
            {"sku": "A1", "price": 1},
            {"sku": "B2", "price": 2, "colour": "red"},
            {"sku": "C3", "price": -4, "qty": 11},
        ],
        "status": "lost",
    }
    errors = validate_json(order, ORDER_SCHEMA)
    assert [str(error) for error in errors] == [
        "/customer: string of length 0 is shorter than minLength 1",
        "/items/1/colour: property 'colour' is not allowed (allowed: sku, price, qty)",
        "/items/2/price: -4 is less than minimum 0",
        "/items/2/qty: 11 is greater than maximum 10",
        '/status: "lost" is not one of: "new", "paid"',
    ]


def test_missing_required_property_is_reported_at_the_object():
    errors = validate_json({"items": [{"price": 1}]}, ORDER_SCHEMA)
    assert errors == [
        SchemaViolation("", "missing required property 'customer'"),
        SchemaViolation("/items/0", "missing required property 'sku'"),
    ]
    assert str(errors[0]) == "(root): missing required property 'customer'"


def test_array_length_and_exclusive_bounds():
    too_many = {"customer": "x", "items": [{"sku": "a", "price": 1}] * 4}
    assert [str(e) for e in validate_json(too_many, ORDER_SCHEMA)] == [
        "/items: array of 4 items has more than maxItems 3"
    ]
    assert [str(e) for e in validate_json({"customer": "x", "items": []}, ORDER_SCHEMA)] == [
        "/items: array of 0 items has fewer than minItems 1"
    ]
    assert validate_json(1000, {"exclusiveMaximum": 1000})[0].message == "1000 is not less than exclusiveMaximum 1000"
    assert validate_json(5, {"exclusiveMinimum": 5})[0].message == "5 is not greater than exclusiveMinimum 5"
    assert validate_json("abcd", {"maxLength": 3})[0].message == "string of length 4 is longer than maxLength 3"


def test_type_mismatch_stops_further_checks_at_that_place():
    errors = validate_json({"customer": 5, "items": "none"}, ORDER_SCHEMA)
    assert [str(e) for e in errors] == ["/customer: expected string, got integer 5", '/items: expected array, got string "none"']


def test_pointer_escapes_slash_and_tilde():
    schema = {"properties": {"a/b": {"type": "string"}, "m~n": {"type": "string"}}}
    assert [e.path for e in validate_json({"a/b": 1, "m~n": 2}, schema)] == ["/a~1b", "/m~0n"]


def test_additional_properties_as_a_schema_and_boolean_schemas():
    schema = {"properties": {"id": {"type": "integer"}}, "additionalProperties": {"type": "string"}}
    assert validate_json({"id": 1, "note": "ok"}, schema) == []
    assert [str(e) for e in validate_json({"id": 1, "note": 2}, schema)] == ["/note: expected string, got integer 2"]
    assert validate_json("anything", True) == []
    assert [str(e) for e in validate_json({"x": 1}, {"properties": {"x": False}})] == [
        "/x: no value is allowed here (schema is false)"
    ]
    assert validate_json(3, {"const": 3.0}) == []
    assert validate_json(3, {"const": "3"})[0].message == '3 is not the required "3"'


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "float"}, "type 'float' is not one of"),
        ({"type": []}, "type \\[\\] is not one of"),
        ({"pattern": "^a"}, "unsupported keyword\\(s\\) pattern"),
        ({"$ref": "#/x"}, "unsupported keyword\\(s\\) \\$ref"),
        ({"items": [{"type": "string"}]}, "tuple validation"),
        ({"required": "name"}, "required must be a list"),
        ({"minLength": -1}, "minLength -1 must be a whole number"),
        ({"maximum": "3"}, "maximum '3' must be a number"),
        ({"properties": {"a": {"type": "bogus"}}}, "schema at /properties/a: type 'bogus'"),
        ("string", "must be an object or a boolean"),
    ],
)
def test_unsupported_or_malformed_schema_raises(schema, message):
    with pytest.raises(ValueError, match=message):
        validate_json({}, schema)


def test_annotations_are_ignored():
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "T", "description": "d",
              "type": "string", "format": "date-time", "examples": ["x"]}
    assert validate_json("not a date", schema) == []


# --- check_json ---------------------------------------------------------------------------

def test_check_json_with_schema():
    reply = 'Here is the order:\n```json\n{"customer": "Ada", "items": [{"sku": "A", "price": -1}]}\n```'
    result = check_json(reply, ORDER_SCHEMA)
    assert not result and result.found and result.score == 0.0
    assert result.value["customer"] == "Ada"
    assert result.errors == (SchemaViolation("/items/0/price", "-1 is less than minimum 0"),)
    assert result.reason == "1 schema violation(s): /items/0/price: -1 is less than minimum 0"
    fixed = check_json(reply.replace("-1", "1"), ORDER_SCHEMA)
    assert fixed and fixed.score == 1.0 and fixed.reason == "valid JSON matching the schema"


def test_check_json_without_json():
    result = check_json("I cannot produce that.")
    assert not result and not result.found and result.value is None
    assert result.reason.startswith("no JSON value found")


def test_check_json_only():
    assert check_json('  {"a": 1}\n', json_only=True)
    fenced = check_json('```json\n{"a": 1}\n```', json_only=True)
    assert not fenced and fenced.reason == "the reply is not only JSON: the JSON is inside a code fence"
    prose = check_json('Sure! {"a": 1}', json_only=True)
    assert not prose and prose.reason == "the reply is not only JSON: the JSON is with text around it"


def test_check_json_rejects_a_bad_schema_even_without_json():
    with pytest.raises(ValueError, match="unsupported keyword"):
        check_json("no json", {"oneOf": []})
