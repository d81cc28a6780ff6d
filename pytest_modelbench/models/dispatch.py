"""Model calls sent concurrently, through each endpoint's rate limiter.

A :class:`CallEngine` holds one :class:`ModelChannel` per model whose calls go through it (a
model with ``--modelbench-concurrency`` above 1, or with declared ``rpm``/``tpm``). A channel
is a priority queue served by exactly ``concurrency`` worker tasks on the plugin's I/O loop
(``models/aio.py``); requests are submitted from any thread and answered through a
``concurrent.futures.Future``. Earlier benchmark runs have lower priority numbers and are sent
first; a call the running test waits for (:data:`URGENT`) goes before all of them.

Each attempt of a call:

1. takes a slot from the endpoint's :class:`~.limiter.RateLimiter` (pause, AIMD window,
   declared rates);
2. checks the spend cap (``--modelbench-max-cost``);
3. asks the provider for exactly one attempt: its native ``acomplete`` with ``max_retries=0``
   and a connection pool of the channel whose responses the limiter sees (status and rate
   limit headers), else its ``complete`` in a worker thread (which retries by itself);
4. on a throttle (429, 529, or the connection closed after the request was sent, before any
   response: a server shedding load) tells the limiter
   (window halved, endpoint paused) and tries again, up to :data:`THROTTLE_RETRIES` times; on
   another failure the provider would retry (HTTP 408/409/>=500, a timeout before the
   response), waits as :class:`~.providers._http.RetryPolicy` says and tries again, up to
   ``--modelbench-retries`` times; otherwise the failure is the answer.

An answer keeps its own measurements (latency and TTFT from the moment it was sent, tokens,
and ``retries``: every retry, throttled or not). Its cost is added to the spend ledger when it
arrives (the money is spent then, whether or not a run uses it). Does not import pytest.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import dataclasses
import inspect
import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from .._exceptions import ModelCallError, ModelTimeoutError
from .completion import Completion
from .limiter import RateLimiter, RateLimits, throttle_status
from .providers import Provider
from .providers._http import RetryPolicy, after_attempts

#: Priority of a call a running test is waiting for: before every call fetched ahead.
URGENT = -1
#: Most times one call is retried after throttles (429/529, connections closed under load).
THROTTLE_RETRIES = 20
#: Output tokens assumed for a request without ``max_tokens``, for the ``tpm`` estimate
#: (corrected by the server's ``usage`` when the answer arrives).
DEFAULT_OUTPUT_TOKENS = 512
#: Seconds between calls of a waiting thread's ``on_wait`` (the progress line).
WAIT_TICK_S = 0.25

#: The status and headers of the last response seen by the current attempt (set by the
#: connection pool's response hook, read by the attempt that made the request).
_LAST_RESPONSE: contextvars.ContextVar[tuple[int, Mapping[str, str]] | None] = contextvars.ContextVar(
    "modelbench_last_response", default=None)


@dataclasses.dataclass(frozen=True, slots=True)
class CallRequest:
    """What a model call asks: as ``model.complete()`` was called, its timeout resolved."""

    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    temperature: float | None = None
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    timeout: float | None = None

    def estimated_tokens(self) -> int:
        """Input (a quarter of the characters of the messages and tools) plus output
        (``max_tokens``, else :data:`DEFAULT_OUTPUT_TOKENS`): the ``tpm`` reservation."""
        try:
            text = json.dumps([self.messages, self.params.get("tools")], default=str)
        except (TypeError, ValueError):
            text = str(self.messages)
        return len(text) // 4 + (self.max_tokens or DEFAULT_OUTPUT_TOKENS)


@dataclasses.dataclass(slots=True)
class ChannelStats:
    """A model's calls through its channel in this process (for the progress line)."""

    model: str
    concurrency: int
    submitted: int = 0
    queued: int = 0
    in_flight: int = 0
    completed: int = 0
    failed: int = 0
    retries: int = 0
    throttled: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0
    peak_in_flight: int = 0
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def outstanding(self) -> int:
        return self.queued + self.in_flight

    def snapshot(self) -> ChannelStats:
        return dataclasses.replace(self)


@dataclasses.dataclass(slots=True)
class _Job:
    request: CallRequest
    future: concurrent.futures.Future


