"""JSON in model replies: finding it (whole reply, fenced block or first balanced value) and
validating it against a subset of JSON Schema, with JSON-pointer locations in the messages."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from ._result import shorten

_FENCE_RE = re.compile(r"```[ \t]*(?P<language>[\w+.-]*)[^\n]*\n(?P<body>.*?)```", re.DOTALL)
_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples", "format",
     "readOnly", "writeOnly", "deprecated"}
)
_KEYWORDS = frozenset(
    {"type", "enum", "const", "properties", "required", "additionalProperties", "items",
     "minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum",
     "exclusiveMaximum"}
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


@dataclasses.dataclass(frozen=True, slots=True)
class SchemaViolation:
    """One place where a value breaks its schema: ``path`` is a JSON pointer (RFC 6901) to
    the offending value, ``""`` for the whole document."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(root)'}: {self.message}"


@dataclasses.dataclass(frozen=True, slots=True)
class JSONResult:
    """The outcome of :func:`check_json`.

    ``value`` is the parsed JSON (None when none was found — check ``found``), ``errors`` the
    schema violations. Truthy exactly when ``passed``.
    """

    passed: bool
    score: float
    reason: str
    found: bool
    value: Any = None
    errors: tuple[SchemaViolation, ...] = ()

    def __bool__(self) -> bool:
        return self.passed


def _decode_whole(text: str) -> Any:
    value, end = _DECODER.raw_decode(text)
    if text[end:].strip():
        raise json.JSONDecodeError("extra data after the JSON value", text, end)
    return value


def _locate(text: str) -> tuple[Any, str]:
    """The JSON value in ``text`` and where it was found; ValueError when there is none."""
    stripped = text.strip()
    first_error: str | None = None
    try:
        return _decode_whole(stripped), "whole"
    except ValueError as exc:
        first_error = str(exc)
    except RecursionError:
        first_error = "nested too deeply"
    fences = sorted(
        _FENCE_RE.finditer(text), key=lambda match: match["language"].lower() not in ("json", "")
    )
    for fence in fences:
        try:
            return _decode_whole(fence["body"].strip()), "fence"
        except (ValueError, RecursionError):
            continue
    for match in re.finditer(r"[\[{]", text):
        try:
            value, _end = _DECODER.raw_decode(text, match.start())
        except (ValueError, RecursionError):
            continue
        return value, "embedded"
    raise ValueError(f"no JSON value found in {shorten(text)!r} ({first_error})")


def extract_json(text: str) -> Any:
    """The JSON value in a model reply.

    Tried in order: the whole reply (outer whitespace ignored); the body of each fenced code
    block, ```` ```json ```` or untagged ones first; the first ``{`` or ``[`` in the text at
    which a complete JSON value starts (balanced brackets, strings and escapes respected). The
    constants NaN and Infinity are not JSON and are rejected. Raises ValueError, naming the
    reply, when no JSON value is found; note that ``null`` is a valid result.
    """
    if not isinstance(text, str):
        raise TypeError(f"extract_json() takes a string, got {type(text).__name__}")
    return _locate(text)[0]


# --- schema ---------------------------------------------------------------------------------

def _pointer(path: str, key: str | int) -> str:
    return path + "/" + str(key).replace("~", "~0").replace("/", "~1")


