"""The object behind the ``model`` fixture."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ._completion import Completion
from ._records import CallTotals
from ._specs import ModelSpec
from .providers import Provider


def to_messages(prompt_or_messages: Any, system: str | None) -> list[dict[str, Any]]:
    """A prompt string or a list of chat messages → a list of chat messages."""
    if isinstance(prompt_or_messages, str):
        messages = [{"role": "user", "content": prompt_or_messages}]
    elif isinstance(prompt_or_messages, Sequence) and all(
        isinstance(m, dict) and "role" in m and "content" in m for m in prompt_or_messages
    ) and prompt_or_messages:
        messages = [dict(m) for m in prompt_or_messages]
    else:
        raise TypeError(
            "model.complete() takes a prompt string or a non-empty list of "
            f"{{'role': ..., 'content': ...}} messages, got {prompt_or_messages!r:.80}"
        )
    if system is not None:
        if any(m["role"] == "system" for m in messages):
            raise ValueError("model.complete() got system=... and messages with a system message; give one")
        messages.insert(0, {"role": "system", "content": system})
    return messages


class Model:
    """A configured model inside one benchmark run.

    ``complete()`` calls the model and adds the call's latency, TTFT and tokens to the run's
    record. A failed call raises :class:`ModelError`, which makes the run an ``error`` outcome.
    """

    def __init__(
        self, spec: ModelSpec, provider: Callable[[], Provider], *, run: int,
        timeout: float | None, totals: CallTotals,
    ) -> None:
        self._spec = spec
        self._provider = provider
        self._timeout = timeout
        self._totals = totals
        self.run = run

    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def spec(self) -> str:
        return self._spec.spec

    def complete(
        self, prompt_or_messages: str | Sequence[dict[str, Any]], *, system: str | None = None,
        max_tokens: int | None = None, temperature: float | None = None, **params: Any,
    ) -> Completion:
        messages = to_messages(prompt_or_messages, system)
        completion = self._provider().complete(
            messages, max_tokens=max_tokens, temperature=temperature, timeout=self._timeout, **params
        )
        self._totals.add(completion)
        return completion

    def __repr__(self) -> str:
        return f"<Model {self.name} run {self.run}>"
