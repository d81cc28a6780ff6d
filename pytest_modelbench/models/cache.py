"""Response cache and offline replay store. Does not import pytest.

A :class:`ResponseStore` is an SQLite file that maps a request key to the model's successful
answer (a :class:`Completion` with its original measurements). A :class:`CachingProvider`
wraps a provider with a store:

* **cache** (``replay=False``): a stored answer is returned as it was recorded; a request not
  in the store goes to the wrapped provider and its answer is stored. Errors are never stored.
* **replay** (``replay=True``, store opened read-only): every answer comes from the store; a
  request not in it raises :class:`ReplayMissError`. The wrapped provider is never built, so a
  replay makes no network call and needs no API key.

The key (:func:`request_key`) is the SHA-256 of a canonical JSON document holding the
provider, model id, base URL, the spec's default params, the whole request (messages,
``max_tokens``, ``temperature``, every extra param), the run number and the index of the call
within the run. The run number keeps repeated runs distinct draws; the call index keeps two
calls with the same prompt in one run distinct. The API key, headers, the spec's display
name, the timeout and prices are not part of it.

Concurrency: every process (pytest-xdist workers, the controller) opens its own store on the
same file. The file is in WAL mode; each write is one ``BEGIN IMMEDIATE`` transaction with a
busy timeout, retried with backoff while SQLite reports the database locked or busy, so
concurrent writers are serialised and no write is lost. The first answer stored under a key
is kept (``INSERT OR IGNORE``).

A file that is not an SQLite database, an SQLite database of another schema, or a store of
another schema version is refused with :class:`ConfigError` naming the file; it is never
overwritten or migrated. A read-only store opens the file with SQLite's ``mode=ro`` and never
writes to it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import random
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from .._exceptions import ConfigError, ModelbenchError, ModelError
from .completion import Completion, tool_calls_from_raw
from .providers import Provider
from .specs import ModelSpec

#: Where ``--modelbench-cache`` without a value puts the store (relative to the rootdir).
DEFAULT_CACHE_PATH = ".modelbench/cache.sqlite"
#: Version of the tables. A store of another version is refused, never migrated.
SCHEMA_VERSION = 1
#: Version of the key document; part of every key, so a change of the key's contents
#: can never collide with keys of an older version.
KEY_VERSION = 1
#: The ``format`` row of the meta table that marks a file as ours.
STORE_FORMAT = "pytest-modelbench response store"

_RESPONSE_COLUMNS = (
    "key", "request", "text", "input_tokens", "output_tokens", "latency_ms", "ttft_ms",
    "finish_reason", "raw", "created_at",
)
_SCHEMA = (
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE responses (
        key TEXT PRIMARY KEY,
        request TEXT NOT NULL,
        text TEXT NOT NULL,
        input_tokens INTEGER,
        output_tokens INTEGER,
        latency_ms REAL,
        ttft_ms REAL,
        finish_reason TEXT,
        raw TEXT,
        created_at TEXT NOT NULL
    )""",
)
#: Which benchmark task asked for each stored answer (for ``--modelbench-plan``'s history).
#: Added to a writable store that lacks it; a store without it has no task history.
_TASKS_TABLE = "CREATE TABLE IF NOT EXISTS tasks (key TEXT NOT NULL, task TEXT NOT NULL, PRIMARY KEY (key, task))"
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26

_T = TypeVar("_T")


class StoreError(ModelbenchError):
    """The response store could not be read or written (the message names the file)."""


class ReplayMissError(ModelError):
    """A replay found no recorded answer for a request.

    Being a :class:`ModelError`, it makes the benchmark run an ``error`` outcome whose reason
    names the task, model and run.
    """

    def __init__(self, message: str, *, task: str, model: str, run: int, call_index: int) -> None:
        super().__init__(message)
        self.task = task
        self.model = model
        self.run = run
        self.call_index = call_index


# --------------------------------------------------------------------------- keys


