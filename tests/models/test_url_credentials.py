"""Credentials in base URLs: redacted wherever a URL is shown or stored, refused as a silent
replacement of the API key."""

from __future__ import annotations

import pytest

from pytest_modelbench import SpecError
from pytest_modelbench.models.cache import key_base_url
from pytest_modelbench.models.providers import ProviderOptions, build_provider
from pytest_modelbench.models.providers._http import check_api_root, endpoint_url
from pytest_modelbench.models.specs import parse_named_models, parse_spec, redact_url

PROVIDERS = ("openai", "anthropic", "echo")


@pytest.mark.parametrize(("url", "shown"), [
    ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
    ("https://user:pass@llm.example/v1", "https://[REDACTED]@llm.example/v1"),
    ("https://sk-onlyuser@llm.example/v1", "https://[REDACTED]@llm.example/v1"),
    ("http://h/v1?api-key=s3cret", "http://h/v1?api-key=[REDACTED]"),
    ("http://h/v1?code=s3cret&api-version=2024-02-01", "http://h/v1?code=[REDACTED]&api-version=2024-02-01"),
    ("http://h/v1#token=s3cret", "http://h/v1#[REDACTED]"),
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_spec_and_description_redact_the_url():
    spec = parse_spec("openai:m@http://h:1/v1?api-key=s3cret", PROVIDERS)
    assert spec.base_url == "http://h:1/v1?api-key=s3cret"  # what the client uses
    assert spec.spec == "openai:m@http://h:1/v1?api-key=[REDACTED]"
    assert spec.describe()["base_url"] == "http://h:1/v1?api-key=[REDACTED]"


@pytest.mark.parametrize("text", ["openai:m@http://u:s3cret@h/v1", "anthropic:m@https://s3cret@h"])
def test_user_info_in_a_spec_is_refused(text):
    with pytest.raises(SpecError, match=r"has credentials \(user:password@\).*url_auth = true") as caught:
        parse_spec(text, PROVIDERS)
    assert "s3cret" not in str(caught.value)


def test_malformed_spec_messages_hide_the_credentials():
    with pytest.raises(SpecError) as caught:
        parse_spec("openai:m@ftp://u:s3cret@h/v1", PROVIDERS)
    assert "s3cret" not in str(caught.value) and "ftp://[REDACTED]@h/v1" in str(caught.value)


def test_url_auth_in_a_named_model():
    table = {"gw": {"provider": "openai", "model": "m", "base_url": "http://u:s3cret@h/v1", "url_auth": True}}
    spec = parse_named_models(table, PROVIDERS)["gw"]
    assert spec.url_auth and spec.spec == "openai:m@http://[REDACTED]@h/v1"
    provider = build_provider(spec, ProviderOptions(environ={"OPENAI_API_KEY": "sk-not-sent"}))
    try:
        assert "Authorization" not in provider._client.headers  # the URL's user info authenticates instead
        assert "s3cret" not in repr(provider)
    finally:
        provider.close()
    with pytest.raises(SpecError, match="url_auth 'yes' must be true or false"):
        parse_named_models({"gw": {**table["gw"], "url_auth": "yes"}}, PROVIDERS)
    with pytest.raises(SpecError, match=r"\[tool.modelbench.models.gw\]: base URL .* has credentials"):
        parse_named_models({"gw": {**table["gw"], "url_auth": False}}, PROVIDERS)


def test_cache_keys_and_request_urls():
    assert key_base_url("http://u:s3cret@H:1/v1?api-key=s3cret") == "http://h:1/v1"
    root = check_api_root("https://x.example/openai/deployments/d/chat/completions?api-version=1",
                          endpoint_suffixes=("/chat/completions",), example="")
    assert endpoint_url(root, "/chat/completions") == \
        "https://x.example/openai/deployments/d/chat/completions?api-version=1"
