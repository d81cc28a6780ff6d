"""Exceptions raised by pytest-modelbench.

The hierarchy::

    ModelbenchError                 base of everything raised here
    ├── ConfigError                 bad option, ini value, marker or [tool.modelbench] entry
    │   ├── SpecError               a model spec that cannot be parsed or whose provider is unknown
    │   └── SandboxUnavailableError a sandbox was required for generated code, and none works here
    └── ModelError                  a model could not deliver a completion
        ├── ModelCallError          the call failed after retries (HTTP status, connection error)
        │   └── ModelTimeoutError   the call exceeded its timeout
        └── ModelResponseError      the server answered, but the answer is unusable
                                    (truncated stream, body that is not JSON, error event)

``ModelError`` raised inside a benchmark run makes that run an ``error`` outcome whose reason
is the exception's message. Messages never contain API keys.
"""

from __future__ import annotations


class ModelbenchError(Exception):
    """Base class of all pytest-modelbench errors."""


class ConfigError(ModelbenchError):
    """A configuration value is invalid; the message names the value and what is allowed."""


class SpecError(ConfigError):
    """A model spec is malformed or names an unknown provider."""


class SandboxUnavailableError(ConfigError):
    """``sandbox="require"`` (``--modelbench-sandbox=require``) and no sandbox stronger than
    resource limits works on this machine; the message says why."""


class ModelError(ModelbenchError):
    """A model could not deliver a completion."""


class ModelCallError(ModelError):
    """The model call failed after all retries.

    ``status_code`` is the last HTTP status seen, or None for a transport failure.
    """

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ModelTimeoutError(ModelCallError):
    """The model call exceeded its timeout (after all retries)."""


class ModelResponseError(ModelError):
    """The server answered, but the response cannot be used."""
