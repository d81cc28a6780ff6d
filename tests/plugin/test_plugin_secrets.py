"""Secrets never leak: servers that echo the API key, keys and credentials in base URLs,
with --modelbench-strict and pytest's most talkative traceback options, and in junit.xml."""

from __future__ import annotations

import json

import pytest

from fake_anthropic import FakeAnthropic, anthropic_error_reply, message_start
from fake_openai import FakeOpenAI, RecordedRequest, Reply, error_reply, sse

KEY = "sk-proj-Xy7Qv3Lm9Tz2Wb8Nc4Rk6Hs1Jd5Pf0Ga"
KEY_PIECES = (KEY, KEY[8:20], KEY[-12:])  # any 8+ characters of it must be gone too

SUITE = """
import pytest

@pytest.mark.modelbench(category="reasoning", runs=1)
def test_answer(model):
    reply = model.complete("Say ok", max_tokens=5)
    assert reply.text == "ok"
"""

FLAGS = {
    "default": [],
    "showlocals": ["--showlocals"],
    "tb=long": ["--tb=long"],
    "-l tb=long": ["-l", "--tb=long"],
    "-vv fulltrace": ["-vv", "--full-trace", "-l"],
}


ECHOES = ("401 body", "error event", "chunk not JSON", "200 error body", "html")

ECHO_SUITE = """
import pytest

@pytest.mark.modelbench(category="reasoning", runs=1)
@pytest.mark.parametrize("echo", {echoes!r})
def test_answer(model, echo):
    reply = model.complete(echo, max_tokens=5)
    assert reply.text == "ok"
""".format(echoes=list(ECHOES))


def _echo(request: RecordedRequest) -> Reply:
    """Put the key the client sent into the kind of answer the prompt names."""
    kind = request.body["messages"][-1]["content"]
    key = request.headers.get("authorization", "").removeprefix("Bearer ")
    if kind == "401 body":
        return error_reply(401, f"Incorrect API key provided: {key}")
    if kind == "error event":
        payload = json.dumps({"error": {"message": f"bad key {key}"}}).encode()
        return Reply(parts=(b"event: error\ndata: " + payload + b"\n\n",), content_type="text/event-stream",
                     chunked=True)
    if kind == "chunk not JSON":
        return Reply(parts=(sse(f"not json {key}"),), content_type="text/event-stream", chunked=True)
    if kind == "200 error body":
        return Reply(parts=(json.dumps({"error": f"key {key} revoked"}).encode(),))
    assert kind == "html"
    return Reply(parts=(f"<html>{key}</html>".encode(),), content_type="text/html")


def _assert_no_key(*texts: str) -> None:
    for text in texts:
        for piece in KEY_PIECES:
            assert piece not in text, f"{piece!r} leaked:\n{text[max(0, text.find(piece) - 500):text.find(piece) + 200]}"


@pytest.mark.parametrize("flags", sorted(FLAGS))
def test_echoed_key_never_printed_with_strict(pytester, monkeypatch, flags) -> None:
    with FakeOpenAI() as server:
        server.always(_echo)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        pytester.makepyfile(ECHO_SUITE)
        result = pytester.runpytest_subprocess(
            f"--modelbench-models=openai:m@{server.url}", "--modelbench-strict", "--modelbench-retries=0",
            "--junitxml=junit.xml", "--modelbench-json=r.json", *FLAGS[flags],
        )
        assert {request.headers["authorization"] for request in server.requests} == {f"Bearer {KEY}"}
        assert len(server.requests) == len(ECHOES)
    assert result.ret == 1
    result.assert_outcomes(failed=len(ECHOES))
    _assert_no_key(result.stdout.str(), result.stderr.str(), (pytester.path / "junit.xml").read_text(),
                   (pytester.path / "r.json").read_text())
    assert "[REDACTED]" in result.stdout.str()  # the echoes are there, without the key