def _check_schema(schema: Any, at: str) -> None:
    """Reject schemas outside the supported subset before validating anything."""
    if isinstance(schema, bool):
        return
    where = f"schema at {at or '(root)'}"
    if not isinstance(schema, Mapping):
        raise ValueError(f"{where} must be an object or a boolean, got {schema!r}")
    unknown = sorted(set(schema) - _KEYWORDS - _ANNOTATIONS)
    if unknown:
        raise ValueError(
            f"{where} uses unsupported keyword(s) {', '.join(unknown)}; "
            f"supported: {', '.join(sorted(_KEYWORDS))}"
        )
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not names or any(name not in _TYPES for name in names):
            raise ValueError(f"{where}: type {schema['type']!r} is not one of: {', '.join(_TYPES)}")
    if "enum" in schema and not isinstance(schema["enum"], list):
        raise ValueError(f"{where}: enum must be a list, got {schema['enum']!r}")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
        raise ValueError(f"{where}: required must be a list of names, got {required!r}")
    for keyword in ("minItems", "maxItems", "minLength", "maxLength"):
        bound = schema.get(keyword, 0)
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or bound < 0 or bound != int(bound):
            raise ValueError(f"{where}: {keyword} {bound!r} must be a whole number >= 0")
    for keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if keyword in schema and not _is_number(schema[keyword]):
            raise ValueError(f"{where}: {keyword} {schema[keyword]!r} must be a number")
    properties = schema.get("properties", {})
    if not isinstance(properties, Mapping):
        raise ValueError(f"{where}: properties must be an object, got {properties!r}")
    for name, subschema in properties.items():
        _check_schema(subschema, _pointer(at + "/properties", name))
    if "additionalProperties" in schema:
        _check_schema(schema["additionalProperties"], at + "/additionalProperties")
    if "items" in schema:
        if isinstance(schema["items"], list):
            raise ValueError(
                f"{where}: items as a list (tuple validation) is not supported; give one schema for all items"
            )
        _check_schema(schema["items"], at + "/items")


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    raise ValueError(f"{value!r} of type {type(value).__name__} is not a JSON value")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _has_type(value: Any, name: str) -> bool:
    actual = _type_name(value)
    if name == "integer":
        return actual == "integer" or (actual == "number" and math.isfinite(value) and value == int(value))
    if name == "number":
        return actual in ("integer", "number")
    return actual == name


