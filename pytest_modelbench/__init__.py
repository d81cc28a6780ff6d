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
from ._specs import ModelSpec
from .datasets import Task, TaskList, tasks_from_csv, tasks_from_jsonl
from .providers import ProviderOptions

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
    "SpecError",
    "Task",
    "TaskList",
    "__version__",
    "tasks_from_csv",
    "tasks_from_jsonl",
]