@pytest.mark.parametrize("flags", ["showlocals", "-vv fulltrace"])
def test_anthropic_echoed_key_never_printed_with_strict(pytester, monkeypatch, flags) -> None:
    with FakeAnthropic() as server:
        server.always(lambda request: anthropic_error_reply(
            401, f"invalid x-api-key {request.headers['x-api-key']}", error_type="authentication_error"))
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        pytester.makepyfile(SUITE)
        result = pytester.runpytest_subprocess(
            f"--modelbench-models=anthropic:m@{server.url}", "--modelbench-strict", "--junitxml=junit.xml",
            *FLAGS[flags],
        )
    result.assert_outcomes(failed=1)
    _assert_no_key(result.stdout.str(), result.stderr.str(), (pytester.path / "junit.xml").read_text())


def test_key_echoed_mid_stream_never_printed(pytester, monkeypatch) -> None:
    parts = (message_start(), b"event: error\ndata: " + json.dumps(
        {"type": "error", "error": {"type": "overloaded_error", "message": f"for {KEY}"}}).encode() + b"\n\n")
    with FakeAnthropic() as server:
        server.always(Reply(parts=parts, content_type="text/event-stream", chunked=True))
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        pytester.makepyfile(SUITE)
        result = pytester.runpytest_subprocess(
            f"--modelbench-models=anthropic:m@{server.url}", "--modelbench-strict", "-l", "--tb=long",
            "--junitxml=junit.xml")
    result.assert_outcomes(failed=1)
    _assert_no_key(result.stdout.str(), result.stderr.str(), (pytester.path / "junit.xml").read_text())


# --------------------------------------------------------------------------- acomplete and the app's clients

APP_ECHOES = ("401 body", "error event", "html")

APP_SUITE = """
import asyncio

import pytest

@pytest.mark.modelbench(category="reasoning", runs=1)
@pytest.mark.parametrize("path", ["acomplete", "openai_client", "async_openai_client", "httpx_client"])
@pytest.mark.parametrize("echo", {echoes!r})
def test_app(model, path, echo):
    messages = [{{"role": "user", "content": echo}}]
    if path == "acomplete":
        reply = asyncio.run(model.acomplete(echo, max_tokens=5)).text
    elif path == "openai_client":
        stream = model.openai_client().chat.completions.create(model="x", messages=messages, stream=True)
        reply = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    elif path == "async_openai_client":
        async def main():
            client = model.async_openai_client()
            stream = await client.chat.completions.create(model="x", messages=messages, stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        reply = asyncio.run(main())
    else:
        with model.httpx_client() as client:
            answer = client.post("/chat/completions", json={{"model": "x", "messages": messages, "stream": True}})
            assert answer.status_code == 200, answer.text
            reply = answer.text
    assert reply == "ok"
""".format(echoes=list(APP_ECHOES))


@pytest.mark.parametrize("flags", ["-l tb=long", "-vv fulltrace"])
def test_echoed_key_never_printed_from_acomplete_and_app_clients(pytester, monkeypatch, flags) -> None:
    # The same echoes through Model.acomplete (models/providers/_async.py) and the metered
    # clients (models/metering.py): the key is in the requests, never in what is printed.
    with FakeOpenAI() as server:
        server.always(_echo)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        pytester.makepyfile(APP_SUITE)
        result = pytester.runpytest_subprocess(
            f"--modelbench-models=openai:m@{server.url}", "--modelbench-strict", "--modelbench-retries=0",
            "--junitxml=junit.xml", "--modelbench-json=r.json", *FLAGS[flags],
        )
        assert {request.headers["authorization"] for request in server.requests} == {f"Bearer {KEY}"}
        assert len(server.requests) == 4 * len(APP_ECHOES)
    result.assert_outcomes(failed=4 * len(APP_ECHOES))
    _assert_no_key(result.stdout.str(), result.stderr.str(), (pytester.path / "junit.xml").read_text(),
                   (pytester.path / "r.json").read_text())
    runs = json.loads((pytester.path / "r.json").read_text())["runs"]
    assert {run["outcome"] for run in runs} == {"error"}  # each a failed call, named
    assert all("[REDACTED]" in run["error"] for run in runs if "401" in run["task"])


