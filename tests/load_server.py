"""A fast OpenAI-compatible streaming server on 127.0.0.1 with scripted delays, for load tests.

It answers ``POST .../chat/completions`` with a server-sent-events stream whose timing is set
in advance: a role-only chunk at once, the first content token ``ttft_ms`` after the request
arrived, then one token every ``itl_ms``, then the finish chunk, a usage chunk (when the
request asked for ``stream_options.include_usage`` and usage is on) and ``data: [DONE]`` in
the same write as the last token. Token ``k`` (0-based) is due at ``received + ttft + k·itl``
on the loop's clock (absolute, so delays do not drift). With both delays 0 the whole stream is
one write.

Every chat request is recorded with the server's own ``time.perf_counter()`` timestamps
(``CLOCK_MONOTONIC`` on Linux, the same clock as the client's in another process):
``received_at`` (request fully read), ``first_content_at`` (write of the first content
chunk), ``last_at`` (write of the last byte). ``GET /timings`` returns them as JSON;
``POST /timings/clear`` forgets them. ``GET /health`` and ``GET /v1/models`` answer as vLLM
does (GuideLLM checks them before a run). ``GET /metrics`` serves Prometheus text with vLLM's gauge
names (``vllm:num_requests_running`` = streams in progress, ``vllm:num_requests_waiting`` = 0,
``vllm:gpu_cache_usage_perc`` = running/256 capped at 1) and a counter of requests.

Per request, a JSON body field ``"mock": {...}`` overrides ``ttft_ms``, ``itl_ms``,
``tokens``, ``usage`` (bool), ``status`` (an error status to answer with), ``role_chunk``
(bool) and ``cut_after`` (close the connection after that many tokens, mid-stream). A last
user message starting with ``!status=NNN`` answers with that status, so a
load test can make some requests fail.

Run it in its own process (what the benchmarks do, so it shares neither the client's event
loop nor its GIL)::

    python tests/load_server.py --ttft-ms 50 --itl-ms 10 --tokens 32
    LISTENING http://127.0.0.1:40123

or from Python with :func:`server_process` (a context manager returning a
:class:`ServerHandle`). The process stops when its standard input closes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

MODEL = "load-model"
_CACHE_SLOTS = 256


@dataclasses.dataclass(frozen=True, slots=True)
class Script:
    """The timing of one streamed answer."""

    ttft_ms: float = 50.0
    itl_ms: float = 10.0
    tokens: int = 32
    usage: bool = True
    status: int = 200
    role_chunk: bool = True
    cut_after: int | None = None


@dataclasses.dataclass(slots=True)
class Served:
    """The server's own record of one chat request (perf_counter seconds)."""

    prompt: str
    received_at: float
    status: int
    tokens: int = 0
    first_content_at: float | None = None
    last_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _chunk(payload: str) -> bytes:
    data = f"data: {payload}\n\n".encode()
    return b"%x\r\n%s\r\n" % (len(data), data)


def _delta_chunk(index: int, delta: str, finish: str = "null") -> bytes:
    return _chunk(
        '{"id":"chatcmpl-%d","object":"chat.completion.chunk","created":1700000000,"model":"%s",'
        '"choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}]}'
        % (index, MODEL, delta, finish)
    )


def _usage_chunk(index: int, prompt_tokens: int, completion_tokens: int) -> bytes:
    return _chunk(
        '{"id":"chatcmpl-%d","object":"chat.completion.chunk","created":1700000000,"model":"%s",'
        '"choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}'
        % (index, MODEL, prompt_tokens, completion_tokens, prompt_tokens + completion_tokens)
    )


_DONE = _chunk("[DONE]") + b"0\r\n\r\n"
_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


def _response(status: int, body: bytes, content_type: str = "application/json") -> bytes:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Error")
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
        % (status, reason.encode(), content_type.encode(), len(body))
    ) + body


