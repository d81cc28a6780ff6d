"""The object behind the ``model`` fixture."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .completion import Completion, is_token_count
from .metering import Endpoint
from .providers import Provider
from .providers._http import Secret, redact
from .providers.local import last_user_text
from .specs import ModelSpec

#: Bytes of a prompt or reply a run keeps by default (``--modelbench-text-limit``).
DEFAULT_TEXT_LIMIT = 4096


def cut_text(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8 (at a character boundary), followed
    by ``… [N more bytes]`` when something was cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    kept = data[:limit].decode("utf-8", errors="ignore")
    return f"{kept}… [{len(data) - len(kept.encode('utf-8'))} more bytes]"


@dataclasses.dataclass(frozen=True, slots=True)
class TextPolicy:
    """What a run keeps of its prompt and reply: at most ``limit`` bytes of each (UTF-8), the
    ``secrets`` (API keys) redacted before cutting; ``limit`` 0 keeps none."""

    limit: int = DEFAULT_TEXT_LIMIT
    secrets: tuple[Secret, ...] = ()

    def keep(self, text: str | None) -> str | None:
        if text is None or self.limit <= 0:
            return None
        for secret in self.secrets:
            text = redact(text, secret)
        return cut_text(text, self.limit)


@dataclasses.dataclass(slots=True)
class CallTotals:
    """Accumulates the model calls made during one run.

    The last call's messages and reply are kept as given (cheap); :meth:`as_fields` turns them
    into the record's ``prompt`` (the last user message) and ``reply`` under ``texts``.
    """

    calls: int = 0
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    input_tokens: int | None = 0
    output_tokens: int | None = 0
    cost_usd: float | None = 0.0
    cached_calls: int = 0
    interrupted_by: str | None = None
    retries: int = 0
    #: The first failure of a call made through a metered client (``model.openai_client()``,
    #: ...), which the app saw as its own client's exception: the plugin reports the run as an
    #: error with this reason when the test does not pass.
    failure: BaseException | None = None
    texts: TextPolicy = dataclasses.field(default_factory=TextPolicy)
    last_messages: Sequence[Any] | None = None
    last_reply: str | None = None

    def add(self, completion: Completion, *, cost_usd: float | None = None, cached: bool = False,
            messages: Sequence[Any] | None = None) -> None:
        self.last_messages, self.last_reply = messages, completion.text
        if self.calls == 0:
            self.ttft_ms = completion.ttft_ms
        self.calls += 1
        self.cached_calls += cached
        self.retries += completion.retries
        self.cost_usd = None if self.cost_usd is None or cost_usd is None else self.cost_usd + cost_usd
        if completion.latency_ms is not None:
            self.latency_ms += completion.latency_ms
        self.input_tokens = _add_known(self.input_tokens, completion.input_tokens)
        self.output_tokens = _add_known(self.output_tokens, completion.output_tokens)

    def as_fields(self) -> dict[str, Any]:
        if self.calls == 0:
            return {"calls": 0, "latency_ms": None, "ttft_ms": None, "input_tokens": None,
                    "output_tokens": None, "cost_usd": None, "cached": False, "retries": 0,
                    "prompt": None, "reply": None}
        return {
            "prompt": self.texts.keep(last_user_text(list(self.last_messages)) if self.last_messages else None),
            "reply": self.texts.keep(self.last_reply),
            "calls": self.calls,
            "retries": self.retries,
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


RESERVED_PARAMS = frozenset({"run", "call_index", "task", "before_call", "timeout", "client", "max_retries"})


class CallMeter:
    """Prices each call and keeps the session's spend under ``--modelbench-max-cost``.

    ``free`` models, and models whose price is zero (local providers without a price of
    their own get :data:`~pytest_modelbench.cost.prices.LOCAL_FREE_PRICE`), cost 0 whatever
    their token counts; others cost ``run_cost(price, tokens)``, None when the price or a
    token count is unknown. With a ledger, each call first checks the cap (raising
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
        if self.free or (self.price is not None and self.price.free):
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


class RunCalls:
    """The model calls of one run, whichever path they take (``complete()``, ``acomplete()``
    or a metered client): the call index, the response store, the spend cap, the totals.

    With a ``channel`` (``models/dispatch.py``), ``complete()`` and ``acomplete()`` calls are
    sent through it (concurrency, rate limiter); with a ``prefetch`` (``models/prefetch.py``)
    they use the answers fetched ahead of the run, and a probe of the run defers its calls.

    Thread-safe: an app may call the model from several threads or tasks at once. Call
    indexes are handed out in the order calls start.
    """

    def __init__(self, provider: Callable[[], Provider], *, run: int, task: str,
                 totals: CallTotals, meter: CallMeter, channel: Any = None, prefetch: Any = None) -> None:
        self._provider = provider
        self.run = run
        self.task = task
        self.totals = totals
        self.meter = meter
        self.channel = channel
        self.prefetch = prefetch
        self._next = 0
        self._lock = threading.Lock()

    def next_index(self) -> int:
        with self._lock:
            index, self._next = self._next, self._next + 1
            return index

    def caching(self) -> Any:
        """The CachingProvider when calls go through the response store, else None."""
        from .cache import CachingProvider

        provider = self._provider()
        return provider if isinstance(provider, CachingProvider) else None

    def lookup(self, messages: list[dict[str, Any]], *, max_tokens: int | None, temperature: float | None,
               call_index: int, params: dict[str, Any]) -> tuple[Any, Completion | None]:
        """``(key, stored answer)``; ``(None, None)`` without a store. Raises ReplayMissError."""
        caching = self.caching()
        if caching is None:
            return None, None
        return caching.lookup(messages, max_tokens=max_tokens, temperature=temperature, run=self.run,
                              call_index=call_index, task=self.task, **params)

    def before_call(self) -> None:
        self.meter.before_call()

    def store(self, key: Any, completion: Completion) -> None:
        caching = self.caching()
        if caching is not None and key is not None:
            caching.store_answer(key, completion, task=self.task)

    def record(self, completion: Completion, *, cached: bool, messages: Sequence[Any] | None = None) -> Completion:
        """Meter one answered call; ``messages`` (its request) give the run's ``prompt``."""
        cost_usd = self.meter.cost(completion)
        if not cached:
            self.meter.after_call(cost_usd)
        with self._lock:
            self.totals.add(completion, cost_usd=cost_usd, cached=cached, messages=messages)
        return completion

    def failed(self, error: BaseException) -> None:
        with self._lock:
            if self.totals.failure is None:
                self.totals.failure = error

    # -- calls through a channel ---------------------------------------------------------

    def app_call(self, what: str) -> None:
        """A metered app client or ``model.load()`` is about to call: a probe stops here."""
        if self.prefetch is not None and self.prefetch.probing:
            self.prefetch.stop(what)

    def route(self, request: Any, call_index: int) -> tuple[Any, Any] | Completion:
        """Where the answer of a call through the channel comes from: a Completion now (from
        the store), or ``(future, finish)``: wait for the future, then ``finish(answer)``.
        A probe's call that is not known yet is sent ahead and suspends the probe."""
        from .dispatch import URGENT

        prefetch = self.prefetch
        if prefetch is not None and prefetch.probing:
            prefetch.reached = max(prefetch.reached, call_index + 1)
        key, stored = self.lookup(request.messages, max_tokens=request.max_tokens,
                                  temperature=request.temperature, call_index=call_index, params=request.params)
        if key is None:  # no response store: keyed all the same, to match the calls fetched ahead
            key = self._key(request, call_index)
        if prefetch is not None and prefetch.probing and key is None:
            prefetch.stop("a call whose request cannot be keyed")
        if prefetch is not None and key is not None:
            fetched = prefetch.known(call_index, key.digest)
            if fetched is not None:
                return fetched.future, lambda answer: self._fetched(answer, request, key, fetched)
            if prefetch.probing and prefetch.serial:
                prefetch.stop("a call that is not reproducible")
        if stored is not None:
            return self.record(stored, cached=True, messages=request.messages)
        if prefetch is not None and prefetch.probing and key is not None:
            prefetch.defer(call_index, key.digest, self.channel.submit(request, priority=prefetch.priority))
        return self.channel.submit(request, priority=URGENT), lambda answer: self._fetched(answer, request, key, None)

    def _key(self, request: Any, call_index: int) -> Any:
        from .cache import request_key

        try:
            return request_key(self.channel.key_spec, request.messages, max_tokens=request.max_tokens,
                               temperature=request.temperature, params=request.params, run=self.run,
                               call_index=call_index)
        except ValueError:  # not JSON: it cannot be matched with a fetched answer
            return None

    def _fetched(self, answer: Completion | BaseException, request: Any, key: Any, fetched: Any) -> Completion:
        """A call's answer from the channel, used by this attempt: raised if it is a failure;
        in the totals (its cost was added to the spend ledger when it arrived)."""
        probing = self.prefetch is not None and self.prefetch.probing
        if fetched is not None and not probing:
            fetched.consumed = True
        if isinstance(answer, BaseException):
            raise answer.with_traceback(None)
        caching = self.caching()
        if caching is not None and key is not None and not probing and (fetched is None or not fetched.stored):
            caching.store_answer(key, answer)
            if fetched is not None:
                fetched.stored = True
        with self._lock:
            self.totals.add(answer, cost_usd=self.meter.cost(answer), cached=False, messages=request.messages)
        return answer

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        """Around a call in flight: what stops it from outside (a ``BaseException`` that is not
        an ``Exception``: a watchdog's ``Failed``, Ctrl-C, a cancelled task) is recorded
        (:meth:`interrupted`) and goes on; the call's own failures go on untouched."""
        try:
            yield
        except Exception:
            raise
        except BaseException as stop:
            self.interrupted(stop)
            raise

    def interrupted(self, stop: BaseException) -> None:
        """Something outside the call (a watchdog's ``Failed``, Ctrl-C) stopped it in flight:
        the run records a failed call, not a miss."""
        text = str(stop).strip().splitlines()[0][:200] if str(stop).strip() else ""
        with self._lock:
            if self.totals.interrupted_by is None:
                self.totals.interrupted_by = f"{type(stop).__name__}: {text}" if text else type(stop).__name__


#: Providers that speak the OpenAI chat-completions API, for which app clients can be made.
OPENAI_COMPATIBLE = ("openai", "ollama")


class Model:
    """A configured model inside one benchmark run.

    ``complete()`` calls the model and adds the call's latency, TTFT and tokens to the run's
    record; ``await acomplete()`` does the same without blocking an async test. A failed call
    raises :class:`ModelError`, which makes the run an ``error`` outcome. For an
    OpenAI-compatible model, ``openai_client()``, ``async_openai_client()``, ``httpx_client()``
    and ``httpx_async_client()`` hand the app clients whose calls are metered the same way
    (``models/metering.py``), and ``endpoint`` says where the model is served.
    """

    def __init__(
        self, spec: ModelSpec, provider: Callable[[], Provider], *, run: int,
        timeout: float | None, totals: CallTotals, meter: CallMeter | None = None,
        task: str = "", endpoint: Callable[[], tuple[str, str | None]] | None = None,
        loads: list[dict[str, Any]] | None = None, load_runner: Callable[..., Any] | None = None,
        retries: int = 2, max_response_bytes: int | None = None, channel: Any = None, prefetch: Any = None,
    ) -> None:
        self._spec = spec
        self._provider = provider
        self._timeout = timeout
        self.run = run
        self._calls = RunCalls(provider, run=run, task=task, totals=totals, meter=meter or CallMeter(),
                               channel=channel, prefetch=prefetch)
        self._endpoint = endpoint
        self._loads = loads
        self._load_runner = load_runner
        self._retries = retries
        self._max_response_bytes = max_response_bytes
        self._clients: list[Any] = []

    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def spec(self) -> str:
        return self._spec.spec

    # ------------------------------------------------------------------ calls

    def _request(
        self, prompt_or_messages: Any, system: str | None, tools: Any, tool_choice: Any,
        params: dict[str, Any], method: str,
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        reserved = sorted(set(params) & RESERVED_PARAMS)
        if reserved:
            raise TypeError(f"model.{method}() got reserved parameter {reserved[0]!r}; "
                            f"these are set by pytest-modelbench: {', '.join(sorted(RESERVED_PARAMS))}")
        if tools is not None:
            if not isinstance(tools, (list, tuple)) or not all(isinstance(tool, dict) for tool in tools):
                raise TypeError(
                    f"model.{method}() takes tools as a list of OpenAI-style tool dicts "
                    f'({{"type": "function", "function": {{"name": ..., "parameters": {{...}}}}}}), got {tools!r:.80}'
                )
            params["tools"] = list(tools)
        if tool_choice is not None:
            params["tool_choice"] = tool_choice
        return to_messages(prompt_or_messages, system), params

    def complete(
        self, prompt_or_messages: str | Sequence[dict[str, Any]], *, system: str | None = None,
        max_tokens: int | None = None, temperature: float | None = None,
        tools: Sequence[dict[str, Any]] | None = None, tool_choice: str | dict[str, Any] | None = None,
        **params: Any,
    ) -> Completion:
        """Call the model; the reply with its measurements. ``tools`` (OpenAI-style function
        tools) and ``tool_choice`` are passed to the model; its calls are in ``tool_calls``."""
        messages, params = self._request(prompt_or_messages, system, tools, tool_choice, params, "complete")
        calls = self._calls
        call_index = calls.next_index()
        if calls.channel is not None:
            routed = calls.route(self._call_request(messages, max_tokens, temperature, params), call_index)
            if isinstance(routed, Completion):
                return routed
            future, finish = routed
            with calls.in_flight():
                try:
                    answer: Any = calls.channel.wait(future)
                except Exception as exc:
                    answer = exc
            return finish(answer)
        caching = calls.caching()
        with calls.in_flight():
            if caching is not None:
                served = caching.complete_with_origin(
                    messages, max_tokens=max_tokens, temperature=temperature, timeout=self._timeout,
                    run=self.run, call_index=call_index, task=calls.task,
                    before_call=calls.before_call, **params,
                )
                return calls.record(served.completion, cached=served.cached, messages=messages)
            calls.before_call()
            completion = self._provider().complete(
                messages, max_tokens=max_tokens, temperature=temperature, timeout=self._timeout, **params
            )
        return calls.record(completion, cached=False, messages=messages)

    async def acomplete(
        self, prompt_or_messages: str | Sequence[dict[str, Any]], *, system: str | None = None,
        max_tokens: int | None = None, temperature: float | None = None,
        tools: Sequence[dict[str, Any]] | None = None, tool_choice: str | dict[str, Any] | None = None,
        **params: Any,
    ) -> Completion:
        """:meth:`complete` for async tests: same arguments, cache and replay, spend cap and
        measurements. The provider's coroutine runs on the plugin's I/O loop (``models/aio.py``),
        so the test's loop is free while the model answers; a provider without a native
        ``acomplete`` runs in a worker thread."""
        messages, params = self._request(prompt_or_messages, system, tools, tool_choice, params, "acomplete")
        calls = self._calls
        if calls.channel is not None:
            routed = calls.route(self._call_request(messages, max_tokens, temperature, params), calls.next_index())
            if isinstance(routed, Completion):
                return routed
            future, finish = routed
            with calls.in_flight():
                try:
                    answer: Any = await calls.channel.await_answer(future)
                except Exception as exc:
                    answer = exc
            return finish(answer)
        key, stored = calls.lookup(messages, max_tokens=max_tokens, temperature=temperature,
                                   call_index=calls.next_index(), params=params)
        if stored is not None:
            return calls.record(stored, cached=True, messages=messages)
        calls.before_call()
        caching = calls.caching()
        provider = caching.inner if caching is not None else self._provider()
        from .aio import io_loop

        with calls.in_flight():
            completion = await io_loop().wait(provider_acomplete(
                provider, messages, max_tokens=max_tokens, temperature=temperature, timeout=self._timeout, **params
            ))
        calls.store(key, completion)
        return calls.record(completion, cached=False, messages=messages)

    def _call_request(self, messages: list[dict[str, Any]], max_tokens: int | None,
                      temperature: float | None, params: dict[str, Any]) -> Any:
        from .dispatch import CallRequest

        return CallRequest(messages, max_tokens, temperature, params, self._timeout)

    # ------------------------------------------------------------------ the app's clients

    def _openai_endpoint(self, what: str) -> Endpoint:
        from .._exceptions import ConfigError

        if self._spec.provider not in OPENAI_COMPATIBLE or self._endpoint is None:
            raise ConfigError(
                f"model.{what} needs an OpenAI-compatible model (providers: "
                f"{', '.join(OPENAI_COMPATIBLE)}); {self.name!r} uses provider {self._spec.provider!r}. "
                "For every model, model.complete() and 'await model.acomplete()' are metered "
                "(messages, tools and tool_choice included); an app that must talk to a "
                f"{self._spec.provider!r} model itself is benchmarked by making it a 'python:' model "
                "or a custom provider (docs/usage.md, 'Benchmarking your app')"
            )
        base_url, api_key = self._endpoint()
        return Endpoint(base_url=base_url, model=self._spec.model, api_key=api_key)

    @property
    def endpoint(self) -> Endpoint:
        """Base URL, model name and key of an OpenAI-compatible model (for LiteLLM, LangChain,
        ...). Requests sent there directly are not metered: pass ``http_client=
        model.httpx_client()`` (or ``model.openai_client()``) to the library."""
        return self._openai_endpoint("endpoint")

    def _metered(self, what: str, options: dict[str, Any], *, asynchronous: bool) -> Any:
        """The metered transport of an app's httpx client made by ``what``; ``options`` (the
        client's) get the model's base URL and the run's timeout unless they give their own,
        and lose ``_inner_transport`` (a test seam: the transport that reaches the network)."""
        from .metering import AsyncMeteredTransport, MeteredTransport

        endpoint = self._openai_endpoint(what)
        inner = options.pop("_inner_transport", None)
        options.setdefault("base_url", endpoint.base_url)
        options.setdefault("timeout", self._timeout)
        kind = AsyncMeteredTransport if asynchronous else MeteredTransport
        limit = {} if self._max_response_bytes is None else {"max_response_bytes": self._max_response_bytes}
        return kind(self._calls, self._spec, endpoint, retries=self._retries, inner=inner, **limit)

    def httpx_client(self, **options: Any) -> Any:
        """An ``httpx.Client`` whose chat-completions requests are metered into this run.

        ``base_url`` is the model's API root, the timeout ``--modelbench-timeout``; other
        ``httpx.Client`` options may be given (not ``transport``). Closed at the end of the run.
        """
        import httpx

        transport = self._metered("httpx_client()", options, asynchronous=False)
        client = httpx.Client(transport=transport, **options)
        self._clients.append(client)
        return client

    def httpx_async_client(self, **options: Any) -> Any:
        """An ``httpx.AsyncClient`` whose chat-completions requests are metered into this run
        (see :meth:`httpx_client`). Close it on its loop (``async with`` or ``await
        client.aclose()``); one left open is closed at the end of the run when possible."""
        import httpx

        transport = self._metered("httpx_async_client()", options, asynchronous=True)
        client = httpx.AsyncClient(transport=transport, **options)
        try:
            loop: Any = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        self._clients.append((client, loop))
        return client

    def openai_client(self, **options: Any) -> Any:
        """An ``openai.OpenAI`` client for this model, every chat completion metered into this
        run. Needs the ``openai`` package: ``pip install pytest-modelbench[openai]``.

        Made with the model's base URL, ``max_retries=0`` (the plugin retries, as for
        ``complete()``) and the run's timeout; other ``openai.OpenAI`` options may be given.
        The client holds no key: the metered transport sends the model's key with each
        request, so the key is in none of the SDK's objects (nor their reprs and tracebacks).
        """
        openai = _import_openai("openai_client()")
        endpoint = self._openai_endpoint("openai_client()")
        return openai.OpenAI(**self._sdk_options(endpoint, options, self.httpx_client()))

    def async_openai_client(self, **options: Any) -> Any:
        """An ``openai.AsyncOpenAI`` client for this model (see :meth:`openai_client`)."""
        openai = _import_openai("async_openai_client()")
        endpoint = self._openai_endpoint("async_openai_client()")
        return openai.AsyncOpenAI(**self._sdk_options(endpoint, options, self.httpx_async_client()))

    def _sdk_options(self, endpoint: Endpoint, options: dict[str, Any], http_client: Any) -> dict[str, Any]:
        if "http_client" in options:
            raise TypeError("openai_client() makes its own metered http_client; do not pass one")
        return {
            "base_url": endpoint.base_url,
            # The SDK insists on a key. The transport replaces it by the model's own (none when
            # the model has none), so the real key never enters the SDK's objects.
            "api_key": "modelbench-metered",
            "max_retries": 0,
            "timeout": self._timeout,
            **options,
            "http_client": http_client,
        }

    def close(self) -> None:
        """End of the run: close the clients made by it (async ones when their loop allows)."""
        clients, self._clients = self._clients, []
        for client in clients:
            if isinstance(client, tuple):
                _close_async_client(*client)
            else:
                client.close()

    def load(self, prompts: Sequence[str | Sequence[dict[str, Any]]], **options: Any) -> Any:
        """Drive concurrent streaming load at this model's server; see ``pytest_modelbench.profile.load.run_load``.

        ``concurrency=N`` (or a list of levels for a sweep) or ``rate=R`` (Poisson arrivals per
        second), ``requests=M`` or ``duration_s=S``, and ``max_tokens``, ``slo_ttft_ms``,
        ``slo_tpot_ms``, ``timeout``, ``seed``... Returns a ``LoadResult`` (a list for a sweep),
        also recorded in this run's record. Needs an OpenAI-compatible model (``openai:`` or
        ``ollama:``); a named model's ``metrics_url`` is sampled during the load.
        """
        from .._exceptions import ConfigError

        self._calls.app_call("model.load()")
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


async def provider_acomplete(provider: Provider, messages: list[dict[str, Any]], **arguments: Any) -> Completion:
    """One call of ``provider`` awaited on the current loop: its native ``acomplete`` (with the
    I/O loop's client for it when it makes one), else its ``complete`` in a worker thread."""
    native = getattr(provider, "acomplete", None)
    if native is None:
        return await asyncio.to_thread(lambda: provider.complete(messages, **arguments))
    if hasattr(provider, "async_client"):
        from .aio import io_loop

        loop = io_loop()
        if loop.in_loop_thread():
            arguments["client"] = loop.client_for(provider)
    return await native(messages, **arguments)


def _import_openai(what: str) -> Any:
    try:
        import openai
    except ImportError:
        from .._exceptions import ConfigError

        raise ConfigError(
            f"model.{what} needs the official 'openai' package, which is not installed; install "
            "it with: pip install 'pytest-modelbench[openai]' (model.httpx_client() works without it)"
        ) from None
    return openai


def _close_async_client(client: Any, loop: asyncio.AbstractEventLoop | None) -> None:
    """Close an ``httpx.AsyncClient`` from sync code, on the loop it was made in when that
    loop is still there and idle; otherwise its connections went with their loop."""
    if client.is_closed or loop is None or loop.is_closed() or loop.is_running():
        return
    try:
        loop.run_until_complete(client.aclose())
    except Exception:  # the loop cannot run it any more: nothing more can be done here
        pass
