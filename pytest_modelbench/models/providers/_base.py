"""What the HTTP providers (``openai.py``, ``anthropic.py``) share. Does not import pytest.

:class:`HTTPProvider` holds one provider's settings and its connection pool, and runs a call:
the checks of its arguments, the retries (:func:`~._http.call_with_retries`), the re-sends
after a fallback (:func:`~._http.send_with_fallbacks`), one attempt (a JSON POST read as an
event stream or as one JSON body), and the same on an ``httpx.AsyncClient`` for
``acomplete`` (``_async.py``). A provider says what differs: its endpoint and defaults (class
attributes), the body it sends (:meth:`~HTTPProvider._body`), which rejections it falls back
from (:meth:`~HTTPProvider._fall_back`), how it parses its stream and its JSON reply, and its
headers.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

import httpx

from ..._exceptions import ConfigError, ModelError
from ..completion import Completion
from ._http import (
    DEFAULT_MAX_RESPONSE_BYTES,
    CallErrors,
    Deadline,
    ErrorBody,
    FellBack,
    JSONReply,
    RetryPolicy,
    Secret,
    StreamAssembly,
    call_with_retries,
    check_api_root,
    check_headers_in_time,
    check_max_response_bytes,
    check_max_retries,
    check_max_tokens,
    check_model,
    check_params,
    check_reserved_params,
    check_seconds,
    check_stream,
    check_temperature,
    endpoint_url,
    is_event_stream,
    make_client,
    merge_request_params,
    open_response,
    read_error_body,
    read_json_object,
    read_sse_stream,
    safe_url,
    send_with_fallbacks,
    status_failure,
    without_traceback,
)


class HTTPProvider:
    """A model behind an HTTP API that takes a JSON POST and answers with an event stream or
    one JSON body. See :class:`~.openai.OpenAIProvider` for the arguments.

    A subclass sets the class attributes and implements :meth:`_prepare`, :meth:`_body`,
    :meth:`_fall_back`, :meth:`_assembly`, :meth:`_json_completion` and :meth:`_headers`.
    """

    #: The API root a base URL is shown as in the error message of a bad one.
    DEFAULT_BASE_URL: ClassVar[str]
    #: The endpoint below the API root, and the endings of a base URL cut back to its root.
    ENDPOINT: ClassVar[str]
    ENDPOINT_SUFFIXES: ClassVar[tuple[str, ...]]
    #: Body fields the provider owns; they cannot be passed as request parameters.
    RESERVED_PARAMS: ClassVar[tuple[str, ...]]
    #: Most re-sends after a FellBack in one attempt (each fallback turns a feature off for good).
    MAX_FALLBACKS: ClassVar[int]
    #: How the event stream ends, the field that says the reply is whole, and what one event is
    #: called in messages (:func:`~._http.read_sse_stream`).
    STREAM_END: ClassVar[str]
    STOP_FIELD: ClassVar[str]
    STREAM_UNIT: ClassVar[str]

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        params: dict | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        stream: bool = True,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.model = check_model(model)
        self.base_url = check_api_root(base_url, endpoint_suffixes=self.ENDPOINT_SUFFIXES,
                                       example=self.DEFAULT_BASE_URL)
        self.max_response_bytes = check_max_response_bytes(max_response_bytes)
        self.timeout = check_seconds(timeout, "timeout", ConfigError)
        self.max_retries = check_max_retries(max_retries)
        self.params = self._check_params(params)
        self._stream = check_stream(stream)
        self._sleep = sleep
        self._policy = RetryPolicy(max_retries=max_retries)
        self._secret = Secret(api_key) if api_key else None
        self._errors = CallErrors(model=model, base_url=self.base_url, secret=self._secret)
        self._url = endpoint_url(self.base_url, self.ENDPOINT)
        self._client = make_client(transport, self._headers(), self.timeout)
        self._closed = False

    # ------------------------------------------------------------------ public

    @property
    def stream(self) -> bool:
        """Whether calls stream now (False after the server rejected streaming)."""
        return self._stream

    def complete(
        self,
        messages: list[dict],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> Completion:
        """Send ``messages`` and return the reply with its measurements.

        ``max_tokens``, ``temperature`` and any extra keyword (``top_p``, ``seed``, ``tools``,
        ...) go into the JSON body over the provider's default ``params``; None means "not
        given" (the default, if any, is sent; otherwise the field is left out). ``timeout``
        overrides the provider's for this call.

        Raises ModelCallError (HTTP error or connection failure, after retries; its
        ``status_code`` is the last status or None), ModelTimeoutError, ModelResponseError
        (truncated stream, body that is not JSON, an error in the stream).
        """
        conversation, request_params, call_timeout = self._checked(messages, max_tokens, temperature, timeout, params)
        attempts = 0

        def attempt() -> Completion:
            nonlocal attempts
            attempts += 1
            return send_with_fallbacks(
                lambda: self._attempt(conversation, request_params, call_timeout), self.MAX_FALLBACKS
            )

        try:
            completion = call_with_retries(attempt, policy=self._policy, sleep=self._sleep)
        except ModelError as exc:
            raise without_traceback(exc) from None
        return _with_retries(completion, attempts)

    async def acomplete(
        self,
        messages: list[dict],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        timeout: float | None = None,
        client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[object]] | None = None,
        max_retries: int | None = None,
        **params: Any,
    ) -> Completion:
        """:meth:`complete` without blocking: the same request, retries, fallbacks, measurements
        and errors, sent with an ``httpx.AsyncClient``.

        ``client`` is the connection pool to use (from :meth:`async_client`, or any AsyncClient:
        the provider adds its headers to each request); without one, a client is opened for
        this call and closed after it (a new connection each time). ``sleep`` replaces
        ``asyncio.sleep`` between retries; ``max_retries`` replaces the provider's retries for
        this call (0: one attempt, for a caller that retries itself, as the rate limiter does).
        """
        from ._async import acall_with_retries, asend_with_fallbacks

        conversation, request_params, call_timeout = self._checked(messages, max_tokens, temperature, timeout, params)
        attempts = 0

        async def run(pool: httpx.AsyncClient) -> Completion:
            async def attempt() -> Completion:
                nonlocal attempts
                attempts += 1
                return await asend_with_fallbacks(
                    lambda: self._aattempt(pool, conversation, request_params, call_timeout), self.MAX_FALLBACKS
                )

            options = {} if sleep is None else {"sleep": sleep}
            policy = self._policy if max_retries is None else dataclasses.replace(
                self._policy, max_retries=check_max_retries(max_retries))
            return await acall_with_retries(attempt, policy=policy, **options)

        try:
            if client is None:
                async with self.async_client() as pool:
                    completion = await run(pool)
            else:
                completion = await run(client)
        except ModelError as exc:
            raise without_traceback(exc) from None
        return _with_retries(completion, attempts)

    def async_client(self, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
        """A new ``httpx.AsyncClient`` with this provider's headers and timeouts, for
        :meth:`acomplete`; the caller closes it (``await client.aclose()``) on its event loop."""
        from ._async import make_async_client

        return make_async_client(self._headers(), self.timeout, transport)

    def close(self) -> None:
        """Close the connection pool. Idempotent."""
        self._closed = True
        self._client.close()

    def __enter__(self) -> HTTPProvider:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={safe_url(self.base_url)!r})"

    # ------------------------------------------------------------------ arguments

    def _check_params(self, params: Any) -> dict[str, Any]:
        """The provider's default request parameters, checked (ConfigError)."""
        return check_params(params, self.RESERVED_PARAMS)

    def _checked(
        self, messages: Any, max_tokens: int | None, temperature: float | None,
        timeout: float | None, params: Mapping[str, Any],
    ) -> tuple[Any, dict[str, Any], float]:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed; create a new provider")
        return self._prepare(messages, max_tokens, temperature, timeout, params)

    def _call_params(
        self, max_tokens: int | None, temperature: float | None, timeout: float | None,
        params: Mapping[str, Any],
    ) -> tuple[dict[str, Any], float]:
        """Check a call's arguments: its request parameters and its timeout in seconds."""
        if max_tokens is not None:
            check_max_tokens(max_tokens)
        check_temperature(temperature)
        call_timeout = self.timeout if timeout is None else check_seconds(timeout, "timeout", ValueError)
        check_reserved_params(params, self.RESERVED_PARAMS, ValueError)
        request_params = merge_request_params(
            self.params, params, max_tokens=max_tokens, temperature=temperature
        )
        return request_params, call_timeout

    def _prepare(
        self, messages: Any, max_tokens: int | None, temperature: float | None,
        timeout: float | None, params: Mapping[str, Any],
    ) -> tuple[Any, dict[str, Any], float]:
        """A call's checked arguments: what :meth:`_body` sends as the conversation, the
        request parameters and the timeout in seconds (with :meth:`_call_params`)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ one attempt

    def _attempt(self, conversation: Any, request_params: dict[str, Any], seconds: float) -> Completion:
        body = self._body(conversation, request_params)
        with open_response(self._client, self._url, body, seconds=seconds, errors=self._errors) as opened:
            response, deadline = opened.response, opened.deadline
            if not response.is_success:
                self._reject(response, body, deadline)
            check_headers_in_time(deadline, self._errors)
            if is_event_stream(response, body):
                return read_sse_stream(
                    response, deadline, self._errors, self._assembly(),
                    end_marker=self.STREAM_END, stop_field=self.STOP_FIELD, unit=self.STREAM_UNIT,
                    limit=self.max_response_bytes,
                )
            reply = read_json_object(response, deadline, self._errors, self.max_response_bytes)
            return self._json_completion(reply, deadline.start)

    async def _aattempt(
        self, client: httpx.AsyncClient, conversation: Any, request_params: dict[str, Any], seconds: float
    ) -> Completion:
        from ._async import aopen_response, aread_error_body, aread_json_object, aread_sse_stream

        body = self._body(conversation, request_params)
        async with aopen_response(
            client, self._url, body, seconds=seconds, errors=self._errors, headers=self._headers()
        ) as opened:
            response, deadline = opened.response, opened.deadline
            if not response.is_success:
                self._judge_rejection(response, body, await aread_error_body(response, deadline))
            check_headers_in_time(deadline, self._errors)
            if is_event_stream(response, body):
                return await aread_sse_stream(
                    response, deadline, self._errors, self._assembly(),
                    end_marker=self.STREAM_END, stop_field=self.STOP_FIELD, unit=self.STREAM_UNIT,
                    limit=self.max_response_bytes,
                )
            reply = await aread_json_object(response, deadline, self._errors, self.max_response_bytes)
            return self._json_completion(reply, deadline.start)

    def _reject(self, response: httpx.Response, body: dict[str, Any], deadline: Deadline) -> None:
        """Handle a non-2xx response: fall back, retry or fail. Always raises."""
        self._judge_rejection(response, body, read_error_body(response, deadline))

    def _judge_rejection(self, response: httpx.Response, body: dict[str, Any], error_body: ErrorBody) -> None:
        """Fall back, retry or fail after a non-2xx response whose error body was read. Always raises."""
        if self._fall_back(response.status_code, error_body.text(), body):
            raise FellBack
        raise status_failure(response, error_body, self._errors, self._policy)

    # ------------------------------------------------------------------ what a provider says

    def _body(self, conversation: Any, request_params: dict[str, Any]) -> dict[str, Any]:
        """The JSON body of one attempt (it may change after a fallback)."""
        raise NotImplementedError

    def _fall_back(self, status: int, error_text: str, body: dict[str, Any]) -> bool:
        """Whether an error status to ``body`` rejects a feature the provider turns off for
        good (True: the request is sent again without it)."""
        raise NotImplementedError

    def _assembly(self) -> StreamAssembly:
        """A new parser of the provider's event stream."""
        raise NotImplementedError

    def _json_completion(self, reply: JSONReply, sent_at: float) -> Completion:
        """The Completion of a whole (non-streamed) JSON reply."""
        raise NotImplementedError

    def _headers(self) -> dict[str, str]:
        """The headers of every request (the key among them, when there is one)."""
        raise NotImplementedError


def _with_retries(completion: Completion, attempts: int) -> Completion:
    """``completion`` counting the ``attempts - 1`` attempts that failed before it."""
    return dataclasses.replace(completion, retries=attempts - 1) if attempts > 1 else completion
