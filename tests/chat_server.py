"""An OpenAI-compatible chat server on 127.0.0.1 for concurrency and rate-limit tests.

One asyncio loop serves every connection (HTTP/1.1 keep-alive), so hundreds of slow streams
cost little. ``POST .../chat/completions`` answers the last user message:

* with ``answers[prompt]`` when given (the benchmark replays recorded GSM8K solutions), else
  ``"A: <sum of the whole numbers in the prompt>"`` (deterministic, so serial and concurrent
  sessions must agree), or an echo of the prompt for a prompt starting with ``echo:``;
* streamed (``"stream": true``) word by word, the first word ``ttft_ms`` after the request
  and one more every ``word_ms`` (usage in a last chunk when asked for), or as one JSON body
  after the same total time;
* usage: prompt tokens = words of the prompt, completion tokens = words of the answer.

Misbehaviour on purpose:

* ``rate_per_s``: a sliding one-second window; a request arriving when ``rate_per_s``
  requests were accepted in the last second gets ``429`` (with ``retry-after-ms``, the time
  until the oldest leaves the window, when ``retry_after`` is true); rejected requests do not
  count;
* ``drop_above``: a request arriving while that many are being answered has its connection
  closed without any response (a server shedding load);
* ``limit_headers``: ``x-ratelimit-remaining-requests`` and ``x-ratelimit-reset-requests`` on
  every answer (with ``rate_per_s``).

Everything is counted (:class:`Stats`): requests, accepted arrival times (the server's
``time.perf_counter``), 429s, dropped connections, the most answered at once, and how many
times each prompt was answered. ``GET /stats`` returns them as JSON (for a server in another
process), ``POST /stats/clear`` forgets them.

In a test: ``with ChatServer(Behaviour(ttft_ms=20)) as server: ... server.url ...`` (a thread
of this process). For a benchmark: ``python tests/chat_server.py --answers FILE --ttft-ms 500
--word-ms 5`` prints ``LISTENING http://127.0.0.1:PORT`` and stops when its stdin closes
(:func:`server_process`).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

MODEL = "chat-server"


@dataclasses.dataclass(frozen=True, slots=True)
class Behaviour:
    ttft_ms: float = 0.0
    word_ms: float = 0.0
    answers: Mapping[str, str] | None = None
    rate_per_s: float | None = None
    retry_after: bool = True
    limit_headers: bool = False
    drop_above: int | None = None


@dataclasses.dataclass(slots=True)
class Stats:
    requests: int = 0
    accepted_at: list[float] = dataclasses.field(default_factory=list)
    throttled: int = 0
    dropped: int = 0
    running: int = 0
    peak_running: int = 0
    prompts: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "accepted_at": list(self.accepted_at), "throttled": self.throttled,
                "dropped": self.dropped, "peak_running": self.peak_running, "prompts": dict(self.prompts)}


def answer_for(prompt: str, answers: Mapping[str, str] | None) -> str:
    if answers is not None and prompt in answers:
        return answers[prompt]
    if prompt.startswith("echo:"):
        return prompt[len("echo:"):].strip()
    total = sum(int(number) for number in re.findall(r"\d+", prompt))
    return f"A: {total}"


def _http(status: int, body: bytes, *, content_type: str = "application/json",
          headers: Mapping[str, str] | None = None) -> bytes:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests"}.get(status, "Error")
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            f"{extra}\r\n").encode() + body


def _chunk(payload: Any) -> bytes:
    data = f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n".encode()
    return b"%x\r\n%s\r\n" % (len(data), data)


def _delta(number: int, delta: dict[str, Any] | None, finish: str | None = None) -> bytes:
    return _chunk({"id": f"chatcmpl-{number}", "object": "chat.completion.chunk", "created": 1700000000,
                   "model": MODEL, "choices": [{"index": 0, "delta": delta or {}, "logprobs": None,
                                                "finish_reason": finish}]})


class _Server:
    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.stats = Stats()
        self.window: collections.deque[float] = collections.deque()


class _Connection(asyncio.Protocol):
    def __init__(self, server: _Server) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._next()

    def _next(self) -> None:
        while not self.busy and self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4:end + 4 + length])
            del self.buffer[:end + 4 + length]
            method, path, _ = head[0].split(" ", 2)
            self._route(method, path, body)

    def _route(self, method: str, path: str, body: bytes) -> None:
        assert self.transport is not None
        if method == "POST" and path.endswith("/chat/completions"):
            self.busy = True
            asyncio.get_running_loop().create_task(self._chat(body))
        elif method == "GET" and path.startswith("/stats"):
            self.transport.write(_http(200, json.dumps(self.server.stats.to_dict()).encode()))
        elif method == "POST" and path.startswith("/stats/clear"):
            self.server.stats = Stats()
            self.transport.write(_http(200, b"{}"))
        else:
            self.transport.write(_http(404, b'{"error": {"message": "not found"}}'))

    def _done(self) -> None:
        self.busy = False
        if self.buffer:
            self._next()

    async def _chat(self, body: bytes) -> None:
        server, behaviour = self.server, self.server.behaviour
        stats = server.stats
        stats.requests += 1
        try:
            request = json.loads(body)
            prompt = next(m["content"] for m in reversed(request["messages"]) if m.get("role") == "user")
        except (ValueError, KeyError, TypeError, StopIteration):
            self._write(_http(400, b'{"error": {"message": "not a chat request"}}'))
            return self._done()
        if behaviour.drop_above is not None and stats.running >= behaviour.drop_above:
            stats.dropped += 1
            if self.transport is not None:
                self.transport.abort()
            return None
        now = time.perf_counter()
        headers: dict[str, str] = {}
        if behaviour.rate_per_s is not None:
            window = server.window
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= behaviour.rate_per_s:
                stats.throttled += 1
                wait_ms = max(1, int((window[0] + 1.0 - now) * 1000) + 1)
                throttle_headers = {"retry-after-ms": str(wait_ms)} if behaviour.retry_after else {}
                self._write(_http(429, json.dumps({"error": {"message": "rate limit reached", "type": "requests"}})
                                  .encode(), headers=throttle_headers))
                return self._done()
            window.append(now)
            if behaviour.limit_headers:
                remaining = int(behaviour.rate_per_s - len(window))
                reset = max(0.001, window[0] + 1.0 - now)
                headers = {"x-ratelimit-limit-requests": str(int(behaviour.rate_per_s)),
                           "x-ratelimit-remaining-requests": str(remaining),
                           "x-ratelimit-reset-requests": f"{int(reset * 1000)}ms"}
        stats.accepted_at.append(now)
        stats.prompts[prompt] += 1
        stats.running += 1
        stats.peak_running = max(stats.peak_running, stats.running)
        try:
            await self._answer(request, prompt, now, headers)
        finally:
            stats.running -= 1
        self._done()

    def _write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    async def _answer(self, request: dict[str, Any], prompt: str, received: float, headers: dict[str, str]) -> None:
        behaviour = self.server.behaviour
        answer = answer_for(prompt, behaviour.answers)
        words = answer.split(" ")
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(answer.split()),
                 "total_tokens": len(prompt.split()) + len(answer.split())}
        loop = asyncio.get_running_loop()
        start = loop.time() - (time.perf_counter() - received)
        number = self.server.stats.requests
        if not request.get("stream"):
            await asyncio.sleep(max(0.0, start + (behaviour.ttft_ms + behaviour.word_ms * (len(words) - 1)) / 1000
                                    - loop.time()))
            body = {"id": f"chatcmpl-{number}", "object": "chat.completion", "created": 1700000000, "model": MODEL,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                                 "logprobs": None, "finish_reason": "stop"}], "usage": usage}
            self._write(_http(200, json.dumps(body).encode(), headers=headers))
            return
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._write(("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
                     f"{head}\r\n").encode() + _delta(number, {"role": "assistant", "content": ""}))
        for position, word in enumerate(words):
            due = start + (behaviour.ttft_ms + behaviour.word_ms * position) / 1000
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            self._write(_delta(number, {"content": word if position == 0 else " " + word}))
        tail = _delta(number, {}, "stop")
        if (request.get("stream_options") or {}).get("include_usage"):
            tail += _chunk({"id": f"chatcmpl-{number}", "object": "chat.completion.chunk", "created": 1700000000,
                            "model": MODEL, "choices": [], "usage": usage})
        self._write(tail + _chunk("[DONE]") + b"0\r\n\r\n")


class ChatServer:
    """The server in a thread of this process (for tests)."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self._server = _Server(behaviour or Behaviour())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def stats(self) -> Stats:
        return self._server.stats

    def start(self) -> ChatServer:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            server = loop.run_until_complete(loop.create_server(
                lambda: _Connection(self._server), "127.0.0.1", 0, backlog=4096))
            self.port = server.sockets[0].getsockname()[1]
            loop.call_soon(ready.set)
            loop.run_forever()
            server.close()
            loop.run_until_complete(server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        ready.wait()
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def server_process(*arguments: str) -> Iterator[str]:
    """The server in its own process (for benchmarks): yields its API root, stops on exit."""
    process = subprocess.Popen([sys.executable, __file__, *arguments], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("LISTENING "):
            raise RuntimeError(f"chat server did not start: {line!r}")
        yield line.split()[1] + "/v1"
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answers", help="JSON file: {prompt: answer}")
    parser.add_argument("--ttft-ms", type=float, default=0.0)
    parser.add_argument("--word-ms", type=float, default=0.0)
    parser.add_argument("--rate-per-s", type=float)
    parser.add_argument("--no-retry-after", action="store_true")
    parser.add_argument("--limit-headers", action="store_true")
    parser.add_argument("--drop-above", type=int)
    options = parser.parse_args()
    answers = None
    if options.answers:
        with open(options.answers, encoding="utf-8") as handle:
            answers = json.load(handle)
    behaviour = Behaviour(ttft_ms=options.ttft_ms, word_ms=options.word_ms, answers=answers,
                          rate_per_s=options.rate_per_s, retry_after=not options.no_retry_after,
                          limit_headers=options.limit_headers, drop_above=options.drop_above)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = _Server(behaviour)
        listener = await loop.create_server(lambda: _Connection(server), "127.0.0.1", 0, backlog=4096)
        sys.stdout.write(f"LISTENING http://127.0.0.1:{listener.sockets[0].getsockname()[1]}\n")
        sys.stdout.flush()
        stop = loop.create_future()
        threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(
            lambda: stop.done() or stop.set_result(None))), daemon=True).start()
        await stop

    asyncio.run(serve())


if __name__ == "__main__":
    main()
