"""Dataset-driven benchmark suites: load tasks from JSONL or CSV files, one line of code.

::

    from pytest_modelbench.design.datasets import tasks_from_jsonl

    @pytest.mark.parametrize("task", tasks_from_jsonl("data/qa.jsonl", "id"), ids=str)
    def test_qa(task, model):
        reply = model.complete(task["question"])
        ...

Each :class:`Task` has a stable, readable id (from ``id_field``, else ``line<N>``) that is
sanitised for test ids and unique within the file; ``ids=str`` (or ``ids=task_id``) makes
pytest use it. Bad rows raise :class:`DatasetError` naming the file, the line and the field.
This module does not import pytest.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from .._exceptions import ModelbenchError

__all__ = [
    "DatasetError",
    "Task",
    "TaskList",
    "sanitize_id",
    "task_id",
    "tasks_from_csv",
    "tasks_from_jsonl",
    "tasks_from_rows",
]

_UNSAFE_ID_CHARS_RE = re.compile(r"[^\w.\-]+")


class DatasetError(ModelbenchError, ValueError):
    """A dataset file or row cannot be used; the message names the file, line and field."""


@dataclasses.dataclass(frozen=True, slots=True)
class Task:
    """One benchmark task: its ``id``, its fields (``data``) and where it came from.

    ``task["question"]`` reads a field; ``str(task)`` is the id, so ``ids=str`` in
    ``pytest.mark.parametrize`` names the test after the task.
    """

    id: str
    data: dict[str, Any]
    source: str
    line: int

    def __getitem__(self, field: str) -> Any:
        try:
            return self.data[field]
        except KeyError:
            raise KeyError(
                f"task {self.id!r} ({self.source}, line {self.line}) has no field {field!r}; "
                f"it has: {', '.join(self.data) or 'no fields'}"
            ) from None

    def get(self, field: str, default: Any = None) -> Any:
        return self.data.get(field, default)

    def __contains__(self, field: object) -> bool:
        return field in self.data

    def __str__(self) -> str:
        return self.id


class TaskList(list[Task]):
    """A list of tasks with their ids in ``.ids`` (for ``parametrize(..., ids=tasks.ids)``)."""

    @property
    def ids(self) -> list[str]:
        return [task.id for task in self]

    def by_id(self, wanted: str) -> Task:
        """The task with id ``wanted``; KeyError naming a few known ids otherwise."""
        for task in self:
            if task.id == wanted:
                return task
        known = ", ".join(self.ids[:5]) + (", ..." if len(self) > 5 else "")
        raise KeyError(f"no task with id {wanted!r}; ids are: {known}")


def task_id(task: Task) -> str:
    """The id of ``task``: pass as ``ids=task_id`` to ``pytest.mark.parametrize``."""
    return task.id


def sanitize_id(raw: str) -> str:
    """A test-id-safe form of ``raw``: runs of characters other than letters, digits, ``_``,
    ``.`` and ``-`` (spaces, brackets, slashes, colons) become one ``_``."""
    cleaned = _UNSAFE_ID_CHARS_RE.sub("_", raw.strip())
    return cleaned


def _check_options(id_field: str | None, fields: Sequence[str] | None, limit: int | None) -> tuple[str, ...]:
    if id_field is not None and (not isinstance(id_field, str) or not id_field):
        raise ValueError(f"id_field {id_field!r} is not allowed; give a field name or None")
    if isinstance(fields, str):
        raise ValueError(f"fields {fields!r} must be a list of field names, not one string")
    required = tuple(fields or ())
    if not all(isinstance(name, str) and name for name in required):
        raise ValueError(f"fields {fields!r} must be a list of non-empty field names")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit {limit!r} is not allowed; use a whole number >= 1 or None")
    return required


def _build(
    rows: Iterable[tuple[int, Any]],
    source: str,
    id_field: str | None,
    required: tuple[str, ...],
    limit: int | None,
) -> TaskList:
    tasks = TaskList()
    seen: dict[str, tuple[int, str]] = {}
    for line, row in rows:
        where = f"{source}, line {line}"
        if not isinstance(row, Mapping):
            raise DatasetError(
                f"{where}: expected an object of fields, got {type(row).__name__} {_short(row)}"
            )
        for name in required:
            if name not in row:
                raise DatasetError(
                    f"{where}: missing required field {name!r}; the row has: {_field_names(row)}"
                )
        if id_field is None:
            raw_id = f"line{line}"
        else:
            if id_field not in row:
                raise DatasetError(
                    f"{where}: missing id field {id_field!r}; the row has: {_field_names(row)}"
                )
            value = row[id_field]
            if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value).strip() == "":
                raise DatasetError(
                    f"{where}: id field {id_field!r} is {value!r}; an id is a non-empty string or an integer"
                )
            raw_id = str(value)
        identifier = sanitize_id(raw_id)
        if identifier in seen:
            first_line, first_raw = seen[identifier]
            raise DatasetError(
                f"{source}: duplicate task id {identifier!r} on line {first_line} ({first_raw!r}) and "
                f"line {line} ({raw_id!r})"
            )
        seen[identifier] = (line, raw_id)
        tasks.append(Task(identifier, dict(row), source, line))
        if limit is not None and len(tasks) >= limit:
            break  # read no further: later lines are neither parsed nor checked
    return tasks


def _field_names(row: Mapping[str, Any]) -> str:
    return ", ".join(map(str, row)) or "no fields"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "\u2026"


def _open_text(path: str | os.PathLike[str], encoding: str) -> io.TextIOBase:
    name = os.fspath(path)
    try:
        if name.endswith(".gz"):
            return gzip.open(name, "rt", encoding=encoding, newline="")  # type: ignore[return-value]
        return open(name, encoding=encoding, newline="")  # type: ignore[return-value]
    except OSError as exc:
        raise DatasetError(f"cannot open dataset {name}: {exc.strerror or exc}") from exc


def _jsonl_rows(handle: io.TextIOBase, source: str) -> Iterator[tuple[int, Any]]:
    try:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as exc:
                message = f"{source}, line {number}: invalid JSON ({exc.msg} at column {exc.colno})"
                raise DatasetError(message) from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{source}: not valid text in the given encoding ({exc.reason})") from exc


def tasks_from_jsonl(
    path: str | os.PathLike[str],
    id_field: str | None = None,
    *,
    fields: Sequence[str] | None = None,
    limit: int | None = None,
    encoding: str = "utf-8",
) -> TaskList:
    """Tasks from a JSON Lines file (one JSON object per line; ``.gz`` files are read
    compressed; blank lines are skipped).

    ``id_field`` names the field holding each task's id; without it ids are ``line<N>`` (the
    1-based line number). Ids are sanitised (:func:`sanitize_id`) and must be unique.
    ``fields`` lists fields every row must have; ``limit`` keeps the first N tasks (and reads
    no further). Raises :class:`DatasetError` naming the file, line and field for invalid JSON,
    a row that is not an object, a missing id or required field, or a duplicate id.
    """
    required = _check_options(id_field, fields, limit)
    source = os.fspath(path)
    with _open_text(path, encoding) as handle:
        return _build(_jsonl_rows(handle, source), source, id_field, required, limit)


def _csv_rows(handle: io.TextIOBase, source: str, delimiter: str) -> Iterator[tuple[int, Any]]:
    reader = csv.reader(handle, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return
    except (csv.Error, UnicodeDecodeError) as exc:
        raise DatasetError(f"{source}, line 1: cannot read the header ({exc})") from exc
    if len(set(header)) != len(header) or any(not name.strip() for name in header):
        raise DatasetError(f"{source}, line 1: the header {header!r} has empty or repeated column names")
    while True:
        start_line = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DatasetError(f"{source}, line {start_line}: cannot parse the row ({exc})") from exc
        if not values or all(not value.strip() for value in values):
            continue
        if len(values) != len(header):
            raise DatasetError(
                f"{source}, line {start_line}: has {len(values)} values, the header has {len(header)} columns"
            )
        yield start_line, dict(zip(header, values))


def tasks_from_csv(
    path: str | os.PathLike[str],
    id_field: str | None = None,
    *,
    fields: Sequence[str] | None = None,
    limit: int | None = None,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> TaskList:
    """Tasks from a CSV file with a header row (values are strings; ``.gz`` read compressed).

    Like :func:`tasks_from_jsonl`; ``line<N>`` is the line where the row starts. A row with
    more or fewer values than the header has columns is an error.
    """
    required = _check_options(id_field, fields, limit)
    source = os.fspath(path)
    with _open_text(path, encoding) as handle:
        return _build(_csv_rows(handle, source, delimiter), source, id_field, required, limit)


def tasks_from_rows(
    rows: Iterable[Mapping[str, Any]],
    id_field: str | None = None,
    *,
    fields: Sequence[str] | None = None,
    limit: int | None = None,
    source: str = "<rows>",
) -> TaskList:
    """Tasks from rows already in memory (e.g. built in a conftest); ids default to
    ``line<N>`` with N the 1-based position."""
    required = _check_options(id_field, fields, limit)
    return _build(enumerate(rows, start=1), source, id_field, required, limit)