class LoadServer:
    """The server's state: default script, request log, streams in progress."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.served: list[Served] = []
        self.running = 0
        self.total = 0
        self._server: asyncio.AbstractServer | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), host, port, backlog=4096, reuse_address=True
        )
        return self._server.sockets[0].getsockname()[1]

    def metrics_text(self) -> str:
        usage = min(self.running / _CACHE_SLOTS, 1.0)
        return (
            "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
            "# TYPE vllm:num_requests_running gauge\n"
            f'vllm:num_requests_running{{model_name="{MODEL}"}} {float(self.running)}\n'
            "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
            "# TYPE vllm:num_requests_waiting gauge\n"
            f'vllm:num_requests_waiting{{model_name="{MODEL}"}} 0.0\n'
            "# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.\n"
            "# TYPE vllm:gpu_cache_usage_perc gauge\n"
            f'vllm:gpu_cache_usage_perc{{model_name="{MODEL}"}} {usage!r}\n'
            "# HELP vllm:request_success_total Count of successfully processed requests.\n"
            "# TYPE vllm:request_success_total counter\n"
            f'vllm:request_success_total{{finished_reason="stop",model_name="{MODEL}"}} {float(self.total)}\n'
        )


class _Connection(asyncio.Protocol):
    """One client connection: HTTP/1.1 keep-alive, one request at a time."""

    def __init__(self, server: LoadServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.busy = False
        self.transport: asyncio.Transport | None = None
        self.handles: list[asyncio.TimerHandle] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        for handle in self.handles:
            handle.cancel()
        if self.busy:
            self.server.running -= 1
            self.busy = False
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._next_request()

    def _next_request(self) -> None:
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
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            method, path, _ = head[0].split(" ", 2)
            self._route(method, path, body)

    def _route(self, method: str, path: str, body: bytes) -> None:
        assert self.transport is not None
        if method == "POST" and path.endswith("/chat/completions"):
            self._chat(body, time.perf_counter())
        elif method == "GET" and path.startswith("/metrics"):
            text = self.server.metrics_text().encode()
            self.transport.write(_response(200, text, "text/plain; version=0.0.4"))
        elif method == "GET" and path.endswith("/health"):
            self.transport.write(_response(200, b"{}"))
        elif method == "GET" and path.endswith("/models"):
            listing = {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "load-server"}]}
            self.transport.write(_response(200, json.dumps(listing).encode()))
        elif method == "GET" and path.startswith("/timings"):
            rows = [served.to_dict() for served in self.server.served]
            self.transport.write(_response(200, json.dumps(rows).encode()))
        elif method == "POST" and path.startswith("/timings/clear"):
            self.server.served.clear()
            self.transport.write(_response(200, b"{}"))
        else:
            self.transport.write(_response(404, b'{"error": {"message": "not found"}}'))

    def _chat(self, body: bytes, received_at: float) -> None:
        assert self.transport is not None
        try:
            request = json.loads(body)
            messages = request["messages"]
        except (ValueError, KeyError, TypeError):
            self.transport.write(_response(400, b'{"error": {"message": "body is not a chat request"}}'))
            return
        prompt = messages[-1].get("content") if messages and isinstance(messages[-1], dict) else ""
        prompt = prompt if isinstance(prompt, str) else json.dumps(prompt)
        script = self.server.script
        mock = request.get("mock")
        if isinstance(mock, dict):
            script = dataclasses.replace(script, **mock)
        status = script.status
        if prompt.startswith("!status="):
            status = int(prompt[len("!status="):].split()[0])
        if request.get("max_tokens") is not None:
            script = dataclasses.replace(script, tokens=min(script.tokens, int(request["max_tokens"])))
        served = Served(prompt=prompt, received_at=received_at, status=status)
        self.server.served.append(served)
        self.server.total += 1
        if status != 200:
            message = json.dumps({"error": {"message": f"scripted failure {status}", "type": "server_error"}})
            self.transport.write(_response(status, message.encode()))
            served.last_at = time.perf_counter()
            return
        want_usage = script.usage and bool((request.get("stream_options") or {}).get("include_usage"))
        self.busy = True
        self.server.running += 1
        number = self.server.total
        tail = _delta_chunk(number, "{}", '"stop"')
        if want_usage:
            tail += _usage_chunk(number, len(prompt.split()), script.tokens)
        tail += _DONE
        head = _STREAM_HEAD + (_delta_chunk(number, '{"role":"assistant","content":""}') if script.role_chunk else b"")
        tokens = [_delta_chunk(number, '{"content":"t%d "}' % k) for k in range(script.tokens)]
        served.tokens = script.tokens
        if script.ttft_ms <= 0 and script.itl_ms <= 0 or not tokens:
            self.transport.write(head + b"".join(tokens) + tail)
            served.last_at = time.perf_counter()
            if tokens:
                served.first_content_at = served.last_at
            self._finish()
            return
        self.transport.write(head)
        loop = asyncio.get_running_loop()
        start = loop.time() - (time.perf_counter() - received_at)
        ttft, itl = script.ttft_ms / 1000.0, script.itl_ms / 1000.0
        last = len(tokens) - 1
        self.handles = [
            loop.call_at(
                start + ttft + k * itl, self._token, served, tokens[k],
                tail if k == last else None, script.cut_after is not None and k + 1 >= script.cut_after,
            )
            for k in range(len(tokens) if script.cut_after is None else min(len(tokens), max(script.cut_after, 1)))
        ]

    def _token(self, served: Served, data: bytes, tail: bytes | None, cut: bool = False) -> None:
        if self.transport is None:
            return
        if tail is not None and not cut:
            data += tail
        self.transport.write(data)
        if cut:
            served.last_at = time.perf_counter()
            self.transport.close()
            return
        now = time.perf_counter()
        if served.first_content_at is None:
            served.first_content_at = now
        if tail is not None:
            served.last_at = now
            self.handles = []
            self._finish()

    def _finish(self) -> None:
        self.busy = False
        self.server.running -= 1
        if self.buffer:
            self._next_request()


async def _serve(script: Script, port: int) -> None:
    server = LoadServer(script)
    bound = await server.start(port=port)
    sys.stdout.write(f"LISTENING http://127.0.0.1:{bound}\n")
    sys.stdout.flush()
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def wait_for_stdin() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(lambda: stop.done() or stop.set_result(None))

    threading.Thread(target=wait_for_stdin, daemon=True).start()
    await stop


@dataclasses.dataclass(frozen=True, slots=True)
class ServerHandle:
    """A running server process: its URLs and its request log."""

    root: str
    process: subprocess.Popen

    @property
    def base_url(self) -> str:
        return f"{self.root}/v1"

    @property
    def metrics_url(self) -> str:
        return f"{self.root}/metrics"

    def timings(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.root}/timings", timeout=30).json()

    def clear(self) -> None:
        httpx.post(f"{self.root}/timings/clear", timeout=30).raise_for_status()


@contextlib.contextmanager
def server_process(
    *, ttft_ms: float = 50.0, itl_ms: float = 10.0, tokens: int = 32, usage: bool = True
) -> Iterator[ServerHandle]:
    """Start the server in its own process; stop it on exit."""
    command = [
        sys.executable, os.path.abspath(__file__), "--ttft-ms", str(ttft_ms),
        "--itl-ms", str(itl_ms), "--tokens", str(tokens),
    ]
    if not usage:
        command.append("--no-usage")
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("LISTENING "):
            raise RuntimeError(f"load server did not start: {line!r}")
        yield ServerHandle(root=line.split()[1], process=process)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="Scripted OpenAI-compatible streaming server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttft-ms", type=float, default=50.0)
    parser.add_argument("--itl-ms", type=float, default=10.0)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--no-usage", action="store_true")
    options = parser.parse_args()
    script = Script(ttft_ms=options.ttft_ms, itl_ms=options.itl_ms, tokens=options.tokens, usage=not options.no_usage)
    asyncio.run(_serve(script, options.port))


if __name__ == "__main__":
    main()
