"""LLM-as-judge: grade an answer against a rubric with a judge model.

The judge gets a rubric prompt and must answer with JSON ``{"score": S, "reasoning": "..."}``
on the rubric's scale (default 0 to 10); the score is normalised to [0, 1]. A reply without a
parseable score in range raises :class:`JudgeError` (a :class:`ModelError`), so the run is an
``error`` outcome, never a silent 0. The judge's calls are recorded and costed separately from
the judged model's. Does not import pytest.

The prompt follows the single-answer grading set-up of Zheng et al. (2023), "Judging
LLM-as-a-Judge with MT-Bench and Chatbot Arena" (arXiv:2306.05685): the judge sees the
question, the answer (and a reference answer when given) and the criteria, explains briefly,
then gives a score.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable
from typing import Any

from .._exceptions import ModelError
from ..models.completion import Completion

PROMPT = """You are a strict, impartial evaluator. Grade the ANSWER to the QUESTION against the CRITERIA.
{reference_block}Think about how well the answer meets each criterion, then reply with JSON only, exactly:
{{"reasoning": "<one or two sentences>", "score": <number from {low:g} to {high:g}>}}
where {low:g} means the criteria are not met at all and {high:g} means they are fully met.

QUESTION:
{question}

ANSWER:
{answer}

CRITERIA:
{rubric}
"""

_SCORE_PATTERNS = (
    re.compile(r'"score"\s*:\s*"?(-?\d+(?:\.\d+)?)'),
    re.compile(r"\bscore\s*(?:is|=|:)?\s*\**\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?))?", re.IGNORECASE),
)


class JudgeError(ModelError):
    """The judge did not give a usable score."""


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """A judge's grade: ``score`` in [0, 1], the judge's ``reasoning`` and its raw reply."""

    score: float
    reasoning: str
    raw_score: float
    completion: Completion

    def __float__(self) -> float:
        return self.score


def build_prompt(question: str, answer: str, rubric: str, *, reference: str | None = None,
                 scale: tuple[float, float] = (0.0, 10.0)) -> str:
    low, high = _check_scale(scale)
    reference_block = "" if reference is None else f"A REFERENCE answer is given; use it as the standard.\nREFERENCE:\n{reference}\n\n"
    return PROMPT.format(question=question, answer=answer, rubric=rubric, low=low, high=high,
                         reference_block=reference_block)


def _check_scale(scale: tuple[float, float]) -> tuple[float, float]:
    try:
        low, high = (float(value) for value in scale)
    except (TypeError, ValueError):
        raise ValueError(f"scale {scale!r} must be a pair of numbers (low, high)") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"scale {scale!r} is not allowed; it must be (low, high) with low < high")
    return low, high


def parse_reply(text: str, scale: tuple[float, float] = (0.0, 10.0)) -> tuple[float, str, float]:
    """(normalised score, reasoning, raw score) from a judge's reply; JudgeError when unusable.

    Accepts the requested JSON (also inside a fenced block or surrounded by text), and as a
    fallback a line such as ``Score: 7/10``. A score outside the scale is an error.
    """
    low, high = _check_scale(scale)
    reasoning = ""
    raw: float | None = None
    for candidate in _json_objects(text):
        if isinstance(candidate, dict) and "score" in candidate:
            value = candidate["score"]
            if isinstance(value, str):
                try:
                    value = float(value.strip())
                except ValueError:
                    continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                raw = float(value)
                reasoning = str(candidate.get("reasoning", candidate.get("explanation", "")))
                break
    if raw is None:
        for pattern in _SCORE_PATTERNS:
            matches = list(pattern.finditer(text))
            if matches:
                match = matches[-1]
                raw = float(match.group(1))
                if match.lastindex and match.lastindex >= 2 and match.group(2):
                    denominator = float(match.group(2))
                    if denominator > 0 and denominator != high:
                        raw = low + (high - low) * raw / denominator
                reasoning = text[: match.start()].strip()
                break
    if raw is None or not math.isfinite(raw):
        raise JudgeError(f"the judge gave no parseable score: {_excerpt(text)!r}")
    if not low <= raw <= high:
        raise JudgeError(f"the judge's score {raw:g} is outside the scale {low:g}..{high:g}: {_excerpt(text)!r}")
    return (raw - low) / (high - low), reasoning, raw


def _json_objects(text: str) -> list[Any]:
    """JSON objects found in ``text``: the whole text, fenced blocks, then balanced {...} spans."""
    found: list[Any] = []
    candidates = [text.strip()]
    candidates += re.findall(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    depth, start = 0, None
    for index, char in enumerate(text):
        if char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0 and start is not None:
                candidates.append(text[start : index + 1])
    for candidate in candidates:
        try:
            found.append(json.loads(candidate))
        except (json.JSONDecodeError, ValueError):
            continue
    return found


def _excerpt(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Judge:
    """A judge model inside one benchmark run (the ``judge`` fixture).

    ``complete`` is the judge's own ``complete`` (its calls are metered separately from the
    judged model's).
    """

    def __init__(self, name: str, complete: Callable[..., Completion]) -> None:
        self.name = name
        self._complete = complete

    def grade(self, *, question: str, answer: str, rubric: str, reference: str | None = None,
              scale: tuple[float, float] = (0.0, 10.0)) -> Verdict:
        """Grade ``answer`` to ``question`` against ``rubric``; a :class:`Verdict` in [0, 1]."""
        if isinstance(answer, Completion):
            answer = answer.text
        prompt = build_prompt(question, answer, rubric, reference=reference, scale=scale)
        completion = self._complete(prompt, temperature=0)
        score, reasoning, raw = parse_reply(completion.text, scale)
        return Verdict(score=score, reasoning=reasoning, raw_score=raw, completion=completion)

    def __repr__(self) -> str:
        return f"<Judge {self.name}>"
