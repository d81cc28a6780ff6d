"""The JSON results file: building, writing atomically, reading back.

Schema (documented in docs/results.md)::

    {"schema_version": 1, "meta": {...}, "models": {name: {...}}, "runs": [{...}, ...]}
"""

from __future__ import annotations

import json
import platform
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._exceptions import ConfigError
from .files import write_text_atomic
from .records import RunRecord, records_from_dicts, run_problems

SCHEMA_VERSION = 1


def git_commit(directory: Path) -> str | None:
    """The checked-out commit of ``directory``'s repository, or None outside git."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and commit else None


def build_meta(*, plugin_version: str, pytest_version: str, started: str, finished: str,
               rootdir: Path, models: Sequence[Mapping[str, Any]],
               settings: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "plugin": "pytest-modelbench",
        "plugin_version": plugin_version,
        "python_version": platform.python_version(),
        "pytest_version": pytest_version,
        "started_at": started,
        "finished_at": finished,
        "git_commit": git_commit(rootdir),
        "models": list(models),
        "settings": dict(settings),
    }


def build_document(meta: Mapping[str, Any], models: Mapping[str, Any],
                   records: Sequence[RunRecord], **extra: Any) -> dict[str, Any]:
    """The results document; ``runs`` stays the list of records, encoded as it is written."""
    document = {
        "schema_version": SCHEMA_VERSION,
        "meta": dict(meta),
        "models": dict(models),
        **extra,
        "runs": records,
    }
    return document


def plain_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document as the results file holds it: builtins only (``runs`` as dicts, tuples as
    lists), what ``json.load`` of the written file gives back. The reports render this, so a
    report written by a session equals the report of its saved results file."""
    runs = document.get("runs")
    rest = {key: value for key, value in document.items() if key != "runs"}
    plain = json.loads(json.dumps(rest, allow_nan=False))
    if runs is not None:
        plain["runs"] = [run.to_dict() if isinstance(run, RunRecord) else json.loads(json.dumps(run, allow_nan=False))
                         for run in runs]
    return {key: plain[key] for key in document}


def _write_document(stream: Any, document: Mapping[str, Any]) -> None:
    """Indented JSON, except that each element of a top-level ``runs`` list is one compact line.

    Readable and diff-friendly, and fast for a million runs (the C encoder does the lines).
    """
    compact = json.JSONEncoder(allow_nan=False, separators=(", ", ": ")).encode
    stream.write("{")
    for number, (key, value) in enumerate(document.items()):
        stream.write(",\n  " if number else "\n  ")
        stream.write(json.dumps(key) + ": ")
        if key == "runs" and isinstance(value, list):
            if not value:
                stream.write("[]")
                continue
            stream.write("[\n    ")
            for start in range(0, len(value), 10_000):  # bounded memory for a million runs
                if start:
                    stream.write(",\n    ")
                batch = value[start : start + 10_000]
                stream.write(",\n    ".join(
                    compact(run.to_dict() if isinstance(run, RunRecord) else run) for run in batch
                ))
            stream.write("\n  ]")
        else:
            stream.write(json.dumps(value, indent=2, allow_nan=False).replace("\n", "\n  "))
    stream.write("\n}\n")


def write_json_atomic(path: Path, document: Mapping[str, Any]) -> None:
    """Write ``document`` to ``path`` atomically (core/files.py: a regular file only, a
    symlink's target, 0644 for a new file)."""
    write_text_atomic(path, lambda stream: _write_document(stream, document), "results file")


def read_results(path: Path) -> tuple[dict[str, Any], list[RunRecord]]:
    """Read a results file; ConfigError naming the file when it is missing or malformed."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"results file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"results file {str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("schema_version") != SCHEMA_VERSION:
        found = document.get("schema_version") if isinstance(document, dict) else None
        raise ConfigError(
            f"results file {str(path)!r} has schema_version {found!r}; this plugin reads {SCHEMA_VERSION}"
        )
    runs = document.get("runs")
    if not isinstance(runs, list):
        raise ConfigError(f"results file {str(path)!r} has no valid 'runs' list")
    problems = [(index, problem) for index, run in enumerate(runs) for problem in run_problems(run)]
    if problems:
        shown = [f"run {index}{_task_of(runs[index])}: {problem}" for index, problem in problems[:_PROBLEMS_SHOWN]]
        more = len(problems) - len(shown)
        raise ConfigError(
            f"results file {str(path)!r} has {len(problems)} invalid field{'s' if len(problems) != 1 else ''} "
            f"in its runs: " + "; ".join(shown) + (f"; and {more} more" if more else "")
        )
    try:
        records = records_from_dicts(runs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"results file {str(path)!r} has a malformed run: {exc}") from None
    return document, records


_PROBLEMS_SHOWN = 5


def _task_of(run: Any) -> str:
    task = run.get("task") if isinstance(run, dict) else None
    return f" (task {task!r})" if isinstance(task, str) and task else ""
