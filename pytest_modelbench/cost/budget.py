"""Budget projection: monthly cost at a daily volume, and the option strings that set them.

:func:`project_budget` turns the cost per task into a monthly cost at a daily volume with a
95% interval from the spread of per-task costs; :func:`parse_volume`, :func:`parse_budget`
and :func:`parse_usd` read the option strings.
"""

from __future__ import annotations

import dataclasses
import math
import re
import statistics
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._exceptions import ConfigError

#: Days in an average month: a Julian year of 365.25 days over 12 months.
DAYS_PER_MONTH = 365.25 / 12


# --------------------------------------------------------------------------------------------
# Budget projection


@dataclasses.dataclass(frozen=True, slots=True)
class BudgetFit:
    """How a projected monthly cost compares with a monthly budget.

    ``fits``: the point estimate is within the budget. ``confident``: the whole interval lies
    on the same side of the budget as the point estimate (False when there is no interval).
    ``headroom_usd``: budget − projected monthly cost (negative when over). Truthy when it fits.
    """

    budget_usd_per_month: float
    monthly_usd: float
    monthly_low_usd: float | None
    monthly_high_usd: float | None
    fits: bool
    confident: bool
    headroom_usd: float

    def __bool__(self) -> bool:
        return self.fits

    def to_dict(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


@dataclasses.dataclass(frozen=True, slots=True)
class BudgetProjection:
    """Monthly cost of running ``tasks_per_day`` tasks drawn like the benchmark's task mix.

    monthly = N · D · c̄,  SE = N · D · s/√n,  interval = monthly ± z · SE (low end clipped at 0)

    with N tasks per day, D = 30.4375 days per month (365.25 / 12), c̄ the mean over the n
    measured tasks of each task's mean run cost, s their standard deviation (ddof=1) and
    z = Φ⁻¹((1 + confidence) / 2). ``monthly_low_usd`` / ``monthly_high_usd`` are None when
    fewer than 2 tasks were priced (no spread to measure).
    """

    tasks_per_day: float
    days_per_month: float
    tasks: int | None
    cost_per_task_usd: float
    cost_per_task_se_usd: float | None
    monthly_usd: float
    monthly_se_usd: float | None
    monthly_low_usd: float | None
    monthly_high_usd: float | None
    confidence: float

    def fits_budget(self, budget_usd_per_month: float) -> BudgetFit:
        """Compare with a monthly budget in USD (e.g. from :func:`parse_budget`)."""
        budget = check_positive(budget_usd_per_month, "budget_usd_per_month", "USD per month")
        fits = self.monthly_usd <= budget
        if self.monthly_low_usd is None or self.monthly_high_usd is None:
            confident = False
        elif fits:
            confident = self.monthly_high_usd <= budget
        else:
            confident = self.monthly_low_usd > budget
        return BudgetFit(
            budget_usd_per_month=budget,
            monthly_usd=self.monthly_usd,
            monthly_low_usd=self.monthly_low_usd,
            monthly_high_usd=self.monthly_high_usd,
            fits=fits,
            confident=confident,
            headroom_usd=budget - self.monthly_usd,
        )

    def to_dict(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


def check_positive(value: Any, what: str, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what} {value!r} is not a number; it must be a finite number > 0 ({unit})")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{what} {value!r} is not allowed; it must be a finite number > 0 ({unit})")
    return number


def project_budget(cost_per_task_usd: float, cost_per_task_se_usd: float | None, tasks_per_day: float,
                   *, confidence: float = 0.95, tasks: int | None = None) -> BudgetProjection:
    """Project the monthly cost at ``tasks_per_day`` (see :class:`BudgetProjection`).

    The interval is the normal (CLT) interval over tasks of Miller (2024), "Adding Error Bars
    to Evals" (arXiv:2411.00640), applied to per-task cost instead of per-task score: it
    covers the uncertainty of the measured task mix, assuming production tasks are drawn like
    the benchmark's, not changes of price or of traffic.
    """
    if isinstance(cost_per_task_usd, bool) or not isinstance(cost_per_task_usd, (int, float, np.floating)) \
            or not math.isfinite(cost_per_task_usd) or cost_per_task_usd < 0:
        raise ValueError(f"cost_per_task_usd {cost_per_task_usd!r} is not allowed; it must be a finite number >= 0")
    if cost_per_task_se_usd is not None and (
            isinstance(cost_per_task_se_usd, bool) or not isinstance(cost_per_task_se_usd, (int, float, np.floating))
            or not math.isfinite(cost_per_task_se_usd) or cost_per_task_se_usd < 0):
        raise ValueError(
            f"cost_per_task_se_usd {cost_per_task_se_usd!r} is not allowed; it must be a finite number >= 0 or None"
        )
    volume = check_positive(tasks_per_day, "tasks_per_day", "tasks per day")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence {confidence!r} is not allowed; it must be strictly between 0 and 1")
    scale = volume * DAYS_PER_MONTH
    monthly = scale * float(cost_per_task_usd)
    if cost_per_task_se_usd is None:
        monthly_se = low = high = None
    else:
        z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2.0)
        monthly_se = scale * float(cost_per_task_se_usd)
        low = max(0.0, monthly - z * monthly_se)
        high = monthly + z * monthly_se
    return BudgetProjection(
        tasks_per_day=volume,
        days_per_month=DAYS_PER_MONTH,
        tasks=tasks,
        cost_per_task_usd=float(cost_per_task_usd),
        cost_per_task_se_usd=None if cost_per_task_se_usd is None else float(cost_per_task_se_usd),
        monthly_usd=monthly,
        monthly_se_usd=monthly_se,
        monthly_low_usd=low,
        monthly_high_usd=high,
        confidence=float(confidence),
    )


