"""The object behind the ``model`` fixture."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from .completion import Completion
from .providers import Provider
from .specs import ModelSpec


@dataclasses.dataclass(slots=True)
class CallTotals:
    """Accumulates the model calls made during one run."""

    calls: int = 0
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    input_tokens: int | None = 0
    output_tokens: int | None = 0
    cost_usd: float | None = 0.0
    cached_calls: int = 0

    def add(self, completion: Completion, *, cost_usd: float | None = None, cached: bool = False) -> None:
        if self.calls == 0:
            self.ttft_ms = completion.ttft_ms
        self.calls += 1
        self.cached_calls += cached
        self.cost_usd = None if self.cost_usd is None or cost_usd is None else self.cost_usd + cost_usd
        if completion.latency_ms is not None:
            self.latency_ms += completion.latency_ms
        self.input_tokens = _add_known(self.input_tokens, completion.input_tokens)
        self.output_tokens = _add_known(self.output_tokens, completion.output_tokens)

    def as_fields(self) -> dict[str, Any]:
        if self.calls == 0:
            return {"calls": 0, "latency_ms": None, "ttft_ms": None,
                    "input_tokens": None, "output_tokens": None, "cost_usd": None, "cached": False}
        return {
            "calls": self.calls,
            "latency_ms": self.latency_ms,
            "ttft_ms": self.ttft_ms,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "cached": self.cached_calls == self.calls,
        }


def _add_known(total: int | None, value: int | None) -> int | None:
    if total is None or not is_token_count(value):
        return None
    return total + value  # type: ignore[operator]


#: Largest token count taken as a count (the same bound as the HTTP providers').
MAX_TOKEN_COUNT = 10**12


def is_token_count(value: object) -> bool:
    """Whether ``value`` is a usable token count: a whole number from 0 to 10^12. Anything
    else a provider (a custom one too) reports is unknown, so that no summary overflows."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKEN_COUNT


RESERVED_PARAMS = frozenset({"run", "call_index", "task", "before_call", "timeout"})


class CallMeter:
    """Prices each call and keeps the session's spend under ``--modelbench-max-cost``.

    ``free`` models (``echo``) cost 0; others cost ``run_cost(price, tokens)``, None when the
    price or a token count is unknown. With a ledger, each call first checks the cap (raising
    ``BudgetExceeded``) and then adds its cost to the shared total.
    """

    def __init__(self, price: Any = None, ledger: Any = None, *, free: bool = False) -> None:
        self.price = price
        self.ledger = ledger
        self.free = free

    def before_call(self) -> None:
        if self.ledger is not None:
            self.ledger.check()

    def cost(self, completion: Completion) -> float | None:
        if self.free:
            return 0.0
        if self.price is None:
            return None
        from ..cost import run_cost

        try:
            return run_cost(
                self.price, completion.input_tokens, completion.output_tokens,
                cached_input_tokens=completion.cached_input_tokens,
                reasoning_tokens=completion.reasoning_tokens,
            )
        except (ValueError, OverflowError):  # counts that contradict each other: the cost is unknown
            return None

    def after_call(self, cost_usd: float | None) -> None:
        if self.ledger is not None:
            self.ledger.add(cost_usd)


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
        timeout: float | None, totals: CallTotals, meter: CallMeter | None = None,
        task: str = "", endpoint: Callable[[], tuple[str, str | None]] | None = None,
        loads: list[dict[str, Any]] | None = None, load_runner: Callable[..., Any] | None = None,
    ) -> None:
        self._spec = spec
        self._provider = provider
        self._timeout = timeout
        self._totals = totals
        self._meter = meter or CallMeter()
        self.run = run
        self._task = task
        self._calls_made = 0
        self._endpoint = endpoint
        self._loads = loads
        self._load_runner = load_runner

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
        reserved = sorted(set(params) & RESERVED_PARAMS)
        if reserved:
            raise TypeError(f"model.complete() got reserved parameter {reserved[0]!r}; "
                            f"these are set by pytest-modelbench: {', '.join(sorted(RESERVED_PARAMS))}")
        messages = to_messages(prompt_or_messages, system)
        from .cache import CachingProvider

        provider = self._provider()
        call_index = self._calls_made
        self._calls_made += 1
        if isinstance(provider, CachingProvider):
            served = provider.complete_with_origin(
                messages, max_tokens=max_tokens, temperature=temperature, timeout=self._timeout,
                run=self.run, call_index=call_index, task=self._task,
                before_call=self._meter.before_call, **params,
            )
            completion, cached = served.completion, served.cached
        else:
            self._meter.before_call()
            completion = provider.complete(
                messages, max_tokens=max_tokens, temperature=temperature, timeout=self._timeout, **params
            )
            cached = False
        cost_usd = self._meter.cost(completion)
        if not cached:
            self._meter.after_call(cost_usd)
        self._totals.add(completion, cost_usd=cost_usd, cached=cached)
        return completion

    def load(self, prompts: Sequence[str | Sequence[dict[str, Any]]], **options: Any) -> Any:
        """Drive concurrent streaming load at this model's server; see ``pytest_modelbench.profile.load.run_load``.

        ``concurrency=N`` (or a list of levels for a sweep) or ``rate=R`` (Poisson arrivals per
        second), ``requests=M`` or ``duration_s=S``, and ``max_tokens``, ``slo_ttft_ms``,
        ``slo_tpot_ms``, ``timeout``, ``seed``... Returns a ``LoadResult`` (a list for a sweep),
        also recorded in this run's record. Needs an OpenAI-compatible model (``openai:`` or
        ``ollama:``); a named model's ``metrics_url`` is sampled during the load.
        """
        from .._exceptions import ConfigError

        if self._endpoint is None or self._load_runner is None:
            raise ConfigError(
                f"model.load() needs an OpenAI-compatible model (openai: or ollama:); "
                f"{self.name!r} uses provider {self._spec.provider!r}"
            )
        base_url, api_key = self._endpoint()
        metrics_url = self._spec.extra.get("metrics_url")
        if metrics_url is not None:
            options.setdefault("metrics_url", metrics_url)
        result = self._load_runner(base_url=base_url, model=self._spec.model, api_key=api_key, prompts=prompts, **options)
        if self._loads is not None:
            self._loads.extend(item.to_dict() for item in (result if isinstance(result, list) else [result]))
        return result

    def __repr__(self) -> str:
        return f"<Model {self.name} run {self.run}>"
