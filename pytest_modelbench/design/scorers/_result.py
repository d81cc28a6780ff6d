"""The result object shared by the pass/fail checks."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class ScoreResult:
    """The outcome of one check.

    ``passed`` says whether the check held, ``score`` is a quality in [0, 1] (1.0 or 0.0 for a
    plain pass/fail check), ``reason`` says in one sentence why it passed or failed. The object
    is truthy exactly when it passed, so ``assert exact_match(reply, "Paris")`` works and
    pytest's failure message shows the reason.
    """

    passed: bool
    score: float
    reason: str

    def __bool__(self) -> bool:
        return self.passed


def pass_fail(passed: bool, reason: str) -> ScoreResult:
    """A pass/fail result whose score is 1.0 or 0.0."""
    return ScoreResult(passed=passed, score=1.0 if passed else 0.0, reason=reason)


def shorten(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters for a message, with an ellipsis when cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "\u2026"
