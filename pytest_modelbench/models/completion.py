"""The result of one model call."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class Completion:
    """One model reply with its measurements.

    ``input_tokens`` and ``output_tokens`` are what the server reported, or None when it did not
    say: they are never estimated and never silently 0. ``latency_ms`` is request sent to last
    byte, ``ttft_ms`` request sent to the first non-empty content (None when the call did not
    stream or produced no content); both are measured with ``time.perf_counter``.
    ``raw`` is the provider's final response payload (a dict of builtins) for inspection.
    ``cached_input_tokens`` (the part of ``input_tokens`` read from a prompt cache) and
    ``reasoning_tokens`` (the part of ``output_tokens`` spent thinking) are None when not
    reported; cost analysis prices them when they are. ``notes`` say what in the response
    could not be used (e.g. a token count that is not one, which is then None).
    """

    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    finish_reason: str | None = None
    raw: Any = None
    cached_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.text
