"""Running generated SQL against an in-memory SQLite database and comparing result sets."""

from __future__ import annotations

import dataclasses
import math
import sqlite3
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from ..._exceptions import ModelbenchError
from ._result import shorten

Row = tuple[Any, ...]
_MAX_ROWS = 100_000
_GREEDY_MATCH_LIMIT = 2_000


@dataclasses.dataclass(frozen=True, slots=True)
class QueryResult:
    """The columns and rows a query returned."""

    columns: tuple[str, ...]
    rows: tuple[Row, ...]


class SQLExecutionError(ModelbenchError):
    """A query failed: a SQLite error, the read-only guard or the time limit."""


@dataclasses.dataclass(frozen=True, slots=True)
class SQLDatabase:
    """An in-memory SQLite database a task builds for each query, so queries never see each
    other's changes.

    ``schema`` is a script of CREATE statements, ``rows`` maps a table name to its rows (each a
    sequence of values in column order, or a mapping of column name to value), ``setup`` a
    further script run last (inserts, views). Give ``schema`` and ``rows``, or ``setup``, or all.
    """

    schema: str = ""
    rows: Mapping[str, Sequence[Sequence[Any] | Mapping[str, Any]]] = dataclasses.field(default_factory=dict)
    setup: str = ""

    def __post_init__(self) -> None:
        if not self.schema.strip() and not self.setup.strip():
            raise ValueError("SQLDatabase needs a schema or a setup script")
        # Fail now, with the task's own mistake named, rather than on the first query.
        self.connect().close()

    def connect(self) -> sqlite3.Connection:
        """A new in-memory connection holding the task's tables, set read-only."""
        connection = sqlite3.connect(":memory:")
        try:
            connection.executescript(self.schema)
            for table, table_rows in self.rows.items():
                _insert(connection, table, table_rows)
            if self.setup:
                connection.executescript(self.setup)
            connection.commit()
        except sqlite3.Error as exc:
            connection.close()
            raise ValueError(f"the task's database could not be built: {exc}") from exc
        connection.execute("PRAGMA query_only = ON")
        return connection

    def run(self, query: str, *, timeout_s: float = 5.0) -> QueryResult:
        """Run one read-only query on a fresh copy; raises :class:`SQLExecutionError`."""
        if not isinstance(query, str):
            raise TypeError(f"a query is a string, got {type(query).__name__}")
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not timeout_s > 0:
            raise ValueError(f"timeout_s {timeout_s!r} is not allowed; use a number > 0")
        connection = self.connect()
        deadline = time.perf_counter() + timeout_s
        connection.set_progress_handler(lambda: int(time.perf_counter() > deadline), 1000)
        try:
            cursor = connection.execute(query)
            rows = cursor.fetchmany(_MAX_ROWS + 1)
            if len(rows) > _MAX_ROWS:
                raise SQLExecutionError(f"the query returned more than {_MAX_ROWS} rows")
            columns = tuple(description[0] for description in cursor.description or ())
            return QueryResult(columns, tuple(tuple(row) for row in rows))
        except sqlite3.Error as exc:
            if time.perf_counter() > deadline:
                raise SQLExecutionError(f"the query ran longer than {timeout_s:g} s") from exc
            raise SQLExecutionError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            connection.close()


def _insert(connection: sqlite3.Connection, table: str, table_rows: Sequence[Any]) -> None:
    quoted = '"' + table.replace('"', '""') + '"'
    for index, row in enumerate(table_rows):
        if isinstance(row, Mapping):
            names = ", ".join('"' + str(name).replace('"', '""') + '"' for name in row)
            marks = ", ".join("?" for _ in row)
            connection.execute(f"INSERT INTO {quoted} ({names}) VALUES ({marks})", tuple(row.values()))
        elif isinstance(row, Sequence) and not isinstance(row, (str, bytes)):
            marks = ", ".join("?" for _ in row)
            connection.execute(f"INSERT INTO {quoted} VALUES ({marks})", tuple(row))
        else:
            raise ValueError(
                f"row {index} of table {table!r} is {row!r}; give a sequence or a mapping of values"
            )


@dataclasses.dataclass(frozen=True, slots=True)
class SQLResult:
    """The outcome of :func:`check_sql`.

    ``rows``/``columns`` are what the generated query returned (None when it failed),
    ``expected_rows`` what it should return, ``error`` the query's error. Truthy exactly when
    ``passed``.
    """

    passed: bool
    reason: str
    rows: tuple[Row, ...] | None
    expected_rows: tuple[Row, ...]
    columns: tuple[str, ...] | None = None
    error: str | None = None

    @property
    def score(self) -> float:
        return 1.0 if self.passed else 0.0

    def __bool__(self) -> bool:
        return self.passed


def _values_equal(left: Any, right: Any, rel_tol: float, abs_tol: float) -> bool:
    left_number = isinstance(left, (int, float)) and not isinstance(left, bool)
    right_number = isinstance(right, (int, float)) and not isinstance(right, bool)
    if left_number and right_number:
        if isinstance(left, int) and isinstance(right, int):
            return left == right
        return math.isclose(left, right, rel_tol=rel_tol, abs_tol=abs_tol)
    return type(left) is type(right) and left == right


def _rows_equal(left: Row, right: Row, rel_tol: float, abs_tol: float) -> bool:
    return len(left) == len(right) and all(_values_equal(a, b, rel_tol, abs_tol) for a, b in zip(left, right))


