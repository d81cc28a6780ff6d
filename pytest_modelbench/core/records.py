"""Run records: one benchmark run of one task against one model.

A record is what crosses the process boundary under pytest-xdist (as a dict of builtins on
the test report), what the JSON results file stores under ``runs``, and what every summary,
comparison and ranking is computed from.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

OUTCOMES = ("passed", "failed", "error", "skipped")


@dataclasses.dataclass(frozen=True, slots=True)
class RunRecord:
    """One run of one task against one model.

    ``weight`` is the marker's weight (not yet multiplied by the difficulty multiplier).
    ``quality`` is in [0, 1]; None for ``error`` and ``skipped`` runs.
    ``latency_ms`` and the token counts are summed over the run's model calls; a token count
    is None when any call's count was unknown. ``ttft_ms`` is the first call's.
    ``error`` holds the reason of an ``error`` outcome, ``detail`` the short reason of a miss.
    ``cost_usd`` is what the run's calls cost (None when a price or a token count is unknown);
    ``cached`` is true when every call of the run was served from the response store;
    ``retries`` counts the failed attempts its calls retried before they were answered.
    ``judge_*`` are the run's LLM-judge calls, kept apart from the judged model's figures.
    ``cpu_s`` is the CPU time the benchmarking process spent during the run, ``peak_rss_mb``
    that process's peak resident memory when the run ended; ``load`` the load profiles the run
    measured (``model.load``), one dict per concurrency level. ``isolation`` says where the
    generated code the run's scorers executed ran: ``"bwrap"`` (bubblewrap sandbox),
    ``"rlimits"`` (resource limits only; the weaker wins when a run had both), None when the
    run executed none.
    ``prompt`` and ``reply`` are the last answered call's last user message and reply text,
    API keys redacted, cut at the session's text limit (None when not kept or no call answered).
    """

    task: str
    model: str
    run: int
    category: str
    difficulty: str
    weight: float
    outcome: str
    quality: float | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    calls: int = 0
    error: str | None = None
    detail: str | None = None
    group: str | None = None
    cost_usd: float | None = None
    cached: bool = False
    retries: int = 0
    judge_calls: int = 0
    judge_latency_ms: float | None = None
    judge_cost_usd: float | None = None
    cpu_s: float | None = None
    peak_rss_mb: float | None = None
    load: list[dict[str, Any]] | None = None
    isolation: str | None = None
    prompt: str | None = None
    reply: str | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome {self.outcome!r} is not one of: {', '.join(OUTCOMES)}")

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        return cls(**{key: value for key, value in data.items() if key in _FIELD_SET})


_FIELDS = tuple(field.name for field in dataclasses.fields(RunRecord))
_FIELD_SET = frozenset(_FIELDS)


def sort_key(record: RunRecord) -> tuple[str, str, int]:
    """Deterministic order of records: model, task, run."""
    return (record.model, record.task, record.run)


def check_quality(value: Any) -> float:
    """Validate a recorded quality: a real number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"record_quality() takes a number in [0, 1], got {value!r}")
    quality = float(value)
    if math.isnan(quality) or not 0.0 <= quality <= 1.0:
        raise ValueError(f"record_quality() takes a number in [0, 1], got {value!r}")
    return quality


def records_from_dicts(rows: Iterable[Mapping[str, Any]]) -> list[RunRecord]:
    return [RunRecord.from_dict(row) for row in rows]


# --------------------------------------------------------------------------- validation

#: Largest token count a record may hold (the providers' bound).
MAX_TOKEN_COUNT = 10**12


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _number(value: Any, minimum: float | None = 0.0, maximum: float | None = None) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        number = float(value)
    except OverflowError:
        return False
    return (math.isfinite(number) and (minimum is None or number >= minimum)
            and (maximum is None or number <= maximum))


def _whole(value: Any, minimum: int, maximum: int | None = None) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool) and value >= minimum
            and (maximum is None or value <= maximum))


def _or_null(check: Any) -> Any:
    return lambda value: value is None or check(value)


def _field_rules() -> dict[str, tuple[Any, str]]:
    from .config import DIFFICULTIES

    return {
        "task": (_text, "a non-empty string"),
        "model": (_text, "a non-empty string"),
        "run": (lambda value: _whole(value, 1), "a whole number >= 1"),
        "category": (_text, "a non-empty string"),
        "difficulty": (lambda value: value in DIFFICULTIES, f"one of: {', '.join(DIFFICULTIES)}"),
        "weight": (lambda value: _number(value, 0.0), "a number >= 0"),
        "outcome": (lambda value: value in OUTCOMES, f"one of: {', '.join(OUTCOMES)}"),
        "quality": (_or_null(lambda value: _number(value, 0.0, 1.0)), "a number from 0 to 1, or null"),
        "latency_ms": (_or_null(_number), "a number >= 0, or null"),
        "ttft_ms": (_or_null(_number), "a number >= 0, or null"),
        "input_tokens": (_or_null(lambda value: _whole(value, 0, MAX_TOKEN_COUNT)), "a whole number from 0 to 10^12, or null"),
        "output_tokens": (_or_null(lambda value: _whole(value, 0, MAX_TOKEN_COUNT)), "a whole number from 0 to 10^12, or null"),
        "calls": (lambda value: _whole(value, 0), "a whole number >= 0"),
        "error": (_or_null(lambda value: isinstance(value, str)), "a string or null"),
        "detail": (_or_null(lambda value: isinstance(value, str)), "a string or null"),
        "group": (_or_null(lambda value: isinstance(value, str)), "a string or null"),
        "cost_usd": (_or_null(_number), "a number >= 0, or null"),
        "cached": (lambda value: isinstance(value, bool), "true or false"),
        "retries": (lambda value: _whole(value, 0), "a whole number >= 0"),
        "judge_calls": (lambda value: _whole(value, 0), "a whole number >= 0"),
        "judge_latency_ms": (_or_null(_number), "a number >= 0, or null"),
        "judge_cost_usd": (_or_null(_number), "a number >= 0, or null"),
        "cpu_s": (_or_null(_number), "a number >= 0, or null"),
        "peak_rss_mb": (_or_null(_number), "a number >= 0, or null"),
        "load": (_or_null(lambda value: isinstance(value, list) and all(isinstance(item, dict) for item in value)),
                 "a list of objects, or null"),
        "isolation": (_or_null(lambda value: value in ("bwrap", "rlimits")), "bwrap, rlimits or null"),
        "prompt": (_or_null(lambda value: isinstance(value, str)), "a string or null"),
        "reply": (_or_null(lambda value: isinstance(value, str)), "a string or null"),
    }


REQUIRED_FIELDS = ("task", "model", "run", "category", "difficulty", "weight", "outcome")


def run_problems(row: Mapping[str, Any]) -> list[str]:
    """What is wrong with one run of a results file: ``field 'quality' is 'abc'; it must be a
    number from 0 to 1, or null``, one entry per bad field ([] when it is a valid run)."""
    if not isinstance(row, Mapping):
        return [f"is {_shown(row)}, not an object"]
    problems = []
    for name, (valid, allowed) in _field_rules().items():
        if name not in row:
            if name in REQUIRED_FIELDS:
                problems.append(f"field {name!r} is missing")
        elif not valid(row[name]):
            problems.append(f"field {name!r} is {_shown(row[name])}; it must be {allowed}")
    return problems


def _shown(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**15:
        return f"an integer of {len(str(abs(value)))} digits"
    text = "null" if value is None else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
