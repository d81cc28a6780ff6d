"""Model specs: what ``--modelbench-models`` and ``[tool.modelbench.models.NAME]`` say.

Forms accepted on the command line (comma separated)::

    echo                              offline: answers with the prompt
    python:package.module:function    offline: a Python callable is the model
    openai:MODEL                      any OpenAI-compatible chat-completions server
    openai:MODEL@URL                  ... at that base URL
    anthropic:MODEL[@URL]             Anthropic's Messages API
    ollama:MODEL[@URL]                Ollama's OpenAI-compatible endpoint
    NAME                              a model declared in [tool.modelbench.models.NAME]
    ALIAS=SPEC                        any of the above, shown under ALIAS

Does not import pytest.
"""

from __future__ import annotations

import dataclasses
import math
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from .._exceptions import SpecError

_NAME_RE = re.compile(r"^[A-Za-z0-9_.:\-/]+$")
_ALIAS_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
#: ``package.module:function`` of a ``python:`` model, and a base URL (http or https).
_PYTHON_TARGET_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_HTTP_URL_RE = re.compile(r"^https?://\S+$")
NAMED_MODEL_KEYS = (
    "provider", "model", "base_url", "api_key_env", "params", "gpu_hourly_usd", "gpus",
    "metrics_url", "price", "url_auth", "concurrency", "rpm", "tpm",
)

REDACTED = "[REDACTED]"

#: Query parameters of a base URL shown as they are; every other value is redacted.
PUBLIC_QUERY_PARAMS = frozenset({"api-version", "api_version", "version", "format", "deployment", "model"})


def redact_url(url: str) -> str:
    """``url`` with its credentials replaced by ``[REDACTED]``: the user info
    (``user:password@``) and the value of every query parameter but a few public ones
    (``api-version``, ...). For everything that shows or stores a base URL."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        query = "&".join(
            f"{urllib.parse.quote(name, safe='-_.')}="
            + (urllib.parse.quote(value, safe="-_.") if name.lower() in PUBLIC_QUERY_PARAMS else REDACTED)
            for name, value in pairs
        )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, REDACTED if parts.fragment else ""))


def has_url_credentials(url: str) -> bool:
    """Whether ``url`` carries user info (``user:password@host``)."""
    try:
        return "@" in urllib.parse.urlsplit(url).netloc
    except ValueError:
        return False


def _redact_spec(text: str) -> str:
    """A spec as written, with the credentials of its base URL (after ``@``) redacted."""
    head, sep, url = text.partition("@")
    return f"{head}{sep}{redact_url(url)}" if sep else text


@dataclasses.dataclass(frozen=True, slots=True)
class ModelSpec:
    """A configured model. Holds the *name* of the key's environment variable, never the key."""

    name: str
    provider: str
    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def spec(self) -> str:
        """The spec as a user would write it (base URL included, its credentials redacted)."""
        text = self.provider if self.provider == "echo" and not self.model else f"{self.provider}:{self.model}"
        if self.base_url:
            text += f"@{redact_url(self.base_url)}"
        return text

    @property
    def url_auth(self) -> bool:
        """Whether the base URL's user info is the credential (``url_auth = true``)."""
        return bool(self.extra.get("url_auth"))

    def describe(self) -> dict[str, Any]:
        """JSON-safe description for the results file: no secrets (URL credentials redacted)."""
        return {
            "name": self.name,
            "spec": self.spec,
            "provider": self.provider,
            "model": self.model,
            "base_url": None if self.base_url is None else redact_url(self.base_url),
            "api_key_env": self.api_key_env,
            "params": dict(self.params),
        }


def split_spec_list(text: str) -> list[str]:
    """Split ``a,b , c`` (also newlines) into non-empty items."""
    return [item.strip() for item in re.split(r"[,\n]", text) if item.strip()]


def parse_spec(
    text: str, providers: Iterable[str], named: Mapping[str, ModelSpec] | None = None
) -> ModelSpec:
    """Parse one model spec. Raises SpecError naming the spec and the known providers."""
    known = sorted(set(providers))
    named = named or {}
    original = _redact_spec(text)
    alias = None
    if "=" in text.split(":", 1)[0]:
        alias, text = (part.strip() for part in text.split("=", 1))
        if not _ALIAS_RE.match(alias):
            raise SpecError(
                f"model alias {alias!r} in {original!r} is not allowed; use letters, digits, '.', '_' or '-'"
            )
    if text in named:
        spec = named[text]
        return dataclasses.replace(spec, name=alias) if alias else spec
    if text == "echo":
        return ModelSpec(name=alias or "echo", provider="echo", model="")
    if ":" not in text:
        raise SpecError(
            f"model spec {original!r} is not a known provider or named model; write PROVIDER:MODEL "
            f"with a provider from: {', '.join(known)}"
            + (f", or one of the named models: {', '.join(sorted(named))}" if named else "")
        )
    provider, rest = text.split(":", 1)
    if provider not in known:
        raise SpecError(
            f"model spec {original!r} names unknown provider {provider!r}; known providers: {', '.join(known)}"
        )
    base_url = None
    if provider == "python":
        if not _PYTHON_TARGET_RE.match(rest):
            raise SpecError(
                f"model spec {original!r} is malformed; write python:package.module:function"
            )
        model = rest
    else:
        model, sep, base_url = rest.partition("@")
        if sep and not _HTTP_URL_RE.match(base_url):
            raise SpecError(
                f"model spec {original!r} has base URL {redact_url(base_url)!r}; it must start with http:// or https://"
            )
        if sep:
            check_url_credentials(base_url, f"model spec {original!r}", url_auth=False)
        base_url = base_url or None
        if not model or not _NAME_RE.match(model):
            raise SpecError(
                f"model spec {original!r} is malformed; write {provider}:MODEL or {provider}:MODEL@URL"
            )
    default_name = f"{provider}:{model}"
    return ModelSpec(name=alias or default_name, provider=provider, model=model, base_url=base_url)


