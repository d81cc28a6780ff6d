"""Hostile HTTP servers on 127.0.0.1 for tests: they write raw bytes, at their own pace.

``FakeOpenAI`` (fake_openai.py) speaks proper HTTP; these do not have to. A
:class:`HostileServer` reads each request (headers and a Content-Length body) and answers with
the items of ``script()``: bytes are written as they are, a float pauses that many seconds.
It records how many requests it received. Builders:

- :func:`trickled_headers`: a status line, then one header line every ``interval`` seconds,
  never ending the headers.
- :func:`trickled_body`: whole headers, then the body one byte every ``interval`` seconds.
- :func:`gzip_bomb`: a gzip body of ``decoded_bytes`` built from ``block`` repeated, whose
  compressed size is about a thousandth of it (each repeat is an independent deflate block).
- :func:`response`: headers and a body, as given.
"""

from __future__ import annotations

import socket
import struct
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator

Script = Callable[[], Iterable["bytes | float"]]


class HostileServer:
    """A threaded TCP server on 127.0.0.1 answering every request with ``script()``."""

    def __init__(self, script: Script) -> None:
        self._script = script
        self._stopping = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.05)
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self.requests = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    @property
    def url(self) -> str:
        """An OpenAI-style API root (``/v1``); Anthropic clients take :attr:`root`."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        with self._lock:
            for connection in self._connections:
                try:
                    connection.close()
                except OSError:
                    pass
        self._listener.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            with self._lock:
                self._connections.append(connection)
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        try:
            connection.settimeout(10)
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if not _read_request(connection):
                return
            with self._lock:
                self.requests += 1
            for item in self._script():
                if isinstance(item, float):
                    if self._stopping.wait(item):
                        return
                else:
                    connection.sendall(item)
            connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the client gave up: that is what these servers are for
        finally:
            try:
                connection.close()
            except OSError:
                pass


def _read_request(connection: socket.socket) -> bool:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = connection.recv(65536)
        if not piece:
            return False
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        piece = connection.recv(65536)
        if not piece:
            return False
        body += piece
    return True


def headers(status: str = "200 OK", **fields: str) -> bytes:
    """A status line and header fields (``content_type="..."`` becomes ``Content-Type``)."""
    lines = [f"HTTP/1.1 {status}"] + [f"{name.replace('_', '-').title()}: {value}" for name, value in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def response(body: bytes, *, status: str = "200 OK", **fields: str) -> Script:
    """Headers (with Content-Length and Connection: close) and ``body``."""
    head = headers(status, content_length=str(len(body)), connection="close", **fields)
    return lambda: [head, body]


def trickled_headers(interval: float, count: int = 1000) -> Script:
    """A status line, then a header line every ``interval`` seconds, ``count`` times."""

    def script() -> Iterator[bytes | float]:
        yield b"HTTP/1.1 200 OK\r\n"
        for number in range(count):
            yield interval
            yield f"X-Slow-{number}: yes\r\n".encode()

    return script


def trickled_body(interval: float, *, content_type: str, count: int = 1000, first: bytes = b"") -> Script:
    """Whole headers (chunked), ``first``, then one byte every ``interval`` seconds."""

    def script() -> Iterator[bytes | float]:
        yield headers(content_type=content_type, transfer_encoding="chunked")
        if first:
            yield f"{len(first):x}\r\n".encode() + first + b"\r\n"
        for _ in range(count):
            yield interval
            yield b"1\r\n \r\n"

    return script


def gzip_bomb(block: bytes, repeats: int, *, prefix: bytes = b"") -> bytes:
    """A valid gzip stream of ``prefix`` followed by ``block`` repeated ``repeats`` times.

    Each part is compressed once and ended with a full flush, which makes it a byte-aligned
    deflate block that does not refer to earlier data, so the same bytes can be repeated.
    """
    def part(data: bytes) -> bytes:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)

    crc = zlib.crc32(prefix)
    for _ in range(repeats):
        crc = zlib.crc32(block, crc)
    final = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush(zlib.Z_FINISH)
    size = (len(prefix) + len(block) * repeats) & 0xFFFFFFFF
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + (part(prefix) if prefix else b"") + part(block) * repeats + final + struct.pack("<II", crc, size)