def _shed(error: ModelCallError, seen: Any) -> bool:
    """Whether a failure is a server shedding load: the connection closed (or reset) after the
    request was sent, before any response. Not a refused connection (nothing listens) nor a
    timeout."""
    import httpx

    return (error.status_code is None and seen is None and not isinstance(error, ModelTimeoutError)
            and isinstance(error.__cause__, httpx.TransportError)
            and not isinstance(error.__cause__, httpx.ConnectError))


def _takes_max_retries(method: Any) -> bool:
    try:
        parameter = inspect.signature(method).parameters.get("max_retries")
    except (TypeError, ValueError):
        return False
    return parameter is not None and parameter.kind in (
        inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class ModelChannel:
    """The calls of one model: a priority queue, ``concurrency`` workers, the limiter.

    ``provider()`` gives the provider that makes the calls (for a cached model, the provider
    behind the store); ``limits`` are the model's declared rates; ``meter`` prices each answer
    and keeps the spend cap (``models/model.py``'s ``CallMeter``); ``retries`` is
    ``--modelbench-retries``; ``key_spec`` the spec requests are keyed with.
    """

    def __init__(self, name: str, provider: Callable[[], Provider], *, concurrency: int,
                 limiter: RateLimiter, limits: RateLimits, meter: Any, retries: int,
                 key_spec: Any, io: Any, engine: CallEngine) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency {concurrency!r} is not allowed; it must be a whole number >= 1")
        self.name = name
        self.concurrency = concurrency
        self.limiter = limiter
        self.limits = limits
        self.meter = meter
        self.key_spec = key_spec
        self._provider = provider
        self._policy = RetryPolicy(max_retries=retries)
        self._io = io
        self._engine = engine
        self._lock = threading.Lock()
        self._sequence = 0
        self._queue: asyncio.PriorityQueue[tuple[int, int, _Job]] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._clients: list[Any] = []
        self._ssl_context: Any = None
        self._stats = ChannelStats(name, concurrency)

    def __repr__(self) -> str:
        return f"<ModelChannel {self.name} concurrency {self.concurrency}>"

    # -- any thread -------------------------------------------------------------------------

    def submit(self, request: CallRequest, *, priority: int) -> concurrent.futures.Future:
        """Queue one call; its answer (a Completion) or failure arrives in the future."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            self._sequence += 1
            sequence = self._sequence
            self._stats.submitted += 1
            self._stats.queued += 1
        self._io.call_soon(self._enqueue, (priority, sequence, _Job(request, future)))
        return future

    def stats(self) -> ChannelStats:
        with self._lock:
            return self._stats.snapshot()

    @property
    def outstanding(self) -> int:
        """Calls queued or in flight."""
        with self._lock:
            return self._stats.outstanding

    def wait(self, future: concurrent.futures.Future) -> Completion:
        """Block this thread until the call's answer arrives (its failure is raised)."""
        return self._engine.wait(future)

    async def await_answer(self, future: concurrent.futures.Future) -> Completion:
        """Await the call's answer from a coroutine on another loop (its failure is raised)."""
        return await self._engine.await_answer(future)

    # -- the I/O loop -----------------------------------------------------------------------

    def _enqueue(self, item: tuple[int, int, _Job]) -> None:
        if self._queue is None:
            self._engine.started()
            self._queue = asyncio.PriorityQueue()
            self._workers = [asyncio.get_running_loop().create_task(self._serve())
                             for _ in range(self.concurrency)]
        self._queue.put_nowait(item)

    async def _serve(self) -> None:
        assert self._queue is not None
        pool: list[Any] = []  # this worker's connection (one call at a time: one connection)
        while True:
            priority, _, job = await self._queue.get()
            with self._lock:
                self._stats.queued -= 1
            if not job.future.set_running_or_notify_cancel():
                continue  # the run it was fetched for is over
            try:
                completion = await self._perform(job.request, priority, pool)
            except asyncio.CancelledError:
                job.future.set_exception(RuntimeError("the session ended before this model call was answered"))
                raise
            except BaseException as exc:  # the call's failure is its answer
                with self._lock:
                    self._stats.failed += 1
                job.future.set_exception(exc)
            else:
                job.future.set_result(completion)
            self._engine.answered()

    async def _perform(self, request: CallRequest, priority: int = 0, pool: list[Any] | None = None) -> Completion:
        limiter, limits = self.limiter, self.limits
        retries = failures = throttles = 0
        while True:
            slot = await limiter.acquire(limits, self.name, request.estimated_tokens() if limits.tpm else 0,
                                         priority=priority)
            _LAST_RESPONSE.set(None)
            self._started_call()
            try:
                await self._spend_check()
                completion = await self._attempt(request, pool if pool is not None else [])
            except ModelCallError as exc:
                seen = _LAST_RESPONSE.get()
                status = exc.status_code
                headers = seen[1] if seen is not None and seen[0] == status else None
                timed_out = isinstance(exc, ModelTimeoutError)
                if throttle_status(status) or _shed(exc, seen):
                    await limiter.throttled(slot, headers)
                    limiter.release(slot)
                    self._ended_call(throttled=True)
                    if throttles < THROTTLE_RETRIES:
                        throttles += 1
                        retries += 1
                        continue
                    raise after_attempts(exc, retries + 1) from exc
                limiter.release(slot)
                self._ended_call()
                retryable = (status is not None and self._policy.should_retry(status, headers)) or (
                    status is None and (not timed_out or seen is None))
                if retryable and failures < self._policy.max_retries:
                    await asyncio.sleep(self._policy.delay(failures, headers))
                    failures += 1
                    retries += 1
                    continue
                raise after_attempts(exc, retries + 1) from exc
            except BaseException:
                limiter.release(slot)
                self._ended_call()
                raise
            tokens = None
            if completion.input_tokens is not None and completion.output_tokens is not None:
                tokens = completion.input_tokens + completion.output_tokens
            await limiter.succeeded(slot, model_limits=limits, tokens=tokens)
            limiter.release(slot)
            self._ended_call()
            if retries:
                completion = dataclasses.replace(completion, retries=completion.retries + retries)
            await self._spent(completion, retries)
            return completion

    def _started_call(self) -> None:
        with self._lock:
            stats = self._stats
            stats.in_flight += 1
            stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
            if stats.started_at is None:
                stats.started_at = time.perf_counter()

    def _ended_call(self, *, throttled: bool = False) -> None:
        with self._lock:
            self._stats.in_flight -= 1
            self._stats.throttled += throttled

    async def _spend_check(self) -> None:
        if getattr(self.meter, "ledger", None) is not None:
            await asyncio.to_thread(self.meter.before_call)

    async def _spent(self, completion: Completion, retries: int) -> None:
        cost = self.meter.cost(completion)
        if getattr(self.meter, "ledger", None) is not None:
            await asyncio.to_thread(self.meter.after_call, cost)
        with self._lock:
            stats = self._stats
            stats.completed += 1
            stats.retries += retries
            stats.finished_at = time.perf_counter()
            if cost is None:
                stats.unpriced += 1
            else:
                stats.cost_usd += cost

    async def _attempt(self, request: CallRequest, pool: list[Any]) -> Completion:
        provider = self._provider()
        arguments: dict[str, Any] = {"max_tokens": request.max_tokens, "temperature": request.temperature,
                                     "timeout": request.timeout, **request.params}
        native = getattr(provider, "acomplete", None)
        if native is None:
            return await asyncio.to_thread(lambda: provider.complete(request.messages, **arguments))
        if hasattr(provider, "async_client"):
            if not pool:
                pool.append(self._client_for(provider))
            arguments["client"] = pool[0]
        if _takes_max_retries(native):
            arguments["max_retries"] = 0
        return await native(request.messages, **arguments)

    def _client_for(self, provider: Any) -> Any:
        """A worker's connection pool: one kept-alive connection (httpx's pool scans all its
        connections, with a system call each, for every request: a pool of one per worker keeps
        that constant at any concurrency), responses observed, one TLS context for all."""
        import httpx

        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
        transport = httpx.AsyncHTTPTransport(
            verify=self._ssl_context, limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
        client = provider.async_client(transport=transport)
        client.event_hooks = {"request": [], "response": [self._observe]}
        self._clients.append(client)
        return client

    async def _observe(self, response: Any) -> None:
        _LAST_RESPONSE.set((response.status_code, response.headers))
        await self.limiter.observe(response.headers)

    async def aclose(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        if self._queue is not None:
            while not self._queue.empty():
                _, _, job = self._queue.get_nowait()
                job.future.cancel()
        clients, self._clients = self._clients, []
        for client in clients:
            try:
                await client.aclose()
            except Exception:  # a broken connection cannot stop the session from ending
                pass


class CallEngine:
    """The channels of a session's models, on the plugin's I/O loop (module doc).

    ``on_wait`` (set by the plugin) is called about every :data:`WAIT_TICK_S` seconds while a
    thread waits for an answer, and ``on_wait_end`` when it stops waiting: the progress line.
    """

    def __init__(self, io: Any, *, threads: int = 8) -> None:
        self.channels: dict[str, ModelChannel] = {}
        self.limiters: dict[str, RateLimiter] = {}
        self.on_wait: Callable[[], None] | None = None
        self.on_wait_end: Callable[[], None] | None = None
        self._io = io
        self._threads = threads
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._answered = threading.Condition()
        self._answers = 0

    def add(self, name: str, provider: Callable[[], Provider], **options: Any) -> ModelChannel:
        channel = ModelChannel(name, provider, io=self._io, engine=self, **options)
        self.channels[name] = channel
        self.limiters[channel.limiter.endpoint] = channel.limiter
        return channel

    def answered(self) -> None:
        """A call's answer (or failure) has arrived: wake whoever waits for one."""
        with self._answered:
            self._answers += 1
            self._answered.notify_all()

    def answers(self) -> int:
        """How many answers (or failures) have arrived so far."""
        with self._answered:
            return self._answers

    def wait_any(self, seen: int) -> None:
        """Wait until more than ``seen`` answers have arrived, at most :data:`WAIT_TICK_S`
        seconds (then ``on_wait`` is called: the progress line)."""
        with self._answered:
            arrived = self._answered.wait_for(lambda: self._answers != seen, timeout=WAIT_TICK_S)
        if not arrived and self.on_wait is not None:
            self.on_wait()

    def started(self) -> None:
        """On the loop, at the first call: room for every worker's thread (providers without
        a native async path, sync ``python:`` models)."""
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=max(self._threads, 8), thread_name_prefix="modelbench-call")
            asyncio.get_running_loop().set_default_executor(self._executor)

    def wait(self, future: concurrent.futures.Future) -> Completion:
        on_wait = self.on_wait
        if on_wait is None:
            return future.result()
        try:
            while True:
                try:
                    return future.result(timeout=WAIT_TICK_S)
                except concurrent.futures.TimeoutError:
                    if future.done():  # the call itself failed with a TimeoutError
                        raise
                    on_wait()
        finally:
            if self.on_wait_end is not None:
                self.on_wait_end()

    async def await_answer(self, future: concurrent.futures.Future) -> Completion:
        """:meth:`wait` for a coroutine on another loop (``await model.acomplete()``)."""
        wrapped = asyncio.wrap_future(future)
        on_wait = self.on_wait
        if on_wait is None:
            return await wrapped
        try:
            while True:
                done, _ = await asyncio.wait({wrapped}, timeout=WAIT_TICK_S)
                if done:
                    return wrapped.result()
                on_wait()
        finally:
            if not wrapped.done():
                wrapped.cancel()
            if self.on_wait_end is not None:
                self.on_wait_end()

    def stats(self) -> dict[str, ChannelStats]:
        return {name: channel.stats() for name, channel in self.channels.items()}

    def close(self) -> None:
        """Cancel what is queued, stop the workers, close the connection pools."""
        if not self.channels or not self._io.running:
            return

        async def close_all() -> None:
            await asyncio.gather(*(channel.aclose() for channel in self.channels.values()))

        try:
            self._io.run(close_all())
        except Exception:  # the loop is going away anyway
            pass


__all__ = ["DEFAULT_OUTPUT_TOKENS", "THROTTLE_RETRIES", "URGENT", "CallEngine", "CallRequest",
           "ChannelStats", "ModelChannel"]
