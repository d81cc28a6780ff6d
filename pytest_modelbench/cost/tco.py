"""Self-hosting: GPUs rented by the hour against hosted per-token prices.

:func:`self_hosted_cost` gives the cost per 1M output tokens and per month from the GPU price
and measured throughput; :func:`break_even` the daily volume where self-hosting becomes
cheaper than each hosted model.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._exceptions import ConfigError
from ..core.table import RunTable
from .budget import DAYS_PER_MONTH, check_positive
from .prices import TOKENS_PER_PRICE_UNIT

#: Keys of a self-hosted deployment, as in ``[tool.modelbench.models.NAME]``.
SELF_HOSTING_KEYS = ("gpu_hourly_usd", "gpus")


# --------------------------------------------------------------------------------------------
# Self-hosted total cost of ownership


@dataclasses.dataclass(frozen=True, slots=True)
class SelfHosting:
    """A self-hosted deployment: ``gpus`` GPUs rented at ``gpu_hourly_usd`` each."""

    gpu_hourly_usd: float
    gpus: int

    @property
    def monthly_usd(self) -> float:
        """Cost of keeping the GPUs up 24/7: gpus · gpu_hourly_usd · 24 · 30.4375."""
        return self.gpus * self.gpu_hourly_usd * 24.0 * DAYS_PER_MONTH


def parse_self_hosting(entry: Mapping[str, Any], model: str,
                       where: str | None = None) -> SelfHosting | None:
    """Read ``gpu_hourly_usd`` and ``gpus`` from a model's settings; None when neither is given."""
    where = where or f"[tool.modelbench.models.{model}]"
    given = [key for key in SELF_HOSTING_KEYS if entry.get(key) is not None]
    if not given:
        return None
    if len(given) < len(SELF_HOSTING_KEYS):
        missing = next(key for key in SELF_HOSTING_KEYS if key not in given)
        raise ConfigError(
            f"{where} gives {given[0]} but not {missing}; a self-hosted model needs both "
            "gpu_hourly_usd (USD per GPU-hour, > 0) and gpus (a whole number >= 1)"
        )
    hourly = entry["gpu_hourly_usd"]
    if isinstance(hourly, bool) or not isinstance(hourly, (int, float)) or not math.isfinite(hourly) or hourly <= 0:
        raise ConfigError(f"{where} gpu_hourly_usd {hourly!r} is not allowed; it must be USD per GPU-hour > 0")
    gpus = entry["gpus"]
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 1:
        raise ConfigError(f"{where} gpus {gpus!r} is not allowed; it must be a whole number >= 1")
    return SelfHosting(float(hourly), gpus)


