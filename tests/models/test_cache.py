"""The response cache and replay store (pytest_modelbench.models.cache)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, stream_reply

from pytest_modelbench.models.completion import Completion
from pytest_modelbench._exceptions import ConfigError, ModelCallError, ModelError
from pytest_modelbench.models.specs import ModelSpec
from pytest_modelbench.models.cache import (
    KEY_VERSION,
    SCHEMA_VERSION,
    CachingProvider,
    ReplayMissError,
    RequestKey,
    ResponseStore,
    StoreError,
    StoreStats,
    canonical_json,
    key_base_url,
    request_key,
    spec_for_key,
)
from pytest_modelbench.models.providers import ProviderOptions, build_provider

SPEC = ModelSpec(name="local", provider="openai", model="llama-3-8b", base_url="http://127.0.0.1:8000/v1")
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 3?"}]
TASK = "tests/test_math.py::test_addition"


def key_of(spec: ModelSpec = SPEC, messages: Any = MESSAGES, *, max_tokens: int | None = 64,
           temperature: float | None = 0.0, params: dict[str, Any] | None = None,
           run: int = 1, call_index: int = 0) -> RequestKey:
    return request_key(spec, messages, max_tokens=max_tokens, temperature=temperature,
                       params=params or {}, run=run, call_index=call_index)


class ScriptedProvider:
    """A provider answering from a script: Completions are returned, exceptions raised."""

    def __init__(self, *script: Completion | Exception) -> None:
        self.script = list(script)
        self.calls: list[dict[str, Any]] = []
        self.closed = False

    def complete(self, messages: list[dict[str, Any]], **kwargs: Any) -> Completion:
        self.calls.append({"messages": messages, **kwargs})
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def close(self) -> None:
        self.closed = True


class Factory:
    """Counts how often the wrapped provider is built."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self.builds = 0

    def __call__(self) -> Any:
        self.builds += 1
        return self.provider


def must_not_build() -> Any:
    raise AssertionError("the wrapped provider was built: a replay must never build it")


def answer(text: str, **fields: Any) -> Completion:
    defaults = dict(input_tokens=21, output_tokens=3, latency_ms=812.375, ttft_ms=140.5,
                    finish_reason="stop", raw={"id": "chatcmpl-1", "choices": [{"index": 0}]})
    return Completion(text=text, **{**defaults, **fields})


def file_state(path: Path) -> tuple[bytes, int, list[str]]:
    """Bytes, mtime and the directory listing: what 'left untouched' means."""
    return path.read_bytes(), path.stat().st_mtime_ns, sorted(os.listdir(path.parent))


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / ".modelbench" / "cache.sqlite"


@pytest.fixture
def store(store_path: Path) -> Iterator[ResponseStore]:
    with ResponseStore(store_path) as opened:
        yield opened


# --------------------------------------------------------------------------- keys


def test_key_is_sha256_of_the_documented_canonical_document() -> None:
    key = key_of(params={"top_p": 0.9, "stop": ["\n"]}, run=3, call_index=1)
    document = {
        "key_version": KEY_VERSION,
        "provider": "openai",
        "model": "llama-3-8b",
        "base_url": "http://127.0.0.1:8000/v1",
        "spec_params": {},
        "request": {"messages": MESSAGES, "max_tokens": 64, "temperature": 0.0,
                    "params": {"top_p": 0.9, "stop": ["\n"]}},
        "run": 3,
        "call_index": 1,
    }
    expected = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert key.canonical == expected
    assert key.digest == hashlib.sha256(expected.encode("utf-8")).hexdigest()
    assert str(key) == key.digest


def test_key_is_stable_across_versions() -> None:
    # Recorded with KEY_VERSION 1. If this changes, every recorded store stops matching:
    # bump KEY_VERSION deliberately and update this value.
    key = request_key(
        ModelSpec(name="x", provider="openai", model="gpt-4o-mini", base_url="https://api.openai.com/v1"),
        [{"role": "user", "content": "héllo"}], max_tokens=16, temperature=0.7,
        params={"seed": 7}, run=2, call_index=0,
    )
    assert key.digest == GOLDEN_DIGEST


