"""pytest-modelbench: benchmark and compare AI models with ordinary pytest tests."""

from __future__ import annotations

from ._exceptions import (
    ConfigError,
    ModelbenchError,
    ModelCallError,
    ModelError,
    ModelResponseError,
    ModelTimeoutError,
    SandboxUnavailableError,
    SpecError,
)
from .core.records import RunRecord
from .design.datasets import Task, TaskList, tasks_from_csv, tasks_from_jsonl
from .models.completion import Completion
from .models.providers import ProviderOptions
from .models.specs import ModelSpec

__version__ = "0.1.0"

__all__ = [
    "Completion",
    "ConfigError",
    "ModelCallError",
    "ModelError",
    "ModelResponseError",
    "ModelTimeoutError",
    "ModelSpec",
    "ModelbenchError",
    "ProviderOptions",
    "RunRecord",
    "SandboxUnavailableError",
    "SpecError",
    "Task",
    "TaskList",
    "__version__",
    "tasks_from_csv",
    "tasks_from_jsonl",
]