@dataclasses.dataclass(frozen=True, slots=True)
class SelfHostedCost:
    """Cost of a self-hosted deployment at a measured output throughput.

    - ``usd_per_mtok_output`` = gpus · gpu_hourly_usd / (output_tokens_per_s · 3600) · 1e6:
      the whole GPU bill charged to output tokens at full utilisation (a best case: prompt
      processing is inside the measured throughput, idle time is not).
    - ``monthly_usd`` = gpus · gpu_hourly_usd · 24 · 30.4375: the GPUs are provisioned 24/7,
      so the monthly cost is fixed, whatever the volume.
    - ``capacity_tasks_per_day`` = output_tokens_per_s · 86400 / output_tokens_per_task: the
      most tasks one deployment can serve at that throughput; ``fits_capacity`` and
      ``utilisation`` = tasks_per_day / capacity compare it with the volume.
    - ``cost_per_task_usd`` = monthly_usd / (tasks_per_day · 30.4375) at the volume.
    """

    gpu_hourly_usd: float
    gpus: int
    output_tokens_per_s: float
    usd_per_mtok_output: float
    monthly_usd: float
    tasks_per_day: float | None
    output_tokens_per_task: float | None
    capacity_tasks_per_day: float | None
    utilisation: float | None
    fits_capacity: bool | None
    cost_per_task_usd: float | None

    def to_dict(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


def self_hosted_cost(hosting: SelfHosting, output_tokens_per_s: float, *,
                     tasks_per_day: float | None = None,
                     output_tokens_per_task: float | None = None) -> SelfHostedCost:
    """Price per 1M output tokens, fixed monthly cost and capacity (see :class:`SelfHostedCost`).

    ``output_tokens_per_s`` is the deployment's sustained aggregate output throughput. A
    sequential benchmark measures one request at a time (:func:`output_throughput`), which
    under-states what a batching server (vLLM, TGI) delivers under load and so over-states
    the cost per token; measure it under load when you can and pass that.
    """
    throughput = check_positive(output_tokens_per_s, "output_tokens_per_s", "output tokens per second")
    volume = None if tasks_per_day is None else check_positive(tasks_per_day, "tasks_per_day", "tasks per day")
    per_task = None if output_tokens_per_task is None else check_positive(
        output_tokens_per_task, "output_tokens_per_task", "output tokens per task")
    hourly_total = hosting.gpus * hosting.gpu_hourly_usd
    capacity = None if per_task is None else throughput * 86_400.0 / per_task
    utilisation = None if capacity is None or volume is None else volume / capacity
    return SelfHostedCost(
        gpu_hourly_usd=hosting.gpu_hourly_usd,
        gpus=hosting.gpus,
        output_tokens_per_s=throughput,
        usd_per_mtok_output=hourly_total / (throughput * 3600.0) * TOKENS_PER_PRICE_UNIT,
        monthly_usd=hosting.monthly_usd,
        tasks_per_day=volume,
        output_tokens_per_task=per_task,
        capacity_tasks_per_day=capacity,
        utilisation=utilisation,
        fits_capacity=None if utilisation is None else utilisation <= 1.0,
        cost_per_task_usd=None if volume is None else hosting.monthly_usd / (volume * DAYS_PER_MONTH),
    )


def output_throughput(table: RunTable, model: str) -> float | None:
    """Single-stream output throughput of ``model``: Σ output tokens / Σ latency seconds over
    its runs with both known (None when there are none). Latency is request to last byte, so
    prompt processing is included. A lower bound for a batching server's capacity."""
    if model not in table.models:
        raise ValueError(f"model {model!r} is not in the run table; known: {', '.join(table.models)}")
    index = table.models.index(model)
    mine = table.model == index
    output_tokens = np.asarray(table.output_tokens, dtype=np.float64)[mine]
    latency_ms = np.asarray(table.latency_ms, dtype=np.float64)[mine]
    known = ~np.isnan(output_tokens) & ~np.isnan(latency_ms) & (latency_ms > 0)
    seconds = float(latency_ms[known].sum()) / 1000.0
    tokens = float(output_tokens[known].sum())
    if seconds == 0 or tokens == 0:
        return None
    return tokens / seconds


@dataclasses.dataclass(frozen=True, slots=True)
class BreakEven:
    """Daily volume at which a hosted model costs as much per month as the self-hosted one.

    tasks_per_day = monthly_usd_self_hosted / (30.4375 · hosted_cost_per_task_usd). Above it
    self-hosting is cheaper, provided the deployment can serve that volume
    (``within_capacity``; None when its capacity is unknown). When the break-even volume is
    beyond capacity, more replicas raise the fixed cost in the same proportion, so the hosted
    model stays cheaper at every volume. None when the hosted cost is unknown or 0.
    """

    hosted_model: str
    hosted_cost_per_task_usd: float | None
    tasks_per_day: float | None
    within_capacity: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


def break_even(self_hosted: SelfHostedCost,
               hosted_cost_per_task_usd: Mapping[str, float | None]) -> dict[str, BreakEven]:
    """Break-even daily volume against each hosted model (its cost per task on the same task mix)."""
    result: dict[str, BreakEven] = {}
    for model, cost in hosted_cost_per_task_usd.items():
        if cost is not None and (isinstance(cost, bool) or not math.isfinite(cost) or cost < 0):
            raise ValueError(f"hosted cost per task {cost!r} of model {model!r} is not allowed; "
                             "it must be a finite number >= 0 or None")
        volume = None if cost is None or cost == 0 else self_hosted.monthly_usd / (DAYS_PER_MONTH * cost)
        capacity = self_hosted.capacity_tasks_per_day
        result[model] = BreakEven(
            hosted_model=model,
            hosted_cost_per_task_usd=None if cost is None else float(cost),
            tasks_per_day=volume,
            within_capacity=None if volume is None or capacity is None else volume <= capacity,
        )
    return result