GOLDEN_DIGEST = "2e877c4aef6f351e7f1b6ff437d40c1a64038cf4d4133551523bcce84c54870e"


def test_key_ignores_dict_order() -> None:
    reordered = [{"content": m["content"], "role": m["role"]} for m in MESSAGES]
    one = key_of(messages=reordered, params={"a": 1, "b": {"x": 1, "y": 2}})
    two = key_of(messages=MESSAGES, params={"b": {"y": 2, "x": 1}, "a": 1})
    assert one == two


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"spec": dataclasses.replace(SPEC, provider="vllm")}, id="provider"),
        pytest.param({"spec": dataclasses.replace(SPEC, model="llama-3-70b")}, id="model"),
        pytest.param({"spec": dataclasses.replace(SPEC, base_url="http://127.0.0.1:8001/v1")}, id="base_url"),
        pytest.param({"spec": dataclasses.replace(SPEC, params={"top_p": 0.5})}, id="spec_params"),
        pytest.param({"messages": [{"role": "user", "content": "What is 2 + 4?"}]}, id="messages"),
        pytest.param({"max_tokens": 65}, id="max_tokens"),
        pytest.param({"max_tokens": None}, id="max_tokens_none"),
        pytest.param({"temperature": 0.2}, id="temperature"),
        pytest.param({"params": {"seed": 1}}, id="extra_param"),
        pytest.param({"params": {"top_p": None}}, id="extra_param_none_is_kept"),
        pytest.param({"run": 2}, id="run"),
        pytest.param({"call_index": 1}, id="call_index"),
    ],
)
def test_every_part_of_the_request_changes_the_key(change: dict[str, Any]) -> None:
    assert key_of(**change).digest != key_of().digest


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(dataclasses.replace(SPEC, name="alias"), id="display_name"),
        pytest.param(dataclasses.replace(SPEC, api_key_env="OTHER_KEY"), id="api_key_env"),
        pytest.param(dataclasses.replace(SPEC, extra={"price": {"input": 1, "output": 2}}), id="price"),
        pytest.param(dataclasses.replace(SPEC, base_url="http://user:sk-secret@127.0.0.1:8000/v1/"),
                     id="url_credentials_and_slash"),
        pytest.param(dataclasses.replace(SPEC, base_url="HTTP://127.0.0.1:8000/v1?key=sk-secret#x"),
                     id="url_case_query_fragment"),
    ],
)
def test_key_ignores_names_secrets_and_prices(spec: ModelSpec) -> None:
    key = key_of(spec)
    assert key == key_of()
    assert "secret" not in key.canonical


def test_base_url_for_the_key() -> None:
    assert key_base_url(None) is None
    assert key_base_url("https://u:p@API.Example.com:8443/v1//?a=1") == "https://api.example.com:8443/v1"
    assert key_base_url("http://[::1]:8000/v1") == "http://[::1]:8000/v1"
    with pytest.raises(ValueError, match="'http://h:99999/v1' has an invalid port"):
        key_base_url("http://h:99999/v1")