def _json_equal(left: Any, right: Any) -> bool:
    """Equality of JSON values: 1 == 1.0, but true != 1; arrays and objects deeply."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if _is_number(left) and _is_number(right):
        return left == right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_json_equal(a, b) for a, b in zip(left, right))
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(_json_equal(left[key], right[key]) for key in left)
    return type(left) is type(right) and left == right


def _short(value: Any) -> str:
    return shorten(json.dumps(value, ensure_ascii=False, default=repr), 40)


def _validate(value: Any, schema: Any, path: str, errors: list[SchemaViolation]) -> None:
    if schema is True:
        return
    if schema is False:
        errors.append(SchemaViolation(path, "no value is allowed here (schema is false)"))
        return
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_has_type(value, name) for name in names):
            wanted = names[0] if len(names) == 1 else "one of " + ", ".join(names)
            message = f"expected {wanted}, got {_type_name(value)} {_short(value)}"
            errors.append(SchemaViolation(path, message))
            return
    if "enum" in schema and not any(_json_equal(value, option) for option in schema["enum"]):
        options = ", ".join(_short(option) for option in schema["enum"])
        errors.append(SchemaViolation(path, f"{_short(value)} is not one of: {options}"))
    if "const" in schema and not _json_equal(value, schema["const"]):
        errors.append(SchemaViolation(path, f"{_short(value)} is not the required {_short(schema['const'])}"))
    if _is_number(value):
        _validate_number(value, schema, path, errors)
    elif isinstance(value, str):
        length = len(value)
        if "minLength" in schema and length < schema["minLength"]:
            message = f"string of length {length} is shorter than minLength {int(schema['minLength'])}"
            errors.append(SchemaViolation(path, message))
        if "maxLength" in schema and length > schema["maxLength"]:
            message = f"string of length {length} is longer than maxLength {int(schema['maxLength'])}"
            errors.append(SchemaViolation(path, message))
    elif isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            message = f"array of {len(value)} items has fewer than minItems {int(schema['minItems'])}"
            errors.append(SchemaViolation(path, message))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            message = f"array of {len(value)} items has more than maxItems {int(schema['maxItems'])}"
            errors.append(SchemaViolation(path, message))
        if "items" in schema:
            for index, item in enumerate(value):
                _validate(item, schema["items"], _pointer(path, index), errors)
    elif isinstance(value, Mapping):
        _validate_object(value, schema, path, errors)


def _validate_number(
    value: float, schema: Mapping[str, Any], path: str, errors: list[SchemaViolation]
) -> None:
    checks = (
        ("minimum", lambda bound: value >= bound, "less than minimum"),
        ("maximum", lambda bound: value <= bound, "greater than maximum"),
        ("exclusiveMinimum", lambda bound: value > bound, "not greater than exclusiveMinimum"),
        ("exclusiveMaximum", lambda bound: value < bound, "not less than exclusiveMaximum"),
    )
    for keyword, holds, words in checks:
        if keyword in schema and not holds(schema[keyword]):
            errors.append(SchemaViolation(path, f"{value!r} is {words} {schema[keyword]!r}"))


def _validate_object(
    value: Mapping[str, Any], schema: Mapping[str, Any], path: str, errors: list[SchemaViolation]
) -> None:
    properties = schema.get("properties", {})
    for name in schema.get("required", ()):
        if name not in value:
            errors.append(SchemaViolation(path, f"missing required property {name!r}"))
    for name, item in value.items():
        if name in properties:
            _validate(item, properties[name], _pointer(path, name), errors)
        elif "additionalProperties" in schema:
            extra = schema["additionalProperties"]
            if extra is False:
                allowed = ", ".join(properties) or "none"
                errors.append(SchemaViolation(
                    _pointer(path, name), f"property {name!r} is not allowed (allowed: {allowed})"
                ))
            else:
                _validate(item, extra, _pointer(path, name), errors)


def validate_json(value: Any, schema: Mapping[str, Any] | bool) -> list[SchemaViolation]:
    """The violations of ``schema`` by ``value`` (an empty list when it conforms).

    Supported subset of JSON Schema (draft 7 / 2020-12 semantics): ``type`` (a name or a list
    of null, boolean, object, array, number, string, integer — 1.0 counts as an integer),
    ``enum``, ``const``, ``properties``, ``required``, ``additionalProperties`` (false or a
    schema), ``items`` (one schema), ``minItems``/``maxItems``, ``minLength``/``maxLength``
    (in code points), ``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``, and
    the boolean schemas true/false. Keywords apply only to values of their type. Annotations
    (title, description, default, examples, format, $schema, $id, $comment) are ignored; any
    other keyword ($ref, pattern, anyOf, ...) raises ValueError rather than being skipped
    silently.
    """
    _check_schema(schema, "")
    errors: list[SchemaViolation] = []
    _validate(value, schema, "", errors)
    return errors


def check_json(
    text: str, schema: Mapping[str, Any] | bool | None = None, *, json_only: bool = False
) -> JSONResult:
    """Whether a reply holds JSON (see :func:`extract_json`) that conforms to ``schema``.

    With ``json_only=True`` the reply must be nothing but one JSON value (outer whitespace
    allowed): no prose, no code fence.
    """
    if not isinstance(text, str):
        raise TypeError(f"check_json() takes a string, got {type(text).__name__}")
    if schema is not None:
        _check_schema(schema, "")
    try:
        value, where = _locate(text)
    except ValueError as exc:
        return JSONResult(False, 0.0, str(exc), found=False)
    if json_only and where != "whole":
        how = "inside a code fence" if where == "fence" else "with text around it"
        reason = f"the reply is not only JSON: the JSON is {how}"
        return JSONResult(False, 0.0, reason, found=True, value=value)
    errors: tuple[SchemaViolation, ...] = ()
    if schema is not None:
        errors = tuple(validate_json(value, schema))
    if errors:
        shown = "; ".join(str(error) for error in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        reason = f"{len(errors)} schema violation(s): {shown}{more}"
        return JSONResult(False, 0.0, reason, True, value, errors)
    reason = "valid JSON matching the schema" if schema is not None else "valid JSON"
    return JSONResult(True, 1.0, reason, True, value)