def _sort_key(row: Row) -> tuple[Any, ...]:
    key: list[Any] = []
    for value in row:
        if value is None:
            key.append((0, 0))
        elif isinstance(value, (int, float)):
            key.append((1, float(value)))
        elif isinstance(value, str):
            key.append((2, value))
        else:
            key.append((3, bytes(value)))
    return tuple(key)


def _unmatched(
    actual: Sequence[Row], expected: Sequence[Row], rel_tol: float, abs_tol: float
) -> tuple[list[Row], list[Row]]:
    """Rows of ``expected`` without a partner in ``actual`` and the reverse (as multisets)."""
    if Counter(actual) == Counter(expected):
        return [], []
    sorted_actual = sorted(actual, key=_sort_key)
    sorted_expected = sorted(expected, key=_sort_key)
    if len(actual) == len(expected) and all(
        _rows_equal(a, b, rel_tol, abs_tol) for a, b in zip(sorted_actual, sorted_expected)
    ):
        return [], []
    if len(actual) > _GREEDY_MATCH_LIMIT or len(expected) > _GREEDY_MATCH_LIMIT:
        exact_missing = Counter(sorted_expected) - Counter(sorted_actual)
        exact_extra = Counter(sorted_actual) - Counter(sorted_expected)
        return list(exact_missing.elements()), list(exact_extra.elements())
    remaining = list(sorted_actual)
    missing: list[Row] = []
    for row in sorted_expected:
        for index, candidate in enumerate(remaining):
            if _rows_equal(candidate, row, rel_tol, abs_tol):
                del remaining[index]
                break
        else:
            missing.append(row)
    return missing, remaining


def _row_text(row: Row) -> str:
    return shorten(repr(row), 60)


def check_sql(
    query: str,
    database: SQLDatabase,
    *,
    expected_query: str | None = None,
    expected_rows: Sequence[Sequence[Any]] | None = None,
    ordered: bool = False,
    rel_tol: float = 1e-6,
    abs_tol: float = 1e-9,
    timeout_s: float = 5.0,
) -> SQLResult:
    """Whether ``query`` returns the same result set as ``expected_query`` (or ``expected_rows``).

    Each query runs on a fresh read-only copy of ``database``. Rows are compared as multisets
    (duplicates count, order ignored) unless ``ordered=True``; values positionally, column
    names ignored; integers exactly, floats with ``math.isclose(rel_tol, abs_tol)``, text and
    blobs exactly, NULL only with NULL. A failing generated query is a failed check with the
    error; a failing ``expected_query`` is the task's mistake and raises ValueError.
    """
    if (expected_query is None) == (expected_rows is None):
        raise ValueError("check_sql() takes exactly one of expected_query= or expected_rows=")
    for name, tolerance in (("rel_tol", rel_tol), ("abs_tol", abs_tol)):
        if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
            raise ValueError(f"{name} {tolerance!r} is not allowed; use a number >= 0")
    if expected_query is not None:
        try:
            expected = database.run(expected_query, timeout_s=timeout_s).rows
        except SQLExecutionError as exc:
            raise ValueError(f"expected_query {shorten(expected_query)!r} fails: {exc}") from exc
    else:
        expected = tuple(tuple(row) for row in expected_rows or ())
    try:
        result = database.run(query, timeout_s=timeout_s)
    except SQLExecutionError as exc:
        return SQLResult(False, f"the query failed: {exc}", None, expected, None, str(exc))
    actual = result.rows
    widths = {len(row) for row in actual} | {len(row) for row in expected}
    if actual and expected and len(widths) > 1:
        return SQLResult(False, f"expected {len(expected[0])} columns, got {len(actual[0])}",
                         actual, expected, result.columns)
    if len(actual) != len(expected) and not ordered:
        missing, extra = _unmatched(actual, expected, rel_tol, abs_tol)
        detail = _difference(missing, extra)
        return SQLResult(False, f"expected {len(expected)} rows, got {len(actual)}{detail}",
                         actual, expected, result.columns)
    if ordered:
        if len(actual) != len(expected):
            reason = f"expected {len(expected)} rows, got {len(actual)}"
            return SQLResult(False, reason, actual, expected, result.columns)
        for index, (got, wanted) in enumerate(zip(actual, expected)):
            if not _rows_equal(got, wanted, rel_tol, abs_tol):
                return SQLResult(False, f"row {index} is {_row_text(got)}, expected {_row_text(wanted)}",
                                 actual, expected, result.columns)
        return SQLResult(True, f"all {len(actual)} rows match in order", actual, expected, result.columns)
    missing, extra = _unmatched(actual, expected, rel_tol, abs_tol)
    if missing or extra:
        reason = f"the rows differ{_difference(missing, extra)}"
        return SQLResult(False, reason, actual, expected, result.columns)
    return SQLResult(True, f"all {len(actual)} rows match", actual, expected, result.columns)


def _difference(missing: list[Row], extra: list[Row]) -> str:
    parts = []
    if missing:
        parts.append(f"{len(missing)} expected row(s) missing, e.g. {_row_text(missing[0])}")
    if extra:
        parts.append(f"{len(extra)} unexpected row(s), e.g. {_row_text(extra[0])}")
    return ": " + "; ".join(parts) if parts else ""