def test_openai_spec_without_url_uses_the_url_it_will_call() -> None:
    bare = ModelSpec(name="gpt", provider="openai", model="gpt-4o")
    default = spec_for_key(bare, {})
    assert default.base_url == "https://api.openai.com/v1"
    assert key_of(default) == key_of(dataclasses.replace(bare, base_url="https://api.openai.com/v1/"))
    local = spec_for_key(bare, {"OPENAI_BASE_URL": "http://127.0.0.1:9000/v1"})
    assert key_of(local) != key_of(default)
    python = ModelSpec(name="p", provider="python", model="pkg.mod:fn")
    assert spec_for_key(python, {"OPENAI_BASE_URL": "http://x/v1"}) is python


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"run": 0}, "run 0 is not allowed; it must be a whole number >= 1"),
        ({"run": True}, "run True is not allowed"),
        ({"call_index": -1}, "call_index -1 is not allowed; it must be a whole number >= 0"),
        ({"call_index": 1.0}, "call_index 1.0 is not allowed"),
        ({"temperature": float("nan")}, "temperature is nan; numbers in a request must be finite"),
        ({"params": {"stop": {1: "x"}}}, r"params\['stop'\] has key 1; keys in a request must be strings"),
        ({"params": {"schema": object()}}, r"params\['schema'\] is a object .*only str, int, float"),
        ({"messages": [{"role": "user", "content": b"bytes"}]}, r"messages\[0\]\['content'\] is a bytes"),
    ],
)
def test_bad_request_for_a_key(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        key_of(**kwargs)


def test_canonical_json_is_compact_sorted_and_keeps_unicode() -> None:
    assert canonical_json({"b": [1, 2.5], "a": "é"}) == '{"a":"é","b":[1,2.5]}'


# --------------------------------------------------------------------------- store


def test_put_then_get_round_trips_every_field(store: ResponseStore) -> None:
    key = key_of()
    original = answer("5", raw={"id": "x", "usage": {"prompt_tokens": 21}, "nested": [1, None, "ü"]})
    assert store.get(key) is None
    assert store.put(key, original) is True
    stored = store.get(key)
    assert stored is not None
    assert stored.completion == original
    assert stored.created_at.endswith("+00:00")
    assert store.stats() == StoreStats(str(store.path), entries=1, hits=1, misses=1, stored=1)


def test_unknown_counts_stay_unknown(store: ResponseStore) -> None:
    key = key_of()
    store.put(key, Completion(text="x"))
    stored = store.get(key)
    assert stored is not None and stored.completion == Completion(text="x")


def test_first_answer_under_a_key_is_kept(store: ResponseStore) -> None:
    key = key_of()
    assert store.put(key, answer("first")) is True
    assert store.put(key, answer("second")) is False
    assert store.get(key).completion.text == "first"
    assert len(store) == 1


def test_raw_that_is_not_json_is_stored_as_repr(store: ResponseStore) -> None:
    key = key_of()
    store.put(key, Completion(text="x", raw={"when": object, (1, 2): "tuple key"}))
    raw = store.get(key).completion.raw
    assert isinstance(raw, str) and "tuple key" in raw


def test_put_rejects_what_is_not_a_completion(store: ResponseStore) -> None:
    with pytest.raises(TypeError, match="put\\(\\) stores a Completion"):
        store.put(key_of(), "just text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="put\\(\\) takes the RequestKey"):
        store.put("abc", Completion(text="x"))  # type: ignore[arg-type]


def test_store_records_schema_version_in_meta(store_path: Path) -> None:
    ResponseStore(store_path).close()
    connection = sqlite3.connect(store_path)
    meta = dict(connection.execute("SELECT name, value FROM meta"))
    connection.close()
    assert meta == {"format": "pytest-modelbench response store", "schema_version": str(SCHEMA_VERSION)}


def test_open_store_is_wal_and_closed_store_is_one_file(store_path: Path) -> None:
    store = ResponseStore(store_path)
    store.put(key_of(), answer("x"))
    connection = sqlite3.connect(store_path)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.close()
    store.close()
    assert os.listdir(store_path.parent) == ["cache.sqlite"]
    reopened = ResponseStore(store_path, readonly=True)
    assert reopened.get(key_of()).completion.text == "x"
    reopened.close()


def test_bad_lock_timeout(store_path: Path) -> None:
    with pytest.raises(ValueError, match="lock_timeout_s 0 is not allowed; it must be seconds > 0"):
        ResponseStore(store_path, lock_timeout_s=0)


# --------------------------------------------------------------------------- refused files


def _random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(20240501).randbytes(8192))


def _json_text(path: Path) -> None:
    path.write_text('{"runs": []}\n')


def _other_schema(path: Path) -> None:
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE results (task TEXT, score REAL)")
    connection.execute("INSERT INTO results VALUES ('t', 0.5)")
    connection.commit()
    connection.close()


def _other_schema_wal(path: Path) -> None:
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE meta (name TEXT, value TEXT)")
    connection.execute("INSERT INTO meta VALUES ('format', 'something else')")
    connection.commit()
    connection.close()


def _set_meta(path: Path, name: str, value: str) -> None:
    with ResponseStore(path) as store:
        store.put(key_of(), answer("recorded"))
    connection = sqlite3.connect(path)
    connection.execute("UPDATE meta SET value = ? WHERE name = ?", (value, name))
    connection.commit()
    connection.close()


def _other_version(path: Path) -> None:
    _set_meta(path, "schema_version", "99")


def _other_format(path: Path) -> None:
    _set_meta(path, "format", "some other tool's cache")


def _damaged_table(path: Path) -> None:
    with ResponseStore(path) as store:
        store.put(key_of(), answer("recorded"))
    connection = sqlite3.connect(path)
    connection.execute("ALTER TABLE responses DROP COLUMN raw")
    connection.commit()
    connection.close()


@pytest.mark.parametrize("readonly", [False, True], ids=["cache", "replay"])
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_random_bytes, "is not a valid SQLite database"),
        (_json_text, "is not a valid SQLite database"),
        (_other_schema, r"is an SQLite database but not a pytest-modelbench response store \(tables: results\)"),
        (_other_schema_wal, "is an SQLite database but not a pytest-modelbench response store"),
        (_other_format, "is an SQLite database but not a pytest-modelbench response store"),
        (_other_version, "has schema version '99'; this pytest-modelbench reads version 1 only"),
        (_damaged_table, "is damaged: table 'responses' has columns"),
    ],
)
def test_foreign_file_is_refused_and_left_untouched(
    tmp_path: Path, make: Any, message: str, readonly: bool
) -> None:
    path = tmp_path / "mine.sqlite"
    make(path)
    before = file_state(path)
    with pytest.raises(ConfigError, match=message) as raised:
        ResponseStore(path, readonly=readonly)
    assert str(path) in str(raised.value)
    assert file_state(path) == before


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory; give the path of a file"):
        ResponseStore(tmp_path)


