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
    ``cached`` is true when every call of the run was served from the response store.
    ``judge_*`` are the run's LLM-judge calls, kept apart from the judged model's figures.
    ``cpu_s`` is the CPU time the benchmarking process spent during the run, ``peak_rss_mb``
    that process's peak resident memory when the run ended; ``load`` the load profiles the run
    measured (``model.load``), one dict per concurrency level. ``isolation`` says where the
    generated code the run's scorers executed ran: ``"bwrap"`` (bubblewrap sandbox),
    ``"rlimits"`` (resource limits only; the weaker wins when a run had both), None when the
    run executed none.
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
    judge_calls: int = 0
    judge_latency_ms: float | None = None
    judge_cost_usd: float | None = None
    cpu_s: float | None = None
    peak_rss_mb: float | None = None
    load: list[dict[str, Any]] | None = None
    isolation: str | None = None

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