@dataclasses.dataclass(frozen=True, slots=True)
class RequestKey:
    """A request's cache key: ``digest`` is the hex SHA-256 of ``canonical``, the key document
    as canonical JSON (stored next to the answer for inspection; it holds no secret)."""

    digest: str
    canonical: str

    def __str__(self) -> str:
        return self.digest


def _plain(value: Any, where: str) -> Any:
    """``value`` as plain JSON types (dict, list, str, int, float, bool, None), or ValueError."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(
                f"cannot form a cache key: {where} is {value!r}; numbers in a request must be finite"
            )
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, Mapping):
        plain = {}
        for name, item in value.items():
            if not isinstance(name, str):
                raise ValueError(
                    f"cannot form a cache key: {where} has key {name!r}; keys in a request must be strings"
                )
            plain[name] = _plain(item, f"{where}[{name!r}]")
        return plain
    raise ValueError(
        f"cannot form a cache key: {where} is a {type(value).__name__} ({value!r:.60}); a cached "
        "request may hold only str, int, float, bool, None, lists and dicts with string keys"
    )


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no whitespace, non-ASCII kept as is: one text per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def key_base_url(url: str | None) -> str | None:
    """The base URL as it enters a key: scheme and host lower-cased, user info (credentials),
    query, fragment and trailing slashes removed."""
    if url is None:
        return None
    parts = urllib.parse.urlsplit(url.strip())
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        from .specs import redact_url

        raise ValueError(f"base URL {redact_url(url)!r} has an invalid port") from None
    return f"{parts.scheme.lower()}://{host}{'' if port is None else f':{port}'}{parts.path.rstrip('/')}"


def _check_counter(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} {value!r} is not allowed; it must be a whole number >= {minimum}")
    return value


def request_key(
    spec: ModelSpec, messages: Any, *, max_tokens: int | None, temperature: float | None,
    params: Mapping[str, Any], run: int, call_index: int,
) -> RequestKey:
    """The cache key of one model call.

    The key document (hashed with SHA-256 as :func:`canonical_json`)::

        {"key_version": 1, "provider": spec.provider, "model": spec.model,
         "base_url": key_base_url(spec.base_url), "spec_params": spec.params,
         "request": {"messages": messages, "max_tokens": max_tokens,
                     "temperature": temperature, "params": params},
         "run": run, "call_index": call_index}

    ``run`` is the run number (>= 1); ``call_index`` counts the calls made so far in the run
    (0 for the first). ``spec.name``, ``spec.api_key_env``, ``spec.extra`` (prices), API keys,
    headers and the timeout are not part of it. Params are kept exactly as given: ``top_p=None``
    and no ``top_p`` are different requests, as are ``1`` and ``1.0``. Raises ValueError when
    the request holds something that is not JSON (a non-finite float, a non-string dict key, an
    object).
    """
    document = {
        "key_version": KEY_VERSION,
        "provider": spec.provider,
        "model": spec.model,
        "base_url": key_base_url(spec.base_url),
        "spec_params": _plain(spec.params, "the spec's params"),
        "request": {
            "messages": _plain(messages, "messages"),
            "max_tokens": _plain(max_tokens, "max_tokens"),
            "temperature": _plain(temperature, "temperature"),
            "params": _plain(params, "params"),
        },
        "run": _check_counter(run, "run", 1),
        "call_index": _check_counter(call_index, "call_index", 0),
    }
    canonical = canonical_json(document)
    return RequestKey(hashlib.sha256(canonical.encode("utf-8")).hexdigest(), canonical)


def spec_for_key(spec: ModelSpec, environ: Mapping[str, str] | None = None) -> ModelSpec:
    """``spec`` with the base URL its provider will really use, for :func:`request_key`.

    For the built-in ``openai``, ``anthropic`` and ``ollama`` providers a spec without a base URL
    talks to the URL of its environment variable or the provider's default: that URL is filled
    in, so answers of a local server and of a hosted API never share keys. Other specs are
    returned unchanged.
    """
    if spec.base_url:
        return spec
    from .providers import called_base_url

    base_url = called_base_url(spec, os.environ if environ is None else environ)
    return spec if base_url is None else dataclasses.replace(spec, base_url=base_url)


# --------------------------------------------------------------------------- store


@dataclasses.dataclass(frozen=True, slots=True)
class StoredResponse:
    """A stored answer: the completion as recorded and when it was stored (ISO 8601, UTC)."""

    completion: Completion
    created_at: str


@dataclasses.dataclass(frozen=True, slots=True)
class TaskAnswer:
    """A stored answer and the task that asked for it: ``request`` is the key document
    (:func:`request_key`: provider, model, base URL, run, call index), the rest its measurements."""

    task: str
    request: Mapping[str, Any]
    input_tokens: int | None
    output_tokens: int | None
    latency_ms: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class StoreStats:
    """``entries`` in the file (all processes); ``hits``, ``misses`` (lookups) and ``stored``
    (answers written) by this process, or summed by :meth:`combine`."""

    path: str
    entries: int
    hits: int
    misses: int
    stored: int

    def to_dict(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StoreStats:
        return cls(**{field.name: data[field.name] for field in dataclasses.fields(cls)})

    @classmethod
    def combine(cls, parts: Iterable[StoreStats]) -> StoreStats:
        """Several processes' stats of one file: counts summed, the largest ``entries`` kept."""
        parts = list(parts)
        if not parts:
            raise ValueError("StoreStats.combine() needs at least one StoreStats")
        paths = sorted({part.path for part in parts})
        if len(paths) > 1:
            raise ValueError(f"StoreStats.combine() got stats of different files: {', '.join(paths)}")
        return cls(
            path=paths[0], entries=max(part.entries for part in parts),
            hits=sum(part.hits for part in parts), misses=sum(part.misses for part in parts),
            stored=sum(part.stored for part in parts),
        )