def test_empty_file_becomes_a_store(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    path.touch()
    with ResponseStore(path) as store:
        assert store.stats().entries == 0


# --------------------------------------------------------------------------- read-only


def test_readonly_needs_an_existing_store(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "cache.sqlite"
    with pytest.raises(ConfigError, match="replay store .* does not exist; record one first"):
        ResponseStore(path, readonly=True)
    assert not path.parent.exists()
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    with pytest.raises(ConfigError, match="is an empty SQLite database"):
        ResponseStore(empty, readonly=True)
    assert empty.read_bytes() == b""


def test_readonly_never_writes(store_path: Path) -> None:
    with ResponseStore(store_path) as writer:
        writer.put(key_of(), answer("five"))
    before = file_state(store_path)
    reader = ResponseStore(store_path, readonly=True)
    assert reader.get(key_of()).completion.text == "five"
    assert reader.get(key_of(run=2)) is None
    with pytest.raises(StoreError, match="is open read-only"):
        reader.put(key_of(run=2), answer("six"))
    assert reader.stats() == StoreStats(str(store_path), entries=1, hits=1, misses=1, stored=0)
    reader.close()
    assert file_state(store_path) == before


def test_readonly_sees_a_live_writer(store_path: Path) -> None:
    writer = ResponseStore(store_path)
    writer.put(key_of(run=1), answer("one"))
    reader = ResponseStore(store_path, readonly=True)
    writer.put(key_of(run=2), answer("two"))
    assert [reader.get(key_of(run=run)).completion.text for run in (1, 2)] == ["one", "two"]
    reader.close()
    writer.close()


# --------------------------------------------------------------------------- processes


def _write_many(path: str, worker: int, count: int, start: Any) -> None:
    start.wait()
    store = ResponseStore(path)  # every process creates or opens the file at the same moment
    for index in range(count):
        key = key_of(run=worker + 1, call_index=index)
        store.put(key, answer(f"w{worker}-{index}", latency_ms=float(index)))
    store.close()


def test_concurrent_processes_lose_no_write(store_path: Path) -> None:
    processes, writes = 4, 200
    start = multiprocessing.Event()
    workers = [
        multiprocessing.Process(target=_write_many, args=(str(store_path), worker, writes, start))
        for worker in range(processes)
    ]
    for process in workers:
        process.start()
    start.set()
    for process in workers:
        process.join(timeout=120)
    assert [process.exitcode for process in workers] == [0] * processes
    with ResponseStore(store_path, readonly=True) as store:
        assert len(store) == processes * writes
        for worker in range(processes):
            for index in range(writes):
                stored = store.get(key_of(run=worker + 1, call_index=index))
                assert stored is not None and stored.completion.text == f"w{worker}-{index}"
                assert stored.completion.latency_ms == float(index)


def _put_in_child(store: ResponseStore, done: Any) -> None:
    store.put(key_of(run=9), answer("from the child"))
    done.put(store.stats().stored)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_store_reopens_its_connection_after_fork(store_path: Path) -> None:
    # The child gets its own connection and its own counts (1 stored, not the parent's 1 + 1).
    context = multiprocessing.get_context("fork")
    store = ResponseStore(store_path)
    store.put(key_of(run=1), answer("parent"))
    done = context.Queue()
    child = context.Process(target=_put_in_child, args=(store, done))
    child.start()
    assert done.get(timeout=60) == 1
    child.join(timeout=60)
    assert child.exitcode == 0
    assert store.get(key_of(run=9)).completion.text == "from the child"
    store.close()


def test_stats_combine_over_processes() -> None:
    parts = [StoreStats("c.sqlite", 10, 3, 1, 1), StoreStats("c.sqlite", 12, 0, 2, 2)]
    assert StoreStats.combine(parts) == StoreStats("c.sqlite", 12, 3, 3, 3)
    assert StoreStats.from_dict(json.loads(json.dumps(parts[0].to_dict()))) == parts[0]
    with pytest.raises(ValueError, match="different files: a, b"):
        StoreStats.combine([StoreStats("a", 0, 0, 0, 0), StoreStats("b", 0, 0, 0, 0)])
    with pytest.raises(ValueError, match="needs at least one"):
        StoreStats.combine([])


# --------------------------------------------------------------------------- caching provider


def call(provider: CachingProvider, messages: Any = MESSAGES, *, run: int = 1, call_index: int = 0,
         **params: Any) -> Any:
    return provider.complete_with_origin(
        messages, max_tokens=64, temperature=0.0, timeout=30.0, run=run, call_index=call_index,
        task=TASK, **params,
    )


def test_miss_calls_the_model_and_hit_returns_the_original(store: ResponseStore) -> None:
    inner = ScriptedProvider(answer("5", latency_ms=931.25, ttft_ms=88.0))
    factory = Factory(inner)
    provider = CachingProvider(factory, store, SPEC, replay=False)
    first = call(provider, seed=3)
    assert (first.cached, first.completion.text, first.completion.latency_ms) == (False, "5", 931.25)
    assert inner.calls == [{"messages": MESSAGES, "max_tokens": 64, "temperature": 0.0, "timeout": 30.0, "seed": 3}]
    second = call(provider, seed=3)
    assert second.cached is True
    assert second.completion == first.completion  # original latency, TTFT, tokens, raw
    assert second.key == first.key
    assert len(inner.calls) == 1 and factory.builds == 1
    assert provider.complete(MESSAGES, max_tokens=64, temperature=0.0, run=1, call_index=0,
                             task=TASK, seed=3) == first.completion
    assert store.stats() == StoreStats(str(store.path), entries=1, hits=2, misses=1, stored=1)


def test_runs_are_distinct_draws(store: ResponseStore) -> None:
    inner = ScriptedProvider(answer("5"), answer("6"), answer("five"))
    provider = CachingProvider(Factory(inner), store, SPEC, replay=False)
    texts = [call(provider, run=run).completion.text for run in (1, 2, 3)]
    assert texts == ["5", "6", "five"]
    assert len(store) == 3
    assert [call(provider, run=run).completion.text for run in (1, 2, 3)] == texts


def test_same_prompt_twice_in_a_run_is_two_entries(store: ResponseStore) -> None:
    inner = ScriptedProvider(answer("draft"), answer("final"))
    provider = CachingProvider(Factory(inner), store, SPEC, replay=False)
    assert [call(provider, call_index=i).completion.text for i in (0, 1)] == ["draft", "final"]
    assert len(store) == 2
    replay = ResponseStore(store.path, readonly=True)
    replaying = CachingProvider(must_not_build, replay, SPEC, replay=True)
    assert [call(replaying, call_index=i).completion.text for i in (0, 1)] == ["draft", "final"]
    replay.close()


def test_errors_are_never_cached(store: ResponseStore) -> None:
    inner = ScriptedProvider(ModelCallError("HTTP 503 from server", status_code=503), answer("5"))
    provider = CachingProvider(Factory(inner), store, SPEC, replay=False)
    with pytest.raises(ModelCallError, match="503"):
        call(provider)
    assert len(store) == 0
    assert call(provider).cached is False  # asked the model again
    assert len(inner.calls) == 2 and len(store) == 1


def test_before_call_runs_on_misses_only_and_can_stop_the_call(store: ResponseStore) -> None:
    checks: list[int] = []

    def budget_check() -> None:
        checks.append(1)
        if len(checks) > 1:
            raise ModelCallError("spend cap reached")

    inner = ScriptedProvider(answer("5"))
    provider = CachingProvider(Factory(inner), store, SPEC, replay=False)
    call(provider, before_call=budget_check)
    call(provider, before_call=budget_check)  # a hit: no check
    assert len(checks) == 1
    with pytest.raises(ModelCallError, match="spend cap"):
        call(provider, run=2, before_call=budget_check)
    assert len(inner.calls) == 1 and len(store) == 1
    assert "before_call" not in inner.calls[0]


def test_all_hits_never_build_the_provider(store_path: Path) -> None:
    with ResponseStore(store_path) as store:
        CachingProvider(Factory(ScriptedProvider(answer("5"))), store, SPEC, replay=False).complete(
            MESSAGES, max_tokens=64, temperature=0.0, run=1, call_index=0, task=TASK)
    with ResponseStore(store_path) as store:
        provider = CachingProvider(must_not_build, store, SPEC, replay=False)
        assert call(provider).cached is True
        assert provider.inner_built is False
        provider.close()


def test_close_closes_a_built_provider_only(store: ResponseStore) -> None:
    inner = ScriptedProvider(answer("5"))
    provider = CachingProvider(Factory(inner), store, SPEC, replay=False)
    provider.close()
    assert inner.closed is False
    call(provider)
    provider.close()
    assert inner.closed is True


def test_replay_answers_everything_from_the_store_without_building(store_path: Path) -> None:
    recorded = [answer(f"answer {run}", latency_ms=100.0 * run, ttft_ms=10.0 * run) for run in (1, 2, 3)]
    with ResponseStore(store_path) as store:
        provider = CachingProvider(Factory(ScriptedProvider(*recorded)), store, SPEC, replay=False)
        for run in (1, 2, 3):
            call(provider, run=run)
    before = file_state(store_path)
    with ResponseStore(store_path, readonly=True) as replay_store:
        provider = CachingProvider(must_not_build, replay_store, SPEC, replay=True)
        served = [call(provider, run=run) for run in (1, 2, 3)]
        assert [s.completion for s in served] == recorded
        assert all(s.cached for s in served)
        assert provider.inner_built is False
        provider.close()
    assert file_state(store_path) == before


def test_replay_miss_names_task_model_and_run(store_path: Path) -> None:
    with ResponseStore(store_path) as store:
        call(CachingProvider(Factory(ScriptedProvider(answer("5"))), store, SPEC, replay=False))
    with ResponseStore(store_path, readonly=True) as replay_store:
        provider = CachingProvider(must_not_build, replay_store, SPEC, replay=True)
        with pytest.raises(ReplayMissError) as raised:
            call(provider, run=2)
    error = raised.value
    assert isinstance(error, ModelError)
    assert (error.task, error.model, error.run, error.call_index) == (TASK, "local", 2, 0)
    assert str(error).startswith(f"no recorded answer for task {TASK}, model local, run 2 (call index 0)")
    assert str(store_path) in str(error)


def test_replay_miss_on_a_changed_prompt(store_path: Path) -> None:
    with ResponseStore(store_path) as store:
        call(CachingProvider(Factory(ScriptedProvider(answer("5"))), store, SPEC, replay=False))
    with ResponseStore(store_path, readonly=True) as replay_store:
        provider = CachingProvider(must_not_build, replay_store, SPEC, replay=True)
        with pytest.raises(ReplayMissError, match="run 1"):
            call(provider, [{"role": "user", "content": "What is 2 + 3? Think step by step."}])


def test_readonly_store_cannot_back_a_cache(store_path: Path) -> None:
    ResponseStore(store_path).close()
    with ResponseStore(store_path, readonly=True) as store:
        with pytest.raises(ValueError, match="is read-only: it can only replay"):
            CachingProvider(must_not_build, store, SPEC, replay=False)


def test_non_json_request_is_a_clear_error(store: ResponseStore) -> None:
    provider = CachingProvider(Factory(ScriptedProvider()), store, SPEC, replay=False)
    with pytest.raises(ValueError, match=r"params\['tools'\] is a set"):
        call(provider, tools={"calculator"})
    assert provider.inner_built is False


def test_real_openai_client_records_then_replays_without_the_key(store_path: Path) -> None:
    secret = "sk-test-9f8e7d6c5b4a39281706"
    with FakeOpenAI() as server:
        server.reply(stream_reply(["Fi", "ve"], usage=(12, 2)))
        spec = ModelSpec(name="fake", provider="openai", model="fake-model", base_url=server.url,
                         api_key_env="FAKE_KEY")
        options = ProviderOptions(timeout=10.0, retries=0, environ={"FAKE_KEY": secret})
        with ResponseStore(store_path) as store:
            provider = CachingProvider(lambda: build_provider(spec, options), store, spec, replay=False)
            recorded = call(provider, run=1)
            provider.close()
        assert server.requests[0].headers["authorization"] == f"Bearer {secret}"
    assert (recorded.cached, recorded.completion.text, recorded.completion.output_tokens) == (False, "Five", 2)
    assert secret.encode() not in store_path.read_bytes()
    # The server is gone and the key is different: the replay needs neither.
    other = dataclasses.replace(spec, api_key_env="ANOTHER_KEY")
    with ResponseStore(store_path, readonly=True) as replay_store:
        provider = CachingProvider(must_not_build, replay_store, other, replay=True)
        replayed = call(provider, run=1)
    assert replayed.cached is True
    assert replayed.completion.latency_ms == recorded.completion.latency_ms
    assert replayed.completion.ttft_ms == recorded.completion.ttft_ms
    assert replayed.completion.text == "Five"


def test_replay_of_a_wal_file_without_its_wal_creates_no_side_files(store_path: Path) -> None:
    with ResponseStore(store_path) as store:
        store.put(key_of(), answer("five"))
    connection = sqlite3.connect(store_path)  # as a copy of a store taken while it was in WAL mode
    assert connection.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    connection.close()
    before = file_state(store_path)
    assert before[2] == ["cache.sqlite"]
    with ResponseStore(store_path, readonly=True) as replay_store:
        assert replay_store.get(key_of()).completion.text == "five"
    assert file_state(store_path) == before


def test_a_lock_held_too_long_is_a_store_error(store_path: Path) -> None:
    store = ResponseStore(store_path, lock_timeout_s=0.2)
    blocker = sqlite3.connect(store_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        with pytest.raises(StoreError, match=r"cache.sqlite' stayed locked for 0.2 s while storing an answer"):
            store.put(key_of(), answer("x"))
        assert store.get(key_of()) is None  # readers are not blocked by a writer in WAL mode
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.put(key_of(), answer("x")) is True
    store.close()
