"""A scriptable OpenAI-compatible HTTP server on 127.0.0.1 for tests.

Usage::

    with FakeOpenAI() as server:
        server.reply(error_reply(500, "boom"), stream_reply(["Hel", "lo"], usage=(5, 2)))
        provider = OpenAIProvider("m", base_url=server.url, api_key="sk-test")
        ...
        assert server.requests[0].body["stream"] is True

``server.reply(...)`` queues one responder per coming request; when the queue is empty the
responder given to ``server.always(...)`` answers (by default: a 500 saying nothing was
scripted). A responder is a :class:`Reply` or a function of the :class:`RecordedRequest`
returning one. A reply is written exactly as described: status, headers, then its ``parts``
(bytes written and flushed one by one, :class:`Pause` waits in between), chunked or with a
Content-Length, complete or cut off by closing the connection. Every request received is
recorded in ``server.requests`` (method, path, lower-cased headers, parsed JSON body).

``fake_openai_server()`` is the same as a context manager factory, for fixtures.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import http.server
import json
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

# --------------------------------------------------------------------------- replies


@dataclasses.dataclass(frozen=True, slots=True)
class Pause:
    """Wait this many seconds before writing the next part (ends early when the server stops)."""

    seconds: float


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    """One scripted HTTP response.

    ``delay_headers``: seconds to wait before the status line. ``drop``: close the connection
    without any response. ``chunked``: Transfer-Encoding chunked, each bytes part one chunk;
    otherwise a Content-Length. ``complete=False``: close the connection before the body is
    finished (no terminating chunk, or fewer bytes than the Content-Length promised).
    """

    status: int = 200
    parts: tuple[bytes | Pause, ...] = ()
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    chunked: bool = False
    complete: bool = True
    delay_headers: float = 0.0
    drop: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw_body: bytes


Responder = Reply | Callable[[RecordedRequest], Reply]


def chunk(
    content: str | None = None,
    *,
    role: str | None = None,
    finish_reason: str | None = None,
    reasoning: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    usage: dict[str, int] | None = None,
    no_choices: bool = False,
    index: int = 0,
    model: str = "fake-model",
) -> dict[str, Any]:
    """A ``chat.completion.chunk`` object as OpenAI streams it."""
    delta: dict[str, Any] = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    if reasoning is not None:
        delta["reasoning_content"] = reasoning
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    payload: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": [] if no_choices else [
            {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        ],
    }
    if usage is not None:
        payload["usage"] = usage
    return payload


def usage_dict(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def sse(payload: dict[str, Any] | str, *, line_ending: str = "\n") -> bytes:
    """One SSE event: ``data: <json or text>`` and a blank line."""
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}{line_ending}{line_ending}".encode()


def comment(text: str = "ping", *, line_ending: str = "\n") -> bytes:
    """An SSE comment line (keep-alive) and a blank line."""
    return f": {text}{line_ending}{line_ending}".encode()


def stream_parts(
    pieces: Sequence[str],
    *,
    usage: tuple[int, int] | None = None,
    role_chunk: bool = True,
    keepalive: bool = False,
    delay: float = 0.0,
    gap: float = 0.0,
    finish_reason: str | None = "stop",
    done: bool = True,
    line_ending: str = "\n",
) -> list[bytes | Pause]:
    """The parts of a chat-completion stream: [keep-alive] [role-only chunk] [pause ``delay``]
    content chunks ([pause ``gap``] between) [finish chunk] [usage chunk, empty choices] [DONE]."""
    parts: list[bytes | Pause] = []
    if keepalive:
        parts.append(comment(line_ending=line_ending))
    if role_chunk:
        parts.append(sse(chunk(role="assistant", content=""), line_ending=line_ending))
    if delay:
        parts.append(Pause(delay))
    for number, piece in enumerate(pieces):
        if number and gap:
            parts.append(Pause(gap))
        if keepalive and number:
            parts.append(comment(line_ending=line_ending))
        parts.append(sse(chunk(piece), line_ending=line_ending))
    if finish_reason is not None:
        parts.append(sse(chunk(finish_reason=finish_reason), line_ending=line_ending))
    if usage is not None:
        parts.append(sse(chunk(no_choices=True, usage=usage_dict(*usage)), line_ending=line_ending))
    if done:
        parts.append(sse("[DONE]", line_ending=line_ending))
    return parts


def stream_reply(
    pieces: Sequence[str],
    *,
    cut: bool = False,
    status: int = 200,
    headers: tuple[tuple[str, str], ...] = (),
    **options: Any,
) -> Reply:
    """A streamed chat completion (see :func:`stream_parts` for ``options``).

    ``cut=True``: stop after the content chunks (no finish chunk, no [DONE]) and drop the
    connection mid-body, as a crashed server does.
    """
    if cut:
        options.update(finish_reason=None, usage=None, done=False)
    return Reply(
        status=status,
        parts=tuple(stream_parts(pieces, **options)),
        content_type="text/event-stream",
        headers=headers,
        chunked=True,
        complete=not cut,
    )


def split_reply(data: bytes, *, size: int, gap: float = 0.0) -> Reply:
    """A stream whose bytes arrive ``size`` at a time (each its own HTTP chunk and write)."""
    parts: list[bytes | Pause] = []
    for start in range(0, len(data), size):
        if start and gap:
            parts.append(Pause(gap))
        parts.append(data[start : start + size])
    return Reply(parts=tuple(parts), content_type="text/event-stream", chunked=True)


def completion_body(
    text: str,
    *,
    usage: tuple[int, int] | None = (10, 5),
    finish_reason: str = "stop",
    model: str = "fake-model",
) -> dict[str, Any]:
    """A non-streamed ``chat.completion`` body."""
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
    }
    if usage is not None:
        body["usage"] = usage_dict(*usage)
    return body


def json_reply(body: Any, *, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(status=status, parts=(json.dumps(body).encode(),), headers=headers)


def error_reply(
    status: int,
    message: str,
    *,
    headers: tuple[tuple[str, str], ...] = (),
    error_type: str = "invalid_request_error",
    code: str | None = None,
) -> Reply:
    """An OpenAI-style error: ``{"error": {"message", "type", "param", "code"}}``."""
    body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    return json_reply(body, status=status, headers=headers)


def raw_reply(data: bytes, *, content_type: str = "text/plain", status: int = 200) -> Reply:
    return Reply(status=status, parts=(data,), content_type=content_type)


def hang_reply(seconds: float) -> Reply:
    """Say nothing for ``seconds`` (no status line), then answer a valid completion."""
    return Reply(parts=(json.dumps(completion_body("late")).encode(),), delay_headers=seconds)


def silent_stream_reply(seconds: float) -> Reply:
    """Send stream headers at once, then nothing for ``seconds``, then a valid stream."""
    return Reply(
        parts=(Pause(seconds), *stream_parts(["late"])), content_type="text/event-stream", chunked=True
    )


def trickle_reply(interval: float, count: int) -> Reply:
    """A stream that only sends ``count`` keep-alive comments, ``interval`` seconds apart."""
    parts: list[bytes | Pause] = []
    for _ in range(count):
        parts += [comment(), Pause(interval)]
    return Reply(parts=tuple(parts), content_type="text/event-stream", chunked=True)


def drop_reply() -> Reply:
    """Close the connection without answering."""
    return Reply(drop=True)


def unscripted(request: RecordedRequest) -> Reply:
    return error_reply(500, f"fake server: no reply scripted for {request.method} {request.path}")


# --------------------------------------------------------------------------- server


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # idle keep-alive connections end on their own

    server: _Server

    def setup(self) -> None:
        super().setup()
        # Without this, Nagle's algorithm and delayed ACKs hold small writes back ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._serve()

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        self._serve()

    def _serve(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw_body) if raw_body else None
        except ValueError:
            body = None
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={key.lower(): value for key, value in self.headers.items()},
            body=body,
            raw_body=raw_body,
        )
        responder = fake._record(request)
        reply = responder(request) if callable(responder) else responder
        try:
            self._write(reply, fake._stopping)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True

    def _write(self, reply: Reply, stopping: threading.Event) -> None:
        if reply.delay_headers and stopping.wait(reply.delay_headers):
            self.close_connection = True
            return
        if reply.drop:
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers:
            self.send_header(name, value)
        body_length = sum(len(part) for part in reply.parts if isinstance(part, bytes))
        if reply.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(body_length if reply.complete else body_length + 100))
        if not reply.complete:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        for part in reply.parts:
            if isinstance(part, Pause):
                if stopping.wait(part.seconds):
                    self.close_connection = True
                    return
                continue
            if reply.chunked:
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            else:
                self.wfile.write(part)
            self.wfile.flush()
        if reply.chunked and reply.complete:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        if not reply.complete:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOpenAI

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gives up (timeout, closed pool) resets its connection: not an error.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class FakeOpenAI:
    """A real threaded HTTP server on 127.0.0.1 (ephemeral port) answering scripted replies."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._queue: collections.deque[Responder] = collections.deque()
        self._default: Responder = unscripted
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake server is not running")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The API root to pass as ``base_url``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def reply(self, *responders: Responder) -> None:
        """Queue responders for the coming requests, in order."""
        with self._lock:
            self._queue.extend(responders)

    def always(self, responder: Responder) -> None:
        """Answer with ``responder`` whenever the queue is empty."""
        with self._lock:
            self._default = responder

    def _record(self, request: RecordedRequest) -> Responder:
        with self._lock:
            self.requests.append(request)
            return self._queue.popleft() if self._queue else self._default

    def start(self) -> FakeOpenAI:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def fake_openai_server() -> Iterator[FakeOpenAI]:
    """Start a :class:`FakeOpenAI`, yield it, stop it (for a pytest fixture)."""
    with FakeOpenAI() as server:
        yield server


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