def _error_code(exc: sqlite3.Error) -> int | None:
    """SQLite's primary result code of an error (None when the error carries none)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def _is_busy(exc: sqlite3.Error) -> bool:
    code = _error_code(exc)
    if code is not None:
        return code in (_SQLITE_BUSY, _SQLITE_LOCKED)
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _raw_json(raw: Any) -> str | None:
    """``raw`` as JSON text; values JSON cannot hold are stored as their repr."""
    if raw is None:
        return None
    try:
        return json.dumps(raw, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):  # e.g. dict keys of a type JSON cannot hold
        return json.dumps(repr(raw), ensure_ascii=False)


class ResponseStore:
    """The SQLite file of recorded answers.

    ``path`` is created with its parent directories when missing (not in ``readonly`` mode,
    where a missing file is a :class:`ConfigError`). ``readonly`` opens it with SQLite's
    ``mode=ro`` (for replay): nothing is ever written to it. ``lock_timeout_s`` is how long a
    process waits for another process's write lock before :class:`StoreError`.

    Each process opens its own store; an object used after ``fork`` reopens its connection in
    the child. On :meth:`close`, the last process to close switches the file back from WAL to
    SQLite's default rollback journal, which checkpoints the WAL into it: the closed store is
    one self-contained file, which a read-only replay can open even in a read-only directory.
    """

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False,
                 lock_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.readonly = bool(readonly)
        if isinstance(lock_timeout_s, bool) or not isinstance(lock_timeout_s, (int, float)) \
                or not 0 < lock_timeout_s < math.inf:
            raise ValueError(f"lock_timeout_s {lock_timeout_s!r} is not allowed; it must be seconds > 0")
        self._lock_timeout_s = float(lock_timeout_s)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = -1
        self._hits = self._misses = self._stored = 0
        if self.path.is_dir():
            raise ConfigError(f"response store {str(self.path)!r} is a directory; give the path of a file")
        if self.readonly:
            if not self.path.is_file():
                raise ConfigError(
                    f"replay store {str(self.path)!r} does not exist; record one first with "
                    f"--modelbench-cache={self.path}"
                )
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"cannot create the directory of response store {str(self.path)!r}: {exc}"
                ) from None
        try:
            self._open()
        except BaseException:
            self._drop_connection()
            raise

    def __repr__(self) -> str:
        return f"ResponseStore({str(self.path)!r}, readonly={self.readonly})"

    # -- connection ---------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None and self._pid == os.getpid():
            return self._connection
        # A connection inherited through fork must not be used (or closed) in the child, and
        # the counts are the parent's: the child starts its own.
        if self._connection is not None:
            self._hits = self._misses = self._stored = 0
        uri = self.path.resolve().as_uri() + (_readonly_query(self.path) if self.readonly else "?mode=rwc")
        connection = sqlite3.connect(
            uri, uri=True, timeout=self._lock_timeout_s, isolation_level=None, check_same_thread=False,
        )
        self._connection, self._pid = connection, os.getpid()
        return connection

    def _drop_connection(self) -> None:
        if self._connection is not None and self._pid == os.getpid():
            self._connection.close()
        self._connection = None

    def _retrying(self, operation: Callable[[sqlite3.Connection], _T], doing: str) -> _T:
        """Run ``operation``, again after a backoff while SQLite reports busy or locked.

        The busy timeout makes SQLite itself wait for most locks; some cases (a WAL being
        recovered, a snapshot that went stale) return at once, and those are retried here.
        """
        deadline = time.perf_counter() + self._lock_timeout_s
        delay_s = 0.002
        while True:
            try:
                with self._lock:
                    return operation(self._connect())
            except sqlite3.Error as exc:
                if not _is_busy(exc):
                    raise
                if time.perf_counter() >= deadline:
                    raise StoreError(
                        f"response store {str(self.path)!r} stayed locked for {self._lock_timeout_s:g} s "
                        f"while {doing}: {exc}"
                    ) from exc
                time.sleep(delay_s * (0.5 + random.random()))
                delay_s = min(delay_s * 2, 0.25)

    def _open(self) -> None:
        try:
            self._retrying(self._read_only_check if self.readonly else self._create_or_check, "opening it")
            if not self.readonly:
                self._retrying(lambda c: c.execute("PRAGMA journal_mode=WAL").fetchone(), "switching to WAL")
                self._retrying(lambda c: c.execute("PRAGMA synchronous=NORMAL"), "opening it")
        except sqlite3.Error as exc:
            if _error_code(exc) in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
                raise ConfigError(
                    f"response store {str(self.path)!r} is not a valid SQLite database ({exc}); "
                    "it was left untouched: give another path or delete the file"
                ) from None
            raise ConfigError(f"cannot open response store {str(self.path)!r}: {exc}") from None

    def _create_or_check(self, connection: sqlite3.Connection) -> None:
        connection.execute("BEGIN IMMEDIATE")
        try:
            tables = _table_names(connection)
            if not tables:
                for statement in _SCHEMA:
                    connection.execute(statement)
                connection.executemany(
                    "INSERT INTO meta (name, value) VALUES (?, ?)",
                    [("format", STORE_FORMAT), ("schema_version", str(SCHEMA_VERSION))],
                )
            else:
                self._check_schema(connection, tables)
            connection.execute(_TASKS_TABLE)
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def _read_only_check(self, connection: sqlite3.Connection) -> None:
        tables = _table_names(connection)
        if not tables:
            raise ConfigError(
                f"replay store {str(self.path)!r} is an empty SQLite database, not a pytest-modelbench "
                "response store; record one first with --modelbench-cache"
            )
        self._check_schema(connection, tables)

    def _check_schema(self, connection: sqlite3.Connection, tables: set[str]) -> None:
        where = f"response store {str(self.path)!r}"
        meta = {}
        if "meta" in tables:
            try:
                meta = dict(connection.execute("SELECT name, value FROM meta").fetchall())
            except sqlite3.OperationalError:
                meta = {}
        if meta.get("format") != STORE_FORMAT:
            raise ConfigError(
                f"{where} is an SQLite database but not a pytest-modelbench response store "
                f"(tables: {', '.join(sorted(tables))}); it was left untouched: give another path"
            )
        version = meta.get("schema_version")
        if version != str(SCHEMA_VERSION):
            raise ConfigError(
                f"{where} has schema version {version!r}; this pytest-modelbench reads version "
                f"{SCHEMA_VERSION} only. The file was left untouched (stores are never migrated): "
                "record a new store at another path, or delete this one"
            )
        columns = tuple(row[1] for row in connection.execute("PRAGMA table_info(responses)"))
        if sorted(columns) != sorted(_RESPONSE_COLUMNS):
            raise ConfigError(
                f"{where} is damaged: table 'responses' has columns {', '.join(columns) or '(none)'}, "
                f"expected {', '.join(_RESPONSE_COLUMNS)}; it was left untouched"
            )

    # -- entries ------------------------------------------------------------------------

    def get(self, key: RequestKey | str) -> StoredResponse | None:
        """The answer stored under ``key``, or None. Counts a hit or a miss."""
        digest = str(key)

        def select(connection: sqlite3.Connection) -> tuple[Any, ...] | None:
            return connection.execute(
                "SELECT text, input_tokens, output_tokens, latency_ms, ttft_ms, finish_reason, raw, "
                "created_at FROM responses WHERE key = ?", (digest,),
            ).fetchone()

        row = self._guarded(select, "reading an answer")
        if row is None:
            self._misses += 1
            return None
        self._hits += 1
        text, input_tokens, output_tokens, latency_ms, ttft_ms, finish_reason, raw, created_at = row
        payload = None if raw is None else json.loads(raw)
        completion = Completion(
            text=text, input_tokens=input_tokens, output_tokens=output_tokens,
            latency_ms=latency_ms, ttft_ms=ttft_ms, finish_reason=finish_reason,
            raw=payload, tool_calls=tool_calls_from_raw(payload),
        )
        return StoredResponse(completion, created_at)

    def put(self, key: RequestKey, completion: Completion, *, task: str | None = None) -> bool:
        """Store a successful answer under ``key``. Returns False when ``key`` already had one
        (the first answer is kept). Never called for errors. ``task`` (the benchmark task that
        asked) is remembered for :meth:`task_history`."""
        if self.readonly:
            raise StoreError(f"response store {str(self.path)!r} is open read-only (replay); it is never written")
        if not isinstance(key, RequestKey):
            raise TypeError(f"put() takes the RequestKey of request_key(), got {key!r}")
        if not isinstance(completion, Completion) or not isinstance(completion.text, str):
            raise TypeError(f"put() stores a Completion with a str text, got {completion!r:.80}")
        row = (
            key.digest, key.canonical, completion.text, completion.input_tokens,
            completion.output_tokens, completion.latency_ms, completion.ttft_ms,
            completion.finish_reason, _raw_json(completion.raw),
            datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )

        def insert(connection: sqlite3.Connection) -> bool:
            connection.execute("BEGIN IMMEDIATE")
            try:
                cursor = connection.execute(
                    f"INSERT OR IGNORE INTO responses ({', '.join(_RESPONSE_COLUMNS)}) "
                    f"VALUES ({', '.join('?' for _ in _RESPONSE_COLUMNS)})", row,
                )
                inserted = cursor.rowcount == 1
                if task is not None:
                    connection.execute("INSERT OR IGNORE INTO tasks (key, task) VALUES (?, ?)", (key.digest, task))
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            return inserted

        inserted = self._guarded(insert, "storing an answer")
        self._stored += inserted
        return inserted

    def task_history(self, tasks: Iterable[str]) -> list[TaskAnswer]:
        """The stored answers that ``tasks`` asked for (none from a store without task history)."""
        wanted = set(tasks)

        def select(connection: sqlite3.Connection) -> list[tuple[Any, ...]]:
            if "tasks" not in _table_names(connection):
                return []
            return connection.execute(
                "SELECT t.task, r.request, r.input_tokens, r.output_tokens, r.latency_ms "
                "FROM tasks t JOIN responses r ON r.key = t.key").fetchall()

        rows = self._guarded(select, "reading task history")
        return [TaskAnswer(task, json.loads(request), input_tokens, output_tokens, latency_ms)
                for task, request, input_tokens, output_tokens, latency_ms in rows if task in wanted]

    def __len__(self) -> int:
        return self._guarded(
            lambda c: int(c.execute("SELECT COUNT(*) FROM responses").fetchone()[0]), "counting entries"
        )

    def stats(self) -> StoreStats:
        """Entries in the file now, and this process's hits, misses and stored answers."""
        return StoreStats(str(self.path), len(self), self._hits, self._misses, self._stored)

    def _guarded(self, operation: Callable[[sqlite3.Connection], _T], doing: str) -> _T:
        try:
            return self._retrying(operation, doing)
        except StoreError:
            raise
        except sqlite3.Error as exc:
            raise StoreError(f"response store {str(self.path)!r} failed while {doing}: {exc}") from exc

    # -- closing ------------------------------------------------------------------------

    def close(self) -> None:
        """Close this process's connection. A writer that is the last one open switches the
        file to the rollback journal (checkpointing the WAL); if others are open it stays WAL."""
        with self._lock:
            connection = self._connection
            if connection is None or self._pid != os.getpid():
                self._connection = None
                return
            if not self.readonly:
                try:
                    connection.execute("PRAGMA busy_timeout=0")
                    connection.execute("PRAGMA journal_mode=DELETE").fetchone()
                except sqlite3.Error:
                    pass  # another process has the file open: it stays in WAL mode
            connection.close()
            self._connection = None

    def __enter__(self) -> ResponseStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _readonly_query(path: Path) -> str:
    """URI parameters of a read-only connection.

    ``mode=ro`` never writes to the database. A file in WAL mode with no ``-wal`` file beside
    it (no writer is open, nothing is left to checkpoint) is also opened ``immutable=1``: SQLite
    would otherwise create ``-wal`` and ``-shm`` files next to it, which fails in a read-only
    directory and leaves litter behind.
    """
    if Path(f"{path}-wal").exists():
        return "?mode=ro"
    try:
        with path.open("rb") as handle:
            header = handle.read(20)
    except OSError:
        return "?mode=ro"
    # Header bytes 18 and 19 are the write and read format versions: 2 means WAL.
    if len(header) == 20 and header.startswith(b"SQLite format 3\x00") and header[18] == 2:
        return "?mode=ro&immutable=1"
    return "?mode=ro"


