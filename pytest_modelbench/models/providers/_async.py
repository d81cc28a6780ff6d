"""The async twins of the HTTP machinery in ``_http.py``, for providers' ``acomplete``.

Each function here does what its namesake in ``_http.py`` does, on an ``httpx.AsyncClient``:
same retry rules (:class:`~._http.RetryPolicy`, :class:`~._http.RetryableFailure`), same
reading of the body (:class:`~._http.StreamReading` for event streams, the same JSON checks),
same protections and the same error messages (:class:`~._http.CallErrors`):

- the body is read raw and decoded here (identity, gzip, deflate) a bounded piece at a time,
  and stops past ``max_response_bytes`` *decoded* bytes (:class:`~._http.BodyTooLarge`), so a
  compression bomb or an endless stream cannot exhaust memory;
- the whole attempt is bounded by its deadline: sending the request and waiting for the
  response headers, then every read of the body, are each given only the time left
  (``asyncio.timeout``), so a server trickling its headers or its body is cut off at the
  deadline, as :class:`~._http.DeadlineTransport` does for the sync path;
- event streams go through the linear SSE decoder with its line limit, and a body that is not
  an event stream (an HTML page from a proxy) is reported as such.

Only the waiting is asynchronous, so a provider's sync and async paths measure and fail alike.
Needs an asyncio event loop (the plugin's I/O loop, or the test's). Does not import pytest.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx

from ..completion import Completion
from ._http import (
    ACCEPT_ENCODING,
    DEFAULT_MAX_RESPONSE_BYTES,
    ERROR_BODY_LIMIT,
    READ_FAILURES,
    BodyReading,
    BodyTooLarge,
    CallErrors,
    Deadline,
    DeadlineExceeded,
    ErrorBody,
    FellBack,
    JSONReply,
    OpenResponse,
    Received,
    RetryableFailure,
    RetryPolicy,
    StreamAssembly,
    StreamReading,
    after_attempts,
    encode_json_body,
    http_timeout,
    json_read_failed,
    json_reply,
)

T = TypeVar("T")


async def acall_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """:func:`~._http.call_with_retries` for a coroutine ``attempt``."""
    retries_taken = 0
    while True:
        try:
            return await attempt()
        except RetryableFailure as failure:
            if retries_taken >= policy.max_retries:
                raise after_attempts(failure.error, retries_taken + 1) from failure.__cause__
            await sleep(policy.delay(retries_taken, failure.headers))
            retries_taken += 1


async def asend_with_fallbacks(attempt: Callable[[], Awaitable[T]], max_fallbacks: int) -> T:
    """:func:`~._http.send_with_fallbacks` for a coroutine ``attempt``."""
    for _ in range(max_fallbacks):
        try:
            return await attempt()
        except FellBack:
            continue
    return await attempt()


def make_async_client(headers: Mapping[str, str], seconds: float,
                      transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """:func:`~._http.make_client` for async calls: ``seconds`` for every timeout, no redirects,
    only the content codings the readers decode."""
    return httpx.AsyncClient(
        transport=transport, headers={"Accept-Encoding": ACCEPT_ENCODING, **dict(headers)},
        timeout=http_timeout(seconds), follow_redirects=False,
    )


async def within(deadline: Deadline, awaitable: Awaitable[T], error: type[httpx.TimeoutException]) -> T:
    """Await ``awaitable`` for at most the time left of ``deadline``; ``error`` (an httpx
    timeout, so that it is judged as httpx's own) when the deadline passes first. Under an
    event loop other than asyncio's (trio through anyio), httpx's own per-operation timeouts
    are the only bound."""
    if not _in_asyncio() or not math.isfinite(deadline.seconds):
        return await awaitable  # under another event loop (trio): httpx's own timeouts only
    left = deadline.remaining()
    if left <= 0:
        close = getattr(awaitable, "close", None)
        if close is not None:  # never awaited: no "was never awaited" warning
            close()
        raise error("the attempt's deadline passed")
    try:
        async with asyncio.timeout(left):
            return await awaitable
    except TimeoutError:
        raise error("the attempt's deadline passed") from None


@contextlib.asynccontextmanager
async def aopen_response(
    client: httpx.AsyncClient, url: str, body: Mapping[str, Any], *, seconds: float,
    errors: CallErrors, headers: Mapping[str, str] | None = None,
) -> AsyncIterator[OpenResponse]:
    """:func:`~._http.open_response` on an AsyncClient. ``headers`` are added to the request
    (an async client made elsewhere lacks the provider's own headers). Sending the request and
    waiting for the response headers get the time left of the attempt's deadline."""
    content = encode_json_body(body)
    request_headers = dict(headers or {})
    request_headers["Accept"] = "text/event-stream" if body.get("stream") else "application/json"
    request_headers["Accept-Encoding"] = ACCEPT_ENCODING
    request = client.build_request(
        "POST", url, content=content, headers=request_headers, timeout=http_timeout(seconds),
    )
    deadline = Deadline.starting_now(seconds)
    try:
        response = await within(deadline, client.send(request, stream=True), httpx.ReadTimeout)
    except httpx.TimeoutException as exc:
        raise RetryableFailure(errors.timeout(seconds, "waiting for the response")) from exc
    except httpx.TransportError as exc:
        raise RetryableFailure(errors.connection(exc)) from exc
    try:
        yield OpenResponse(response, deadline)
    finally:
        await response.aclose()


async def aiter_body(response: httpx.Response, deadline: Deadline,
                     limit: int = DEFAULT_MAX_RESPONSE_BYTES) -> AsyncIterator[Received]:
    """:func:`~._http.iter_body` on an async response: the decoded body as it arrives, 64 KiB
    at most per step; BodyTooLarge past ``limit`` decoded bytes; each read waits at most the
    time left (an ``httpx.ReadTimeout`` at the deadline), and DeadlineExceeded once a read
    arrives past it."""
    body = BodyReading(response, deadline, limit)
    # httpx.StreamConsumed when read before, as httpx's own iterators say
    reads: AsyncIterator[bytes] = _one(body.content) if body.content is not None else response.aiter_raw()
    async with contextlib.aclosing(reads):
        while True:
            try:
                raw = await within(deadline, anext(reads), httpx.ReadTimeout)
            except StopAsyncIteration:
                break
            for received in body.decoded(raw):
                yield received
    for received in body.flushed():
        yield received


def _in_asyncio() -> bool:
    try:
        return asyncio.current_task() is not None
    except RuntimeError:  # no asyncio loop runs this coroutine
        return False


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def aread_error_body(response: httpx.Response, deadline: Deadline) -> ErrorBody:
    """:func:`~._http.read_error_body` on an async response."""
    data = bytearray()
    try:
        async with contextlib.aclosing(aiter_body(response, deadline, ERROR_BODY_LIMIT)) as body:
            async for received in body:
                data += received.data
    except (BodyTooLarge, DeadlineExceeded, httpx.HTTPError):
        pass
    return ErrorBody(bytes(data[:ERROR_BODY_LIMIT]))


async def aread_sse_stream(
    response: httpx.Response, deadline: Deadline, errors: CallErrors, assembly: StreamAssembly,
    *, end_marker: str, stop_field: str, unit: str, limit: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> Completion:
    """:func:`~._http.read_sse_stream` on an async response (same rules, same messages)."""
    reading = StreamReading(response, deadline, errors, assembly, end_marker=end_marker,
                            stop_field=stop_field, unit=unit)
    try:
        async with contextlib.aclosing(aiter_body(response, deadline, limit)) as body:
            async for received in body:
                completion = reading.add(received)
                if completion is not None:
                    await _finish_body(body)
                    return completion
        completion = reading.flush_head()
    except READ_FAILURES as exc:
        return reading.failed(exc)
    if completion is not None:
        return completion
    return reading.end()


#: After a stream's end marker, how long the end of its body may take to arrive, and how many
#: bytes of it are read, for the connection to go back to the pool.
DRAIN_S = 0.05
DRAIN_LIMIT = 65536


async def _finish_body(body: AsyncIterator[Received]) -> None:
    """Read the end of a body whose answer is complete (normally the close of the chunked
    encoding, sent with the end marker), so that the connection goes back to the pool rather
    than being closed; after :data:`DRAIN_S` seconds or :data:`DRAIN_LIMIT` bytes, give up
    (the connection is closed, as it would have been)."""
    drained = 0
    try:
        while drained <= DRAIN_LIMIT:
            received = await asyncio.wait_for(body.__anext__(), DRAIN_S)
            drained += len(received.data)
    except Exception:  # the end of the body, a pause, a broken connection: the answer is complete
        pass


async def aread_json_object(response: httpx.Response, deadline: Deadline, errors: CallErrors,
                            limit: int = DEFAULT_MAX_RESPONSE_BYTES) -> JSONReply:
    """:func:`~._http.read_json_object` on an async response."""
    data = bytearray()
    last_at = deadline.start
    try:
        async with contextlib.aclosing(aiter_body(response, deadline, limit)) as body:
            async for received in body:
                data += received.data
                last_at = received.at
    except READ_FAILURES as exc:
        json_read_failed(exc, len(data), deadline, errors)
    return json_reply(response, data, last_at, errors)