# --------------------------------------------------------------------------------------------
# Option strings

_AMOUNT_RE = re.compile(
    r"^\s*(?P<dollar>\$)?\s*(?P<number>(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*"
    r"(?:/\s*(?P<unit>[A-Za-z]+))?\s*$"
)
#: Tasks per day in one task per unit.
VOLUME_UNITS = {"hour": 24.0, "day": 1.0, "week": 1.0 / 7.0, "month": 1.0 / DAYS_PER_MONTH}
#: USD per month in one USD per unit.
BUDGET_UNITS = {"day": DAYS_PER_MONTH, "week": DAYS_PER_MONTH / 7.0, "month": 1.0, "year": 1.0 / 12.0}


def _parse_amount(text: Any, what: str, units: Mapping[str, float] | None, default_unit: str,
                  example: str, allow_dollar: bool) -> float:
    """Read ``[$]NUMBER[/UNIT]``; NUMBER > 0 times the factor of UNIT (no unit when ``units`` is None)."""
    if units is None:
        allowed = f"write an amount > 0 (e.g. {example!r})"
    else:
        allowed = f"write a number > 0, optionally followed by /{' or /'.join(units)} (e.g. {example!r})"
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        text = str(text)
    match = _AMOUNT_RE.match(text) if isinstance(text, str) else None
    if match is None or (match["dollar"] and not allow_dollar):
        raise ConfigError(f"{what} {text!r} is not allowed; {allowed}")
    if match["unit"] is not None and units is None:
        raise ConfigError(f"{what} {text!r} is not allowed: it takes no unit; {allowed}")
    unit = (match["unit"] or default_unit).lower()
    if units is not None and unit not in units:
        raise ConfigError(
            f"{what} {text!r} has unit {match['unit']!r}, which is not one of: {', '.join(units)}; {allowed}"
        )
    number = float(match["number"].replace("_", ""))
    if not math.isfinite(number) or number <= 0:
        raise ConfigError(f"{what} {text!r} is not allowed; {allowed}")
    return number * (1.0 if units is None else units[unit])


def parse_volume(text: str | float, what: str = "--modelbench-volume") -> float:
    """Tasks per day from ``"5000/day"``, ``"200/hour"``, ``"700/week"``, ``"1e5/month"`` or
    a plain number (per day). A month is 30.4375 days. Raises ConfigError naming the value."""
    return _parse_amount(text, what, VOLUME_UNITS, "day", "5000/day", allow_dollar=False)


def parse_budget(text: str | float, what: str = "--modelbench-budget") -> float:
    """USD per month from ``"200/month"``, ``"$200"``, ``"10/day"``, ``"50/week"``,
    ``"2400/year"`` or a plain number (per month). Raises ConfigError naming the value."""
    return _parse_amount(text, what, BUDGET_UNITS, "month", "200/month", allow_dollar=True)


def parse_usd(text: str | float, what: str = "--modelbench-max-cost") -> float:
    """An amount in USD > 0 from ``"5"``, ``"$2.50"``. Raises ConfigError naming the value."""
    return _parse_amount(text, what, None, "", "5.00", allow_dollar=True)


