"""Cost analysis: what benchmark runs cost and what a model would cost in production.

Wing of the cost capability. Modules by concern: :mod:`.prices` (price table, the cost of a
run), :mod:`.summary` (per-model cost summaries, the cost/score trade-off, cost rows for the
terminal), :mod:`.budget` (monthly projection at a volume, budget fit, option parsing),
:mod:`.tco` (self-hosted GPUs against hosted prices, break-even) and :mod:`.ledger` (the
session-wide spend cap shared by xdist workers). This module only re-exports their public
names.

May import: the foundation (``stats``, ``_exceptions``) and ``core``. Does not import pytest.
Money is USD; prices are USD per 1M tokens.
"""

from __future__ import annotations

from .budget import (
    BUDGET_UNITS,
    DAYS_PER_MONTH,
    VOLUME_UNITS,
    BudgetFit,
    BudgetProjection,
    check_positive,
    parse_budget,
    parse_usd,
    parse_volume,
    project_budget,
)
from .ledger import (
    MAX_AMOUNT_USD,
    NANO_USD_PER_USD,
    BudgetExceeded,
    SpendLedger,
    SpendSnapshot,
)
from .prices import (
    BUILTIN_PRICES,
    LOCAL_FREE_PRICE,
    PRICE_KEYS,
    TOKENS_PER_PRICE_UNIT,
    ModelPrice,
    PriceTable,
    parse_price,
    price_names,
    run_cost,
    run_costs,
)
from .summary import (
    UNKNOWN,
    CheapestWithin,
    CostRows,
    ModelCost,
    cheapest_within,
    cost_rows,
    format_cost_per_task,
    format_count,
    format_usd,
    format_usd_delta,
    format_usd_per_1k,
    summarize_costs,
)
from .tco import (
    SELF_HOSTING_KEYS,
    BreakEven,
    SelfHostedCost,
    SelfHosting,
    break_even,
    output_throughput,
    parse_self_hosting,
    self_hosted_cost,
)

__all__ = [
    "BUDGET_UNITS",
    "BUILTIN_PRICES",
    "LOCAL_FREE_PRICE",
    "BreakEven",
    "BudgetExceeded",
    "BudgetFit",
    "BudgetProjection",
    "CheapestWithin",
    "CostRows",
    "DAYS_PER_MONTH",
    "MAX_AMOUNT_USD",
    "ModelCost",
    "ModelPrice",
    "NANO_USD_PER_USD",
    "PRICE_KEYS",
    "PriceTable",
    "SELF_HOSTING_KEYS",
    "SelfHostedCost",
    "SelfHosting",
    "SpendLedger",
    "SpendSnapshot",
    "TOKENS_PER_PRICE_UNIT",
    "UNKNOWN",
    "VOLUME_UNITS",
    "break_even",
    "cheapest_within",
    "check_positive",
    "cost_rows",
    "format_cost_per_task",
    "format_count",
    "format_usd",
    "format_usd_delta",
    "format_usd_per_1k",
    "output_throughput",
    "parse_budget",
    "parse_price",
    "parse_self_hosting",
    "parse_usd",
    "parse_volume",
    "price_names",
    "project_budget",
    "run_cost",
    "run_costs",
    "self_hosted_cost",
    "summarize_costs",
]