def _table_names(connection: sqlite3.Connection) -> set[str]:
    return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


# --------------------------------------------------------------------------- provider


@dataclasses.dataclass(frozen=True, slots=True)
class ServedCompletion:
    """What :meth:`CachingProvider.complete_with_origin` returns: the completion, whether it
    came from the store (``cached``) rather than from the model, and the request's key digest."""

    completion: Completion
    cached: bool
    key: str


class CachingProvider:
    """A provider behind a response store.

    ``inner_factory()`` builds the wrapped provider; it is called at the first miss only, so a
    replay (or a cache run where every answer is stored) never builds it: no network client,
    no API key needed. ``spec`` is the model's spec; its base URL is resolved with
    :func:`spec_for_key` (using ``environ``, default ``os.environ``) for the key, its ``name``
    appears in :class:`ReplayMissError`. ``replay=True`` answers only from the store.
    """

    def __init__(
        self, inner_factory: Callable[[], Provider], store: ResponseStore, spec: ModelSpec, *,
        replay: bool, environ: Mapping[str, str] | None = None,
    ) -> None:
        if not replay and store.readonly:
            raise ValueError(
                f"response store {str(store.path)!r} is read-only: it can only replay (replay=True)"
            )
        self.store = store
        self.spec = spec
        self.replay = bool(replay)
        self._key_spec = spec_for_key(spec, environ)
        self._inner_factory = inner_factory
        self._inner: Provider | None = None
        self._inner_lock = threading.Lock()

    def __repr__(self) -> str:
        mode = "replay" if self.replay else "cache"
        return f"<CachingProvider {self.spec.name} {mode} {str(self.store.path)!r}>"

    @property
    def inner_built(self) -> bool:
        """Whether the wrapped provider has been built (a miss happened in cache mode)."""
        return self._inner is not None

    def _provider(self) -> Provider:
        with self._inner_lock:
            if self._inner is None:
                self._inner = self._inner_factory()
            return self._inner

    @property
    def inner(self) -> Provider:
        """The wrapped provider, built now if it was not yet (never call it in replay mode)."""
        return self._provider()

    def lookup(
        self, messages: list[dict[str, Any]], *, max_tokens: int | None = None,
        temperature: float | None = None, run: int, call_index: int, task: str, **params: Any,
    ) -> tuple[RequestKey, Completion | None]:
        """The request's key and its stored answer (None on a miss in cache mode).

        Raises :class:`ReplayMissError` on a miss in replay mode; ValueError when the request
        is not JSON (see :func:`request_key`).
        """
        key = request_key(
            self._key_spec, messages, max_tokens=max_tokens, temperature=temperature,
            params=params, run=run, call_index=call_index,
        )
        stored = self.store.get(key)
        if stored is not None:
            return key, stored.completion
        if self.replay:
            raise ReplayMissError(
                f"no recorded answer for task {task}, model {self.spec.name}, run {run} "
                f"(call index {call_index}) in replay store {str(self.store.path)!r}: the run was not "
                "recorded, or its prompt, parameters or model changed since; record it with "
                "--modelbench-cache",
                task=task, model=self.spec.name, run=run, call_index=call_index,
            )
        return key, None

    def store_answer(self, key: RequestKey, completion: Completion, *, task: str | None = None) -> None:
        """Keep the model's answer to the request of ``key`` (first answer wins), asked by ``task``."""
        self.store.put(key, completion, task=task or None)

    def complete_with_origin(
        self, messages: list[dict[str, Any]], *, max_tokens: int | None = None,
        temperature: float | None = None, timeout: float | None = None, run: int,
        call_index: int, task: str, before_call: Callable[[], object] | None = None,
        **params: Any,
    ) -> ServedCompletion:
        """Answer one call: from the store when it holds the request, else (cache mode) from
        the wrapped provider, storing the answer. ``run``, ``call_index`` and ``task`` say which
        call of which benchmark run this is; they are not passed to the wrapped provider.
        ``before_call()``, when given, runs just before the wrapped provider is called, i.e. on
        a miss only (a spend-cap check: a stored answer costs nothing); what it raises
        propagates and nothing is stored.

        Raises :class:`ReplayMissError` in replay mode when the store has no answer; whatever
        the wrapped provider raises (nothing is stored then); ValueError when the request is not
        JSON (see :func:`request_key`).
        """
        key, stored = self.lookup(
            messages, max_tokens=max_tokens, temperature=temperature, run=run,
            call_index=call_index, task=task, **params,
        )
        if stored is not None:
            return ServedCompletion(stored, True, key.digest)
        if before_call is not None:
            before_call()
        completion = self._provider().complete(
            messages, max_tokens=max_tokens, temperature=temperature, timeout=timeout, **params,
        )
        self.store_answer(key, completion, task=task)
        return ServedCompletion(completion, False, key.digest)

    def complete(
        self, messages: list[dict[str, Any]], *, max_tokens: int | None = None,
        temperature: float | None = None, timeout: float | None = None, run: int,
        call_index: int, task: str, before_call: Callable[[], object] | None = None,
        **params: Any,
    ) -> Completion:
        """:meth:`complete_with_origin` without the origin: just the completion."""
        return self.complete_with_origin(
            messages, max_tokens=max_tokens, temperature=temperature, timeout=timeout, run=run,
            call_index=call_index, task=task, before_call=before_call, **params,
        ).completion

    def close(self) -> None:
        """Close the wrapped provider if it was built (the store is closed by its owner)."""
        with self._inner_lock:
            inner, self._inner = self._inner, None
        if inner is not None:
            inner.close()


__all__ = [
    "DEFAULT_CACHE_PATH", "KEY_VERSION", "SCHEMA_VERSION", "STORE_FORMAT", "CachingProvider",
    "ReplayMissError", "RequestKey", "ResponseStore", "ServedCompletion", "StoreError",
    "StoreStats", "StoredResponse", "TaskAnswer", "canonical_json", "key_base_url", "request_key", "spec_for_key",
]
