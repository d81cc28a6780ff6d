"""Offline providers: ``echo`` and ``python:package.module:function``."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import inspect
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..._exceptions import ModelCallError, ModelResponseError, SpecError
from ..completion import Completion, coerce_tool_calls


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
    ``temperature`` and any extra params (``tools``, ``tool_choice``, ...). It returns a
    ``str``, a :class:`Completion`, or a mapping with ``text`` and optionally
    ``input_tokens``, ``output_tokens``, ``finish_reason`` and ``tool_calls`` (a list of
    ``{"name": ..., "arguments": {...} or "JSON text", "id": ...}`` dicts, OpenAI
    ``tool_calls`` entries or :class:`ToolCall` objects). Latency is measured around the call.

    The callable may be ``async def`` (or return an awaitable): :meth:`complete` then awaits it
    on the plugin's I/O loop (``models/aio.py``) in a helper thread, which works whether or not
    the calling thread runs an event loop of its own; :meth:`acomplete` awaits it in the
    caller's loop. A plain callable called through :meth:`acomplete` runs in a worker thread.
    """

    def __init__(self, target: str, params: Mapping[str, Any] | None = None) -> None:
        self.target = target
        self.params = dict(params or {})
        self.function = _import_callable(target)
        self._accepts = _accepted_keywords(self.function)

    @property
    def is_async(self) -> bool:
        """Whether the callable is a coroutine function."""
        return inspect.iscoroutinefunction(self.function) or inspect.iscoroutinefunction(
            getattr(self.function, "__call__", None)
        )

    def _arguments(
        self, messages: list[dict[str, Any]], max_tokens: int | None, temperature: float | None,
        params: Mapping[str, Any],
    ) -> dict[str, Any]:
        system = next((m.get("content") for m in messages if m.get("role") == "system"), None)
        offered = {"messages": messages, "system": system, **self.params, **params}
        if max_tokens is not None:
            offered["max_tokens"] = max_tokens
        if temperature is not None:
            offered["temperature"] = temperature
        accepts = self._accepts
        return offered if accepts is None else {k: v for k, v in offered.items() if k in accepts}

    def _failed(self, exc: Exception) -> ModelCallError:
        return ModelCallError(f"python model {self.target} raised {type(exc).__name__}: {exc}")

    def complete(
        self, messages: list[dict[str, Any]], *, max_tokens: int | None = None,
        temperature: float | None = None, timeout: float | None = None, **params: Any,
    ) -> Completion:
        if self.is_async:
            from ..aio import io_loop

            return io_loop().run(self.acomplete(messages, max_tokens=max_tokens, temperature=temperature,
                                                timeout=timeout, **params))
        kwargs = self._arguments(messages, max_tokens, temperature, params)
        start = time.perf_counter()
        try:
            result = self.function(last_user_text(messages), **kwargs)
            if inspect.isawaitable(result):  # a sync callable that hands back a coroutine
                from ..aio import io_loop

                result = io_loop().run(_awaited(result))
        except Exception as exc:  # the callable is the model: its failure is a failed call
            raise self._failed(exc) from exc
        latency_ms = (time.perf_counter() - start) * 1000.0
        return _to_completion(result, latency_ms, self.target)

    async def acomplete(
        self, messages: list[dict[str, Any]], *, max_tokens: int | None = None,
        temperature: float | None = None, timeout: float | None = None, **params: Any,
    ) -> Completion:
        kwargs = self._arguments(messages, max_tokens, temperature, params)
        prompt = last_user_text(messages)
        start = time.perf_counter()
        try:
            if self.is_async:
                result = await self.function(prompt, **kwargs)
            else:
                result = await asyncio.to_thread(self.function, prompt, **kwargs)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:  # the callable is the model: its failure is a failed call
            raise self._failed(exc) from exc
        latency_ms = (time.perf_counter() - start) * 1000.0
        return _to_completion(result, latency_ms, self.target)

    def close(self) -> None:
        pass


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


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
            return dataclasses.replace(result, latency_ms=latency_ms)
        return result
    if isinstance(result, str):
        return Completion(text=result, latency_ms=latency_ms, finish_reason="stop", raw=result)
    if isinstance(result, Mapping) and isinstance(result.get("text", ""), str) and (
        "text" in result or "tool_calls" in result
    ):
        try:
            tool_calls = coerce_tool_calls(result.get("tool_calls") or ())
        except (TypeError, ValueError) as exc:
            raise ModelResponseError(f"python model {target} returned bad tool_calls: {exc}") from None
        raw = dict(result)
        if tool_calls:
            raw["tool_calls"] = [call.to_openai() for call in tool_calls]
        return Completion(
            text=result.get("text", ""),
            input_tokens=_count(result.get("input_tokens"), "input_tokens", target),
            output_tokens=_count(result.get("output_tokens"), "output_tokens", target),
            latency_ms=latency_ms,
            finish_reason=result.get("finish_reason", "tool_calls" if tool_calls else "stop"),
            raw=raw,
            tool_calls=tool_calls,
        )
    raise ModelResponseError(
        f"python model {target} returned {type(result).__name__}; "
        "return a str, a Completion or a dict with a 'text' string and/or 'tool_calls'"
    )


def _count(value: Any, field: str, target: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ModelResponseError(f"python model {target} returned {field}={value!r}; expected an int >= 0")
    return value
