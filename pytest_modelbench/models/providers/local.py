"""Offline providers: ``echo`` and ``python:package.module:function``."""

from __future__ import annotations

import importlib
import inspect
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..._exceptions import ModelCallError, ModelResponseError, SpecError
from ..completion import Completion


def last_user_text(messages: list[dict[str, Any]]) -> str:
    """The content of the last user message (text parts joined for multi-part content)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content", "")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(
                    part.get("text", "") for part in content if isinstance(part, Mapping)
                )
            return str(content)
    return ""


class EchoProvider:
    """Answers with the prompt: the last user message, unchanged.

    A floor for any benchmark (a task the echo model passes is not testing a model) and a
    way to run suites offline. It reports no token counts: none were counted by a server.
    """

    def complete(
        self, messages: list[dict[str, Any]], *, max_tokens: int | None = None,
        temperature: float | None = None, timeout: float | None = None, **params: Any,
    ) -> Completion:
        start = time.perf_counter()
        text = last_user_text(messages)
        latency_ms = (time.perf_counter() - start) * 1000.0
        return Completion(text=text, latency_ms=latency_ms, finish_reason="stop")

    def close(self) -> None:
        pass


class PythonProvider:
    """A Python callable is the model.

    The callable receives the prompt (the last user message) as its first argument and, when
    it declares them (or ``**kwargs``), the keywords ``messages``, ``system``, ``max_tokens``,
    ``temperature`` and any extra params. It returns a ``str``, a :class:`Completion`, or a
    mapping with ``text`` and optionally ``input_tokens``, ``output_tokens``,
    ``finish_reason``. Latency is measured around the call.
    """

    def __init__(self, target: str, params: Mapping[str, Any] | None = None) -> None:
        self.target = target
        self.params = dict(params or {})
        self.function = _import_callable(target)
        self._accepts = _accepted_keywords(self.function)

    def complete(
        self, messages: list[dict[str, Any]], *, max_tokens: int | None = None,
        temperature: float | None = None, timeout: float | None = None, **params: Any,
    ) -> Completion:
        system = next((m.get("content") for m in messages if m.get("role") == "system"), None)
        offered = {"messages": messages, "system": system, **self.params, **params}
        if max_tokens is not None:
            offered["max_tokens"] = max_tokens
        if temperature is not None:
            offered["temperature"] = temperature
        accepts = self._accepts
        kwargs = offered if accepts is None else {k: v for k, v in offered.items() if k in accepts}
        start = time.perf_counter()
        try:
            result = self.function(last_user_text(messages), **kwargs)
        except Exception as exc:  # the callable is the model: its failure is a failed call
            raise ModelCallError(
                f"python model {self.target} raised {type(exc).__name__}: {exc}"
            ) from exc
        latency_ms = (time.perf_counter() - start) * 1000.0
        return _to_completion(result, latency_ms, self.target)

    def close(self) -> None:
        pass


def _import_callable(target: str) -> Callable[..., Any]:
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SpecError(
            f"python model 'python:{target}': cannot import module {module_name!r} ({exc}); "
            "make it importable (e.g. the pytest 'pythonpath' ini setting)"
        ) from exc
    function = getattr(module, attribute, None)
    if not callable(function):
        raise SpecError(
            f"python model 'python:{target}': module {module_name!r} has no callable {attribute!r}"
        )
    return function


def _accepted_keywords(function: Callable[..., Any]) -> frozenset[str] | None:
    """Keyword names the callable takes; None when it takes ``**kwargs``."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    names = set()
    for parameter in list(signature.parameters.values())[1:]:
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            return None
        if parameter.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            names.add(parameter.name)
    return frozenset(names)


def _to_completion(result: Any, latency_ms: float, target: str) -> Completion:
    if isinstance(result, Completion):
        if result.latency_ms is None:
            return Completion(
                text=result.text, input_tokens=result.input_tokens,
                output_tokens=result.output_tokens, latency_ms=latency_ms,
                ttft_ms=result.ttft_ms, finish_reason=result.finish_reason, raw=result.raw,
            )
        return result
    if isinstance(result, str):
        return Completion(text=result, latency_ms=latency_ms, finish_reason="stop", raw=result)
    if isinstance(result, Mapping) and isinstance(result.get("text"), str):
        return Completion(
            text=result["text"],
            input_tokens=_count(result.get("input_tokens"), "input_tokens", target),
            output_tokens=_count(result.get("output_tokens"), "output_tokens", target),
            latency_ms=latency_ms,
            finish_reason=result.get("finish_reason", "stop"),
            raw=dict(result),
        )
    raise ModelResponseError(
        f"python model {target} returned {type(result).__name__}; "
        "return a str, a Completion or a dict with a 'text' string"
    )


def _count(value: Any, field: str, target: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ModelResponseError(f"python model {target} returned {field}={value!r}; expected an int >= 0")
    return value
