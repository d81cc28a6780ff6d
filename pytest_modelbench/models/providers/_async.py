"""The async twins of the HTTP machinery in ``_http.py``, for providers' ``acomplete``.

Each function here does what its namesake in ``_http.py`` does, on an ``httpx.AsyncClient``:
same retry rules (:class:`~._http.RetryPolicy`, :class:`~._http.RetryableFailure`), same
deadline checked after every network read, same SSE parsing (:class:`~._http.SSEDecoder` fed
by the reads) and the same error messages (:class:`~._http.CallErrors`). Only the waiting is
asynchronous, so a provider's sync and async paths measure and fail alike. Does not import
pytest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx

from ..completion import Completion
from ._http import (
    ERROR_BODY_LIMIT,
    CallErrors,
    Deadline,
    DeadlineExceeded,
    FellBack,
    JSONReply,
    OpenResponse,
    Received,
    RetryableFailure,
    RetryPolicy,
    SSEDecoder,
    StreamAssembly,
    _after_attempts,
    encode_json_body,
    error_excerpt,
    http_timeout,
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
                raise _after_attempts(failure.error, retries_taken + 1) from failure.__cause__
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
    """:func:`~._http.make_client` for async calls: ``seconds`` for every timeout, no redirects."""
    return httpx.AsyncClient(
        transport=transport, headers=dict(headers), timeout=http_timeout(seconds), follow_redirects=False,
    )


@contextlib.asynccontextmanager
async def aopen_response(
    client: httpx.AsyncClient, url: str, body: Mapping[str, Any], *, seconds: float,
    errors: CallErrors, headers: Mapping[str, str] | None = None,
) -> AsyncIterator[OpenResponse]:
    """:func:`~._http.open_response` on an AsyncClient. ``headers`` are added to the request
    (an async client made elsewhere lacks the provider's own headers)."""
    content = encode_json_body(body)
    request_headers = dict(headers or {})
    request_headers["Accept"] = "text/event-stream" if body.get("stream") else "application/json"
    request = client.build_request(
        "POST", url, content=content, headers=request_headers, timeout=http_timeout(seconds),
    )
    deadline = Deadline.starting_now(seconds)
    try:
        response = await client.send(request, stream=True)
    except httpx.TimeoutException as exc:
        raise RetryableFailure(errors.timeout(seconds, "waiting for the response")) from exc
    except httpx.TransportError as exc:
        raise RetryableFailure(errors.connection(exc)) from exc
    try:
        yield OpenResponse(response, deadline)
    finally:
        await response.aclose()


async def aiter_body(response: httpx.Response, deadline: Deadline) -> AsyncIterator[Received]:
    """:func:`~._http.iter_body` on an async response."""
    async for data in response.aiter_bytes():
        if not data:
            continue
        at = time.perf_counter()
        yield Received(data, at)
        if deadline.expired():
            raise DeadlineExceeded(f"deadline of {deadline.seconds:g} s passed")


async def aread_error_body(response: httpx.Response, deadline: Deadline) -> bytes:
    """:func:`~._http.read_error_body` on an async response."""
    data = bytearray()
    try:
        async for received in aiter_body(response, deadline):
            data += received.data
            if len(data) >= ERROR_BODY_LIMIT:
                break
    except (DeadlineExceeded, httpx.HTTPError):
        pass
    return bytes(data[:ERROR_BODY_LIMIT])


async def aread_sse_stream(
    response: httpx.Response, deadline: Deadline, errors: CallErrors, assembly: StreamAssembly,
    *, end_marker: str, stop_field: str, unit: str,
) -> Completion:
    """:func:`~._http.read_sse_stream` on an async response (same rules, same messages)."""
    decoder = SSEDecoder()
    bytes_received = 0
    body = aiter_body(response, deadline)
    try:
        async for received in body:
            bytes_received += len(received.data)
            for event in decoder.feed(received.data):
                if assembly.add(event, received.at):
                    completion = assembly.completion(deadline.start, received.at)
                    await _finish_body(body)
                    return completion
    except DeadlineExceeded:
        raise errors.timeout(deadline.seconds, "while the stream was still arriving") from None
    except httpx.TimeoutException as exc:
        error = errors.timeout(deadline.seconds, f"waiting for the next stream {unit}")
        if bytes_received == 0:
            raise RetryableFailure(error) from exc
        raise error from exc
    except httpx.TransportError as exc:
        if bytes_received == 0:
            raise RetryableFailure(errors.connection(exc)) from exc
        if assembly.finished:
            return assembly.completion(deadline.start, assembly.last_at)
        raise errors.response(
            f"stream cut off before {end_marker} and before a {stop_field} "
            f"({type(exc).__name__}: {exc}; {assembly.progress()})"
        ) from exc
    except httpx.DecodingError as exc:
        raise errors.response(f"stream could not be decoded ({exc})") from exc
    ended_at = time.perf_counter()
    for event in decoder.close():
        if assembly.add(event, ended_at, at_end=True):
            return assembly.completion(deadline.start, ended_at)
    if bytes_received == 0:
        raise errors.response(f"empty body (HTTP {response.status_code})")
    if assembly.finished:
        return assembly.completion(deadline.start, assembly.last_at or ended_at)
    raise errors.response(
        f"stream ended before {end_marker} and before a {stop_field}, so the reply is "
        f"truncated ({assembly.progress()})"
    )


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
    except (StopAsyncIteration, asyncio.TimeoutError, DeadlineExceeded, httpx.HTTPError):
        pass


async def aread_json_object(response: httpx.Response, deadline: Deadline, errors: CallErrors) -> JSONReply:
    """:func:`~._http.read_json_object` on an async response."""
    data = bytearray()
    last_at = deadline.start
    try:
        async for received in aiter_body(response, deadline):
            data += received.data
            last_at = received.at
    except DeadlineExceeded:
        raise errors.timeout(deadline.seconds, "while the body was still arriving") from None
    except httpx.TimeoutException as exc:
        error = errors.timeout(deadline.seconds, "reading the body")
        if not data:
            raise RetryableFailure(error) from exc
        raise error from exc
    except httpx.TransportError as exc:
        if not data:
            raise RetryableFailure(errors.connection(exc)) from exc
        raise errors.response(
            f"connection closed after {len(data)} bytes of the body ({type(exc).__name__}: {exc})"
        ) from exc
    except httpx.DecodingError as exc:
        raise errors.response(f"body could not be decoded ({exc})") from exc
    if not data:
        raise errors.response(f"empty body (HTTP {response.status_code})")
    body = bytes(data)
    try:
        payload = json.loads(body)
    except ValueError:
        raise errors.response(f"body is not JSON: {error_excerpt(body)!r}") from None
    if not isinstance(payload, dict):
        raise errors.response(f"body is not a JSON object: {error_excerpt(body)!r}")
    return JSONReply(payload, body, last_at)
