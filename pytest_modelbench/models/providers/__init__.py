"""Model providers and the registry that builds them from specs.

A provider is any object with::

    complete(messages, *, max_tokens=None, temperature=None, timeout=None, **params) -> Completion
    close() -> None

Factories take a :class:`ModelSpec` and :class:`ProviderOptions` and return a provider.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from ..._exceptions import ConfigError, SpecError
from ..completion import Completion
from ..specs import ModelSpec, check_url_credentials


class Provider(Protocol):
    def complete(
        self, messages: list[dict[str, Any]], *, max_tokens: int | None = None,
        temperature: float | None = None, timeout: float | None = None, **params: Any,
    ) -> Completion: ...

    def close(self) -> None: ...


#: Default cap on a response body, counted after decompression (``--modelbench-max-response-bytes``).
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderOptions:
    """What every provider of a session is built with: the timeout of one attempt (seconds),
    the retries after it, the cap on a response body counted after decompression (bytes), and
    the environment keys and base URLs are read from."""

    timeout: float = 60.0
    retries: int = 2
    environ: Mapping[str, str] = dataclasses.field(default_factory=lambda: os.environ)
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES


ProviderFactory = Callable[[ModelSpec, ProviderOptions], Provider]


def _echo(spec: ModelSpec, options: ProviderOptions) -> Provider:
    from .local import EchoProvider

    return EchoProvider()


def _python(spec: ModelSpec, options: ProviderOptions) -> Provider:
    from .local import PythonProvider

    return PythonProvider(spec.model, spec.params)


def _api_key(spec: ModelSpec, environ: Mapping[str, str], default_key_env: str | None) -> str | None:
    """The key from ``$spec.api_key_env``, else ``$default_key_env`` (None: no key is sent)."""
    if default_key_env is None:
        return None
    api_key = environ.get(spec.api_key_env or default_key_env) or None
    if spec.api_key_env and api_key is None:
        raise SpecError(f"model {spec.name!r} reads its API key from ${spec.api_key_env}, which is not set")
    return api_key


def resolve_openai_endpoint(spec: ModelSpec, environ: Mapping[str, str]) -> tuple[str, str | None]:
    """Base URL and API key an ``openai:`` or ``ollama:`` spec calls (for load profiles)."""
    base_url = called_base_url(spec, environ)
    assert base_url is not None, f"{spec.spec} is not an openai: or ollama: spec"
    if spec.provider == "ollama":
        return base_url, None
    # With url_auth the URL's user info authenticates: no key is sent (as _http_provider).
    return base_url, None if spec.url_auth else _api_key(spec, environ, "OPENAI_API_KEY")


def _http_provider(
    provider_class: Callable[..., Provider],
    spec: ModelSpec,
    options: ProviderOptions,
    *,
    base_url: str,
    default_key_env: str | None,
) -> Provider:
    """An HTTP provider for ``spec``, its API key read and ``stream`` taken out of its params.

    The key comes from the variable ``spec.api_key_env`` names, else from ``default_key_env``
    (None: the provider is sent no key); an empty variable counts as unset, which is a
    SpecError only when the spec named the variable itself.
    """
    check_url_credentials(base_url, f"model {spec.name!r}", url_auth=spec.url_auth)
    # With url_auth the URL's user info authenticates (as Basic auth): no key is sent.
    api_key = None if spec.url_auth else _api_key(spec, options.environ, default_key_env)
    params = dict(spec.params)
    stream = params.pop("stream", True)
    return provider_class(
        spec.model, base_url=base_url, api_key=api_key, timeout=options.timeout,
        max_retries=options.retries, params=params, stream=bool(stream),
        max_response_bytes=options.max_response_bytes,
    )


def _openai(spec: ModelSpec, options: ProviderOptions) -> Provider:
    from .openai import OpenAIProvider

    base_url, _ = resolve_openai_endpoint(spec, options.environ)
    return _http_provider(OpenAIProvider, spec, options, base_url=base_url, default_key_env="OPENAI_API_KEY")


def _anthropic(spec: ModelSpec, options: ProviderOptions) -> Provider:
    from .anthropic import AnthropicProvider

    return _http_provider(
        AnthropicProvider, spec, options, base_url=called_base_url(spec, options.environ),
        default_key_env="ANTHROPIC_API_KEY",
    )


OLLAMA_DEFAULT_HOST = "http://127.0.0.1:11434"


def ollama_base_url(spec: ModelSpec, environ: Mapping[str, str]) -> str:
    """``@URL`` of the spec, else ``$OLLAMA_HOST`` (``host:port`` or a URL) + ``/v1``, else local."""
    if spec.base_url:
        return spec.base_url
    host = (environ.get("OLLAMA_HOST") or "").strip() or OLLAMA_DEFAULT_HOST
    if "://" not in host:
        host = f"http://{host}"
    if host.startswith("http://0.0.0.0"):  # the server's listen address: reach it on loopback
        host = host.replace("0.0.0.0", "127.0.0.1", 1)
    return host.rstrip("/") + "/v1"


def _ollama(spec: ModelSpec, options: ProviderOptions) -> Provider:
    """Ollama's OpenAI-compatible endpoint; no API key."""
    from .openai import OpenAIProvider

    return _http_provider(
        OpenAIProvider, spec, options, base_url=called_base_url(spec, options.environ), default_key_env=None
    )