# --------------------------------------------------------------------------- credentials in URLs

URL_SECRET = "hunter2-url-secret-42"


def _ok(request: RecordedRequest) -> Reply:
    from fake_openai import stream_reply

    return stream_reply(["ok"], usage=(3, 1))


def _all_outputs(pytester, result) -> list[str]:
    texts = [result.stdout.str(), result.stderr.str()]
    for name in ("r.json", "report.md", "report.html", "junit.xml"):
        path = pytester.path / name
        if path.exists():
            texts.append(path.read_text())
    store = pytester.path / ".modelbench" / "cache.sqlite"
    if store.exists():
        texts.append(store.read_bytes().decode("latin-1"))
    return texts


def test_a_key_in_the_base_url_query_is_redacted_everywhere(pytester) -> None:
    with FakeOpenAI() as server:
        server.always(_ok)
        url = f"{server.url}?api-key={URL_SECRET}&api-version=2024-02-01"
        pytester.makepyfile(SUITE)
        result = pytester.runpytest_subprocess(
            f"--modelbench-models=openai:m@{url}", "--modelbench-json=r.json", "--modelbench-cache",
            "--modelbench-report=report.md", "--modelbench-report=report.html", "--junitxml=junit.xml", "-v")
        assert server.requests[0].path == f"/v1/chat/completions?api-key={URL_SECRET}&api-version=2024-02-01"
    assert result.ret == 0, result.stdout.str()
    for text in _all_outputs(pytester, result):
        assert URL_SECRET not in text
    model = json.loads((pytester.path / "r.json").read_text())["meta"]["models"][0]
    assert model["base_url"] == f"{server.url}?api-key=[REDACTED]&api-version=2024-02-01"
    assert model["spec"] == f"openai:m@{server.url}?api-key=[REDACTED]&api-version=2024-02-01"


def test_user_info_in_a_spec_is_a_usage_error(pytester) -> None:
    pytester.makepyfile(SUITE)
    result = pytester.runpytest(f"--modelbench-models=openai:m@http://admin:{URL_SECRET}@127.0.0.1:9/v1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*base URL 'http://[[]REDACTED[]]@127.0.0.1:9/v1' has credentials (user:password@)"
                                 "*instead of the API key*url_auth = true*"])
    assert URL_SECRET not in result.stdout.str() + result.stderr.str()


def test_user_info_in_the_base_url_variable_is_a_usage_error(pytester, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://admin:{URL_SECRET}@127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("--modelbench-models=openai:m")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*model 'openai:m': base URL 'http://[[]REDACTED[]]@127.0.0.1:9/v1' has credentials*"])
    assert URL_SECRET not in result.stdout.str() + result.stderr.str() and KEY not in result.stderr.str()


def test_url_auth_sends_the_url_credentials_and_no_key(pytester, monkeypatch) -> None:
    with FakeOpenAI() as server:
        server.always(_ok)
        url = server.url.replace("http://", f"http://admin:{URL_SECRET}@")
        pytester.makepyprojecttoml(f"""
            [tool.modelbench.models.gateway]
            provider = "openai"
            model = "m"
            base_url = "{url}"
            url_auth = true
        """)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        pytester.makepyfile(SUITE)
        result = pytester.runpytest_subprocess("--modelbench-models=gateway", "--modelbench-json=r.json", "-v")
        authorization = server.requests[0].headers["authorization"]
    assert result.ret == 0, result.stdout.str()
    assert authorization.startswith("Basic ") and KEY not in authorization
    for text in _all_outputs(pytester, result):
        assert URL_SECRET not in text and KEY not in text
    model = json.loads((pytester.path / "r.json").read_text())["meta"]["models"][0]
    assert model["base_url"] == server.url.replace("http://", "http://[REDACTED]@")