def check_url_credentials(url: str, where: str, *, url_auth: bool) -> None:
    """SpecError when ``url`` carries user info and ``url_auth`` was not asked for: httpx would
    send it as Basic authentication, silently in place of the API key."""
    if has_url_credentials(url) and not url_auth:
        raise SpecError(
            f"{where}: base URL {redact_url(url)!r} has credentials (user:password@), which would be sent "
            "as Basic authentication instead of the API key; remove them from the URL and give the key "
            "through its environment variable, or declare the model in [tool.modelbench.models.NAME] "
            "with url_auth = true to authenticate with them (no key is then sent)"
        )


def parse_named_models(table: Any, providers: Iterable[str]) -> dict[str, ModelSpec]:
    """Read ``[tool.modelbench.models.NAME]`` tables."""
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise SpecError(f"[tool.modelbench.models] must be a table of models, got {table!r}")
    known = sorted(set(providers))
    specs: dict[str, ModelSpec] = {}
    for name, entry in table.items():
        where = f"[tool.modelbench.models.{name}]"
        if not _ALIAS_RE.match(name):
            raise SpecError(f"model name {name!r} in {where} is not allowed; use letters, digits, '.', '_' or '-'")
        if not isinstance(entry, Mapping):
            raise SpecError(f"{where} must be a table, got {entry!r}")
        unknown = sorted(set(entry) - set(NAMED_MODEL_KEYS))
        if unknown:
            raise SpecError(f"{where} has unknown key {unknown[0]!r}; allowed: {', '.join(NAMED_MODEL_KEYS)}")
        provider = entry.get("provider")
        if provider not in known:
            raise SpecError(f"{where} provider {provider!r} is not one of: {', '.join(known)}")
        model = entry.get("model", "")
        if provider != "echo" and (not isinstance(model, str) or not model):
            raise SpecError(f"{where} needs model = \"...\" (a non-empty string), got {model!r}")
        if provider == "python" and not _PYTHON_TARGET_RE.match(model):
            raise SpecError(f"{where} model {model!r} must be package.module:function for provider 'python'")
        base_url = entry.get("base_url")
        if base_url is not None and (not isinstance(base_url, str) or not _HTTP_URL_RE.match(base_url)):
            shown = redact_url(base_url) if isinstance(base_url, str) else base_url
            raise SpecError(f"{where} base_url {shown!r} must start with http:// or https://")
        url_auth = entry.get("url_auth", False)
        if not isinstance(url_auth, bool):
            raise SpecError(f"{where} url_auth {url_auth!r} must be true or false")
        if base_url is not None:
            check_url_credentials(base_url, where, url_auth=url_auth)
        api_key_env = entry.get("api_key_env")
        if api_key_env is not None and (not isinstance(api_key_env, str) or not re.match(r"^[A-Za-z_]\w*$", api_key_env)):
            raise SpecError(f"{where} api_key_env {api_key_env!r} must be the name of an environment variable")
        params = entry.get("params", {})
        if not isinstance(params, Mapping):
            raise SpecError(f"{where} params must be a table, got {params!r}")
        extra = {key: entry[key] for key in ("gpu_hourly_usd", "gpus", "metrics_url", "price", "url_auth")
                 if key in entry}
        extra.update(_call_limits(entry, where))
        specs[name] = ModelSpec(
            name=name, provider=provider, model=model, base_url=base_url,
            api_key_env=api_key_env, params=dict(params), extra=extra,
        )
    return specs


def _call_limits(entry: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``concurrency`` (model calls in flight), ``rpm`` and ``tpm`` (requests and tokens per
    minute) of a named model, checked: SpecError names the table, the key and the value."""
    limits: dict[str, Any] = {}
    if "concurrency" in entry:
        value = entry["concurrency"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SpecError(f"{where} concurrency {value!r} is not allowed; it must be a whole number >= 1")
        limits["concurrency"] = value
    for key, unit in (("rpm", "requests per minute"), ("tpm", "tokens per minute")):
        if key in entry:
            value = entry[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    math.isfinite(value) and value > 0):
                raise SpecError(f"{where} {key} {value!r} is not allowed; it must be a number > 0 ({unit})")
            limits[key] = float(value)
    return limits


def parse_model_list(
    text: str, providers: Iterable[str], named: Mapping[str, ModelSpec] | None = None
) -> list[ModelSpec]:
    """Parse a comma separated list of specs; names must be unique."""
    specs = [parse_spec(item, providers, named) for item in split_spec_list(text)]
    seen: dict[str, ModelSpec] = {}
    for spec in specs:
        if spec.name in seen:
            raise SpecError(
                f"model name {spec.name!r} is given twice ({seen[spec.name].spec!r} and {spec.spec!r}); "
                "give one of them an alias: ALIAS=SPEC"
            )
        seen[spec.name] = spec
    return specs