BUILTIN_PROVIDERS: dict[str, ProviderFactory] = {
    "anthropic": _anthropic,
    "echo": _echo,
    "ollama": _ollama,
    "openai": _openai,
    "python": _python,
}


def build_provider(
    spec: ModelSpec, options: ProviderOptions,
    registry: Mapping[str, ProviderFactory] = BUILTIN_PROVIDERS,
) -> Provider:
    try:
        factory = registry[spec.provider]
    except KeyError:
        raise SpecError(
            f"model {spec.name!r} names unknown provider {spec.provider!r}; "
            f"known providers: {', '.join(sorted(registry))}"
        ) from None
    return factory(spec, options)


#: Environment variable naming a provider's base URL, and the host of its public API.
BASE_URL_ENV = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}
PUBLIC_HOSTS = {"openai": "api.openai.com", "anthropic": "api.anthropic.com"}


def effective_base_url(spec: ModelSpec, environ: Mapping[str, str]) -> str | None:
    """The base URL a hosted-API spec will call: ``@URL``, else its env variable; None = default."""
    if spec.base_url:
        return spec.base_url
    variable = BASE_URL_ENV.get(spec.provider)
    return (environ.get(variable) or None) if variable else None


def called_base_url(spec: ModelSpec, environ: Mapping[str, str]) -> str | None:
    """The base URL a spec of a built-in HTTP provider calls: its ``@URL``, else its environment
    variable (:data:`BASE_URL_ENV`; ``$OLLAMA_HOST`` for ollama, :func:`ollama_base_url`), else
    the provider's default. None for the other providers (they call no URL of theirs)."""
    if spec.provider == "ollama":
        return ollama_base_url(spec, environ)
    if spec.provider == "openai":
        from .openai import DEFAULT_BASE_URL
    elif spec.provider == "anthropic":
        from .anthropic import DEFAULT_BASE_URL
    else:
        return None
    return effective_base_url(spec, environ) or DEFAULT_BASE_URL


def uses_public_api(spec: ModelSpec, environ: Mapping[str, str]) -> bool:
    """True when the spec calls a hosted provider's public API (list prices apply)."""
    if spec.provider not in PUBLIC_HOSTS:
        return False
    url = effective_base_url(spec, environ)
    return url is None or PUBLIC_HOSTS[spec.provider] in url


__all__ = ["BUILTIN_PROVIDERS", "Provider", "ProviderFactory", "ProviderOptions", "build_provider", "provider_registry"]


def provider_registry(registered: Iterable[tuple[str, Any]]) -> dict[str, ProviderFactory]:
    """The built-in providers plus those other plugins registered: ``registered`` holds, per
    ``pytest_modelbench_providers`` implementation, its owner and what it returned (a dict of
    prefix → factory, or None). ConfigError names the owner of a bad or clashing entry."""
    registry: dict[str, ProviderFactory] = dict(BUILTIN_PROVIDERS)
    owners = {prefix: "pytest-modelbench" for prefix in registry}
    for owner, found in registered:
        if found is None:
            continue
        if not isinstance(found, dict):
            raise ConfigError(
                f"pytest_modelbench_providers in {owner} returned {found!r}; "
                "return a dict of prefix -> factory"
            )
        for prefix, factory in found.items():
            if not isinstance(prefix, str) or not prefix.isidentifier():
                raise ConfigError(f"provider prefix {prefix!r} from {owner} is not an identifier")
            if not callable(factory):
                raise ConfigError(f"provider {prefix!r} from {owner} is {factory!r}, not a callable factory")
            if prefix in registry:
                raise ConfigError(
                    f"provider prefix {prefix!r} from {owner} is already registered by {owners[prefix]}"
                )
            registry[prefix] = factory
            owners[prefix] = owner
    return registry
