"""The JSON results file: building, writing atomically, reading back.

Schema (documented in docs/results.md)::

    {"schema_version": 1, "meta": {...}, "models": {name: {...}}, "runs": [{...}, ...]}
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._exceptions import ConfigError
from ._records import RunRecord, records_from_dicts

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
    document = {
        "schema_version": SCHEMA_VERSION,
        "meta": dict(meta),
        "models": dict(models),
        **extra,
        "runs": [record.to_dict() for record in records],
    }
    return document


def write_json_atomic(path: Path, document: Mapping[str, Any]) -> None:
    """Write to a temporary file in the same directory, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(document, stream, indent=2, allow_nan=False)
            stream.write("\n")
        os.replace(temp_name, path)
    except BaseException:
        try:
            os.unlink(temp_name)
        except FileNotFoundError:
            pass
        raise


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
    if not isinstance(runs, list) or not all(isinstance(run, dict) for run in runs):
        raise ConfigError(f"results file {str(path)!r} has no valid 'runs' list")
    try:
        records = records_from_dicts(runs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"results file {str(path)!r} has a malformed run: {exc}") from None
    return document, records
