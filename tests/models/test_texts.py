"""The prompt and reply a run keeps: cut at a byte limit on a character boundary, API keys
redacted first, 0 keeps none; the same through ``complete()``, ``acomplete()``, the metered
openai SDK client, and answers served from the response store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fake_openai import FakeOpenAI, completion_body, fake_openai_server, json_reply, stream_reply

from pytest_modelbench.models.cache import CachingProvider, ResponseStore
from pytest_modelbench.models.completion import Completion
from pytest_modelbench.models.model import CallMeter, CallTotals, Model, TextPolicy, cut_text
from pytest_modelbench.models.providers._http import Secret
from pytest_modelbench.models.providers.openai import OpenAIProvider
from pytest_modelbench.models.specs import ModelSpec
from pytest_modelbench.session.settings import DEFAULT_TEXT_LIMIT

KEY = "sk-texts-5d2c8e1a7b3f9c0d4e6a"


@pytest.mark.parametrize(("text", "limit", "expected"), [
    ("hello", 5, "hello"),                      # exactly the limit: kept whole
    ("hello!", 5, "hello… [1 more bytes]"),
    ("héllo", 2, "h… [5 more bytes]"),          # 'é' is 2 bytes: never cut in half
    ("héllo", 3, "hé… [3 more bytes]"),
    ("", 4, ""),
])
def test_cut_text(text, limit, expected):
    assert cut_text(text, limit) == expected


def test_text_policy_redacts_before_cutting_and_zero_keeps_none():
    policy = TextPolicy(limit=40, secrets=(Secret(KEY),))
    assert policy.keep(f"my key is {KEY} ok") == "my key is [REDACTED] ok"
    # a key that the cut would split is gone before the cut
    kept = policy.keep("x" * 30 + KEY)
    assert "sk-texts" not in kept and kept.startswith("x" * 30)
    assert TextPolicy(limit=0, secrets=(Secret(KEY),)).keep("anything") is None
    assert policy.keep(None) is None
    assert TextPolicy().limit == DEFAULT_TEXT_LIMIT == 4096


def test_totals_keep_the_last_calls_prompt_and_reply():
    totals = CallTotals(texts=TextPolicy(limit=100))
    assert totals.as_fields()["prompt"] is None and totals.as_fields()["reply"] is None
    totals.add(Completion(text="first reply"), messages=[{"role": "user", "content": "first"}])
    totals.add(Completion(text="second reply"), messages=[
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "second"},
        {"role": "assistant", "content": "earlier"}])
    fields = totals.as_fields()
    assert (fields["prompt"], fields["reply"]) == ("second", "second reply")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with fake_openai_server() as fake:
        yield fake


def _model(server: FakeOpenAI, totals: CallTotals, store: ResponseStore | None = None) -> tuple[Model, OpenAIProvider]:
    spec = ModelSpec(name="m", provider="openai", model="served", base_url=server.url)
    provider = OpenAIProvider("served", base_url=server.url, api_key=KEY, max_retries=0)
    wrapped = provider if store is None else CachingProvider(lambda: provider, store, spec, replay=False, environ={})
    model = Model(spec, lambda: wrapped, run=1, timeout=10.0, totals=totals, meter=CallMeter(), task="t",
                  endpoint=lambda: (server.url, KEY))
    return model, provider


def test_every_call_path_records_the_prompt_and_reply(server: FakeOpenAI, tmp_path):
    policy = TextPolicy(limit=64, secrets=(Secret(KEY),))
    server.reply(stream_reply([f"echo {KEY}"], usage=(3, 2)))
    totals = CallTotals(texts=policy)
    model, provider = _model(server, totals)
    model.complete("sync prompt")
    assert (totals.as_fields()["prompt"], totals.as_fields()["reply"]) == ("sync prompt", "echo [REDACTED]")

    server.reply(stream_reply(["async reply"], usage=(3, 2)))
    asyncio.run(model.acomplete([{"role": "user", "content": [{"type": "text", "text": "async prompt"}]}]))
    assert (totals.as_fields()["prompt"], totals.as_fields()["reply"]) == ("async prompt", "async reply")

    server.reply(json_reply(completion_body("sdk reply", usage=(3, 2))))
    client = model.openai_client()
    client.chat.completions.create(model="x", messages=[{"role": "user", "content": "sdk prompt"}])
    assert (totals.as_fields()["prompt"], totals.as_fields()["reply"]) == ("sdk prompt", "sdk reply")
    model.close()
    provider.close()

    # an answer served from the store is the reply the run got
    with ResponseStore(tmp_path / "store.sqlite") as store:
        server.reply(stream_reply(["stored reply"], usage=(3, 2)))
        first = CallTotals(texts=policy)
        model, provider = _model(server, first, store)
        model.complete("cached prompt")
        again = CallTotals(texts=policy)
        model_again, _ = _model(server, again, store)
        model_again.complete("cached prompt")
        assert again.cached_calls == 1
        assert (again.as_fields()["prompt"], again.as_fields()["reply"]) == ("cached prompt", "stored reply")
        history = store.task_history(["t"])
        assert [(answer.task, answer.request["run"], answer.output_tokens) for answer in history] == [("t", 1, 2)]
        provider.close()
