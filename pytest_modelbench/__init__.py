"""pytest-modelbench: benchmark and compare AI models with ordinary pytest tests."""

from __future__ import annotations

from ._completion import Completion
from ._exceptions import (
    ConfigError,
    ModelbenchError,
    ModelCallError,
    ModelError,
    ModelResponseError,
    ModelTimeoutError,
    SpecError,
)
from ._records import RunRecord

__version__ = "0.1.0"

__all__ = [
    "Completion",
    "ConfigError",
    "ModelCallError",
    "ModelError",
    "ModelResponseError",
    "ModelTimeoutError",
    "ModelbenchError",
    "RunRecord",
    "SpecError",
    "__version__",
]
