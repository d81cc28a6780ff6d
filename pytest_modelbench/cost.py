"""What benchmark runs cost: prices, per-model cost summaries, budget projection, self-hosted TCO.

Does not import pytest (the plugin wires this in). Money is USD; prices are USD per 1M tokens.

Prices
    :class:`PriceTable` holds the shipped, dated list prices (``data/prices.json``) and the
    project's overrides (``[tool.modelbench.prices]``). A model without a known price has an
    unknown cost (``None``), never 0.

Cost arithmetic
    :func:`run_cost` prices one run; :func:`run_costs` prices every run of a
    :class:`~pytest_modelbench._table.RunTable` at once (NaN where unknown).

Summaries
    :func:`summarize_costs` gives one :class:`ModelCost` per model: total, what this session
    spent, cost per task, cost per success, token efficiency and score points per dollar.

Projection
    :func:`project_budget` turns the cost per task into a monthly cost at a daily volume with
    a 95% interval from the spread of per-task costs; :func:`parse_volume` and
    :func:`parse_budget` read the option strings.

Self-hosting
    :func:`self_hosted_cost` and :func:`break_even` compare GPUs rented by the hour with
    hosted per-token prices.

Trade-off
    :func:`cheapest_within` picks the cheapest model scoring within N points of the best.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import importlib.resources
import json
import math
import re
import statistics
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ._exceptions import ConfigError
from ._table import RunTable

#: Days in an average month: a Julian year of 365.25 days over 12 months.
DAYS_PER_MONTH = 365.25 / 12
#: Prices are quoted per this many tokens.
TOKENS_PER_PRICE_UNIT = 1_000_000
#: Keys of a price entry; ``input`` and ``output`` are required.
PRICE_KEYS = ("input", "output", "cached_input", "as_of", "source", "note")
#: Keys of a self-hosted deployment, as in ``[tool.modelbench.models.NAME]``.
SELF_HOSTING_KEYS = ("gpu_hourly_usd", "gpus")
#: Where the shipped price table lives inside the package.
BUILTIN_PRICES = "data/prices.json"

_DATE_SUFFIX_RE = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|latest)$")
_PROVIDER_PREFIX_RE = re.compile(r"^[^:/]+[:/](?=.)")


# --------------------------------------------------------------------------------------------
# Prices


@dataclasses.dataclass(frozen=True, slots=True)
class ModelPrice:
    """List price of one model in USD per 1M tokens.

    ``model`` is the price-table entry that matched. ``cached_input_usd_per_mtok`` is the price
    of prompt tokens read from the provider's prompt cache; None when no cache price is known,
    in which case cached tokens are billed at the input price (an upper bound).
    ``as_of`` (ISO date) and ``source`` say when and where the price was read.
    """

    model: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    cached_input_usd_per_mtok: float | None = None
    as_of: str | None = None
    source: str | None = None
    note: str | None = None

    @property
    def cache_read_usd_per_mtok(self) -> float:
        """The price actually applied to cached prompt tokens."""
        if self.cached_input_usd_per_mtok is None:
            return self.input_usd_per_mtok
        return self.cached_input_usd_per_mtok

    def to_dict(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


def _price_number(value: Any, model: str, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(
            f"price of model {model!r} in {where}: {key} {value!r} is not a number; "
            "it must be a number >= 0 (USD per 1M tokens)"
        )
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ConfigError(
            f"price of model {model!r} in {where}: {key} {value!r} is not allowed; "
            "it must be a finite number >= 0 (USD per 1M tokens)"
        )
    return number


def _is_iso_date(text: Any) -> bool:
    if not isinstance(text, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return False
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def parse_price(value: Any, model: str, where: str = "[tool.modelbench.prices]") -> ModelPrice:
    """Validate one price entry such as ``{"input": 0.5, "output": 1.5, "cached_input": 0.25}``.

    Raises ConfigError naming the model, the bad key or value, and what is allowed.
    """
    example = "{input = 0.5, output = 1.5, cached_input = 0.25}"
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"price of model {model!r} in {where} must be a table like {example} "
            f"(USD per 1M tokens), got {value!r}"
        )
    unknown = sorted(str(key) for key in set(value) - set(PRICE_KEYS))
    if unknown:
        raise ConfigError(
            f"price of model {model!r} in {where} has unknown key {unknown[0]!r}; "
            f"allowed: {', '.join(PRICE_KEYS)}"
        )
    for key in ("input", "output"):
        if key not in value:
            raise ConfigError(
                f"price of model {model!r} in {where} needs {key} = ... (USD per 1M tokens); "
                f"write it like {example}"
            )
    input_price = _price_number(value["input"], model, "input", where)
    output_price = _price_number(value["output"], model, "output", where)
    cached_price = value.get("cached_input")
    if cached_price is not None:
        cached_price = _price_number(cached_price, model, "cached_input", where)
        if cached_price > input_price:
            raise ConfigError(
                f"price of model {model!r} in {where}: cached_input {value['cached_input']!r} is "
                f"more than input {value['input']!r}; a cache read is priced at most the input price"
            )
    as_of = value.get("as_of")
    if isinstance(as_of, datetime.date) and not isinstance(as_of, datetime.datetime):
        as_of = as_of.isoformat()  # TOML reads an unquoted date as a date
    if as_of is not None and not _is_iso_date(as_of):
        raise ConfigError(
            f"price of model {model!r} in {where}: as_of {as_of!r} is not a date; write YYYY-MM-DD"
        )
    for key in ("source", "note"):
        text = value.get(key)
        if text is not None and not isinstance(text, str):
            raise ConfigError(
                f"price of model {model!r} in {where}: {key} {text!r} is not allowed; it must be a string"
            )
    return ModelPrice(
        model=model,
        input_usd_per_mtok=input_price,
        output_usd_per_mtok=output_price,
        cached_input_usd_per_mtok=cached_price,
        as_of=as_of,
        source=value.get("source", where),
        note=value.get("note"),
    )


def price_names(name: str) -> list[str]:
    """The names tried, most specific first, when looking up the price of ``name``.

    1. the name as given;
    2. the name without a date or ``-latest`` suffix (``gpt-4o-mini-2024-07-18`` →
       ``gpt-4o-mini``, ``claude-sonnet-4-20250514`` → ``claude-sonnet-4``);
    3. both again with each leading ``provider:`` or ``provider/`` removed
       (``openai:gpt-4o`` → ``gpt-4o``, ``openrouter/openai/gpt-4o`` → ``openai/gpt-4o`` → ``gpt-4o``).

    There is deliberately no general prefix match: ``gpt-4o-mini-audio-preview`` or
    ``gpt-4o-2024-05-13`` are priced differently from ``gpt-4o``, so a name not covered by these
    rules has an unknown price rather than a wrong one. A dated snapshot priced differently
    from its family is listed under its full name, which rule 1 finds first.
    """
    names: list[str] = []
    current = name
    while True:
        for candidate in (current, _DATE_SUFFIX_RE.sub("", current)):
            if candidate and candidate not in names:
                names.append(candidate)
        stripped = _PROVIDER_PREFIX_RE.sub("", current, count=1)
        if stripped == current:
            return names
        current = stripped


@functools.lru_cache(maxsize=1)
def _builtin_prices() -> tuple[str, dict[str, ModelPrice]]:
    where = f"pytest_modelbench/{BUILTIN_PRICES}"
    text = importlib.resources.files("pytest_modelbench").joinpath(BUILTIN_PRICES).read_text("utf-8")
    data = json.loads(text)
    prices: dict[str, ModelPrice] = {}
    for model, entry in data["models"].items():
        price = parse_price(entry, model, where)
        if price.as_of is None or not (price.source or "").startswith("https://"):
            raise ConfigError(f"{where}: model {model!r} needs as_of and a source URL")
        prices[model] = price
    return data["as_of"], prices


@dataclasses.dataclass(frozen=True, slots=True)
class PriceTable:
    """Shipped list prices plus the project's overrides, keyed by model name.

    ``builtin`` holds the shipped table (``pytest_modelbench/data/prices.json``, dated
    ``as_of``), ``overrides`` the entries of ``[tool.modelbench.prices]``; an override replaces
    a shipped entry of the same name.
    """

    builtin: Mapping[str, ModelPrice]
    overrides: Mapping[str, ModelPrice] = dataclasses.field(default_factory=dict)
    as_of: str | None = None

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None,
             where: str = "[tool.modelbench.prices]") -> PriceTable:
        """The shipped table, with ``overrides`` (shaped like ``[tool.modelbench.prices]``)."""
        as_of, prices = _builtin_prices()
        table = cls(builtin=dict(prices), as_of=as_of)
        return table.with_overrides(overrides, where) if overrides is not None else table

    def with_overrides(self, overrides: Mapping[str, Any],
                       where: str = "[tool.modelbench.prices]") -> PriceTable:
        """A copy with ``{"my-model": {"input": 0.5, "output": 1.5, "cached_input": 0.25}}`` added."""
        if not isinstance(overrides, Mapping):
            raise ConfigError(
                f"{where} must be a table of model = {{input = ..., output = ...}}, got {overrides!r}"
            )
        merged = dict(self.overrides)
        for model, entry in overrides.items():
            if not isinstance(model, str) or not model:
                raise ConfigError(f"model name {model!r} in {where} is not allowed; it must be a non-empty string")
            merged[model] = parse_price(entry, model, where)
        return dataclasses.replace(self, overrides=merged)

    def lookup(self, name: str) -> ModelPrice | None:
        """Price of ``name`` by the rules of :func:`price_names`; None when unknown.

        For each candidate name, most specific first, an override wins over a shipped entry.
        """
        for candidate in price_names(name):
            for prices in (self.overrides, self.builtin):
                if candidate in prices:
                    return prices[candidate]
        return None

    def for_model(self, name: str, model_id: str | None = None, *,
                  declared: Mapping[str, Any] | None = None, use_builtin: bool = True) -> ModelPrice | None:
        """Price of a configured model; None when unknown.

        In order: ``declared`` (the ``price = {...}`` of ``[tool.modelbench.models.NAME]``);
        an override for ``name`` (the display name or alias), then for ``model_id`` (the
        provider's model id); then the shipped table for ``model_id`` (or ``name`` when no id
        is given). Pass ``use_builtin=False`` for a model served from your own base URL: list
        prices of a hosted provider say nothing about what a self-hosted copy costs.
        """
        if declared is not None:
            return parse_price(declared, name, f"[tool.modelbench.models.{name}] price")
        for candidate_name in (name, model_id):
            if candidate_name is None:
                continue
            for candidate in price_names(candidate_name):
                if candidate in self.overrides:
                    return self.overrides[candidate]
        if not use_builtin:
            return None
        for candidate in price_names(model_id if model_id is not None else name):
            if candidate in self.builtin:
                return self.builtin[candidate]
        return None

    def names(self) -> list[str]:
        """All priced names, overrides first, each once."""
        return list(dict.fromkeys([*self.overrides, *self.builtin]))

    def __len__(self) -> int:
        return len(self.names())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.lookup(name) is not None


# --------------------------------------------------------------------------------------------
# Cost arithmetic


def _check_count(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()  # messages show 5, not np.int64(5)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} {value!r} is not a token count; it must be a number >= 0 or None")
    count = float(value)
    if math.isnan(count):
        return None
    if not math.isfinite(count) or count < 0:
        raise ValueError(f"{what} {value!r} is not allowed; a token count is a finite number >= 0")
    return count


def run_cost(price: ModelPrice | None, input_tokens: int | None, output_tokens: int | None,
             cached_input_tokens: int | None = None, reasoning_tokens: int | None = None,
             *, reasoning_in_output: bool = True) -> float | None:
    """Cost in USD of one run (or call); None when the price or a needed count is unknown.

    cost = ((input − cached)·p_in + cached·p_cached + billed_output·p_out) / 1e6

    ``input_tokens`` counts every prompt token, cached ones included (OpenAI
    ``prompt_tokens``, Gemini ``promptTokenCount``; for Anthropic add
    ``cache_read_input_tokens`` to ``input_tokens``). ``cached_input_tokens`` is the part of
    them read from the prompt cache (OpenAI ``prompt_tokens_details.cached_tokens``); None means
    none were reported, so all input is billed at the input price. A model without a cache
    price bills cached tokens at the input price.

    Reasoning (thinking) tokens are billed as output tokens. OpenAI's ``completion_tokens``
    (and Anthropic's ``output_tokens``) already include them, so with the default
    ``reasoning_in_output=True`` ``reasoning_tokens`` is only checked (it cannot exceed
    ``output_tokens``) and is not added again. Gemini reports ``thoughtsTokenCount`` apart from
    ``candidatesTokenCount``: pass ``reasoning_in_output=False`` and they are added to the
    billed output. None reasoning tokens means none were reported.
    """
    input_count = _check_count(input_tokens, "input_tokens")
    output_count = _check_count(output_tokens, "output_tokens")
    cached_count = _check_count(cached_input_tokens, "cached_input_tokens") or 0.0
    reasoning_count = _check_count(reasoning_tokens, "reasoning_tokens") or 0.0
    if input_count is not None and cached_count > input_count:
        raise ValueError(
            f"cached_input_tokens {cached_input_tokens!r} is more than input_tokens {input_tokens!r}; "
            "cached tokens are a part of the input tokens"
        )
    if reasoning_in_output and output_count is not None and reasoning_count > output_count:
        raise ValueError(
            f"reasoning_tokens {reasoning_tokens!r} is more than output_tokens {output_tokens!r}; "
            "with reasoning_in_output=True they are a part of the output tokens "
            "(pass reasoning_in_output=False when the provider reports them apart)"
        )
    if price is None or input_count is None or output_count is None:
        return None
    billed_output = output_count if reasoning_in_output else output_count + reasoning_count
    cost = (
        (input_count - cached_count) * price.input_usd_per_mtok
        + cached_count * price.cache_read_usd_per_mtok
        + billed_output * price.output_usd_per_mtok
    )
    return cost / TOKENS_PER_PRICE_UNIT


def run_costs(table: RunTable, prices: Mapping[str, ModelPrice | None],
              cached_input_tokens: np.ndarray | None = None) -> np.ndarray:
    """Cost in USD of every run of ``table`` (vectorised :func:`run_cost`); NaN where unknown.

    ``prices`` maps model name → price (a missing or None price gives NaN for that model's
    runs). ``cached_input_tokens`` is an optional per-run array of cached prompt tokens (NaN:
    none reported). The run table's ``output_tokens`` include reasoning tokens.
    """
    n_runs = len(table.model)
    rates = np.full((3, table.n_models), np.nan)
    for index, model in enumerate(table.models):
        price = prices.get(model)
        if price is not None:
            rates[:, index] = (price.input_usd_per_mtok, price.cache_read_usd_per_mtok,
                               price.output_usd_per_mtok)
    input_tokens = np.asarray(table.input_tokens, dtype=np.float64)
    output_tokens = np.asarray(table.output_tokens, dtype=np.float64)
    if cached_input_tokens is None:
        cached = np.zeros(n_runs)
    else:
        cached = np.asarray(cached_input_tokens, dtype=np.float64)
        if cached.shape != (n_runs,):
            raise ValueError(
                f"cached_input_tokens has shape {cached.shape}; it needs one value per run ({n_runs},)"
            )
        cached = np.where(np.isnan(cached), 0.0, cached)
        impossible = (cached < 0) | (cached > np.where(np.isnan(input_tokens), np.inf, input_tokens))
        if np.any(impossible):
            bad = int(np.flatnonzero(impossible)[0])
            raise ValueError(
                f"cached_input_tokens {float(cached[bad])!r} of run {bad} is not allowed; "
                f"it must be >= 0 and at most that run's input_tokens ({float(input_tokens[bad])!r})"
            )
    per_run = rates[:, table.model]
    cost = (input_tokens - cached) * per_run[0] + cached * per_run[1] + output_tokens * per_run[2]
    return cost / TOKENS_PER_PRICE_UNIT


# --------------------------------------------------------------------------------------------
# Per-model summary


def _known_or_none(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def _divide(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


@dataclasses.dataclass(frozen=True, slots=True)
class ModelCost:
    """Cost and token efficiency of one model over a benchmark session.

    Runs whose cost is unknown (unknown price or token count) are left out of every cost
    figure and counted in ``unpriced_runs``; when that is > 0, ``cost_usd`` is a lower bound.

    - ``cost_usd``: what all priced runs cost (cached/replayed runs at what they would cost).
    - ``spent_usd``: what this session paid: priced runs that were not cached.
    - ``cost_per_task_usd``: expected cost of running one task once, averaged over tasks:
      the mean over tasks of each task's mean run cost. ``cost_per_task_se_usd`` is its
      standard error over tasks, sqrt(var(task costs, ddof=1) / n_tasks) (None below 2 tasks).
    - ``cost_per_success_usd``: ``cost_usd`` / passed runs among the priced runs
      (None when none passed).
    - ``tokens_per_run``: mean input + output tokens over runs with both counts known;
      ``output_tokens_per_run`` likewise; ``tokens_per_success``: their total / passed runs
      among those runs; ``output_tokens_per_task``: mean over tasks of each task's mean
      output tokens.
    - ``points_per_usd``: ``score`` / ``cost_per_task_usd``: score points per dollar of
      per-task cost (None when either is unknown or the cost is 0).
    """

    model: str
    runs: int
    priced_runs: int
    cached_runs: int
    passed_runs: int
    cost_usd: float | None
    spent_usd: float | None
    tasks: int
    priced_tasks: int
    cost_per_task_usd: float | None
    cost_per_task_se_usd: float | None
    cost_per_success_usd: float | None
    tokens_per_run: float | None
    output_tokens_per_run: float | None
    tokens_per_success: float | None
    output_tokens_per_task: float | None
    score: float | None = None
    points_per_usd: float | None = None

    @property
    def unpriced_runs(self) -> int:
        return self.runs - self.priced_runs

    def projection(self, tasks_per_day: float, confidence: float = 0.95) -> BudgetProjection | None:
        """Monthly cost at ``tasks_per_day`` for this task mix; None when the cost is unknown."""
        if self.cost_per_task_usd is None:
            return None
        return project_budget(self.cost_per_task_usd, self.cost_per_task_se_usd, tasks_per_day,
                              confidence=confidence, tasks=self.priced_tasks)

    def to_dict(self) -> dict[str, Any]:
        data = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        data["unpriced_runs"] = self.unpriced_runs
        return data


def _cell_means(flat: np.ndarray, values: np.ndarray, known: np.ndarray,
                n_models: int, n_tasks: int) -> np.ndarray:
    """Mean of the known ``values`` per (model, task); NaN where there is none."""
    size = n_models * n_tasks
    sums = np.bincount(flat, weights=np.where(known, values, 0.0), minlength=size)
    counts = np.bincount(flat, weights=known.astype(np.float64), minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    means[counts == 0] = np.nan
    return means.reshape(n_models, n_tasks)


def _over_tasks(cell_means: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per model: mean over tasks, SE over tasks (ddof=1), number of tasks with a value."""
    present = ~np.isnan(cell_means)
    counts = present.sum(axis=1)
    filled = np.where(present, cell_means, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = filled.sum(axis=1) / counts
        squares = np.where(present, (cell_means - means[:, None]) ** 2, 0.0).sum(axis=1)
        se = np.sqrt(squares / (counts - 1) / counts)
    means[counts == 0] = np.nan
    se[counts < 2] = np.nan
    return means, se, counts


def summarize_costs(table: RunTable, run_cost_usd: np.ndarray, *, cached: np.ndarray | None = None,
                    scores: Mapping[str, float | None] | None = None) -> dict[str, ModelCost]:
    """One :class:`ModelCost` per model of ``table`` (in ``table.models`` order).

    ``run_cost_usd`` is the per-run cost (NaN unknown, e.g. from :func:`run_costs`);
    ``cached`` a per-run bool mask of runs replayed from a cache (they count in ``cost_usd``
    but not in ``spent_usd``); ``scores`` the model's score for ``points_per_usd``.
    Vectorised with ``np.bincount`` over runs: no per-run Python loop.

    Cost per task follows the clustered view of Miller (2024), "Adding Error Bars to Evals"
    (arXiv:2411.00640): a task's K runs are one cluster, averaged first; the standard error is
    taken over task means.
    """
    n_runs = len(table.model)
    n_models, n_tasks = table.n_models, table.n_tasks
    cost = np.asarray(run_cost_usd, dtype=np.float64)
    if cost.shape != (n_runs,):
        raise ValueError(f"run_cost_usd has shape {cost.shape}; it needs one value per run ({n_runs},)")
    if np.any(np.isinf(cost)) or np.any(cost < 0):
        bad = int(np.flatnonzero(np.isinf(cost) | (cost < 0))[0])
        raise ValueError(
            f"run_cost_usd {float(cost[bad])!r} of run {bad} is not allowed; a cost is a finite number >= 0 "
            "or NaN when unknown"
        )
    if cached is None:
        cached_mask = np.zeros(n_runs, dtype=bool)
    else:
        cached_mask = np.asarray(cached)
        if cached_mask.shape != (n_runs,) or cached_mask.dtype != np.bool_:
            raise ValueError(
                f"cached must be a bool array with one value per run ({n_runs},), "
                f"got dtype {cached_mask.dtype} and shape {cached_mask.shape}"
            )
    scores = scores or {}
    model = table.model
    passed = np.asarray(table.passed, dtype=bool)

    def per_model(weights: np.ndarray) -> np.ndarray:
        return np.bincount(model, weights=weights.astype(np.float64), minlength=n_models)

    priced = ~np.isnan(cost)
    cost_known = np.where(priced, cost, 0.0)
    runs = np.bincount(model, minlength=n_models)
    priced_runs = per_model(priced)
    cost_sum = per_model(cost_known)
    spent_sum = per_model(np.where(cached_mask, 0.0, cost_known))
    priced_passes = per_model(priced & passed)
    cached_runs = per_model(cached_mask)
    passed_runs = per_model(passed)

    tokens = np.asarray(table.input_tokens, dtype=np.float64) + np.asarray(table.output_tokens, dtype=np.float64)
    tokens_known = ~np.isnan(tokens)
    token_runs = per_model(tokens_known)
    token_sum = per_model(np.where(tokens_known, tokens, 0.0))
    token_passes = per_model(tokens_known & passed)
    output_tokens = np.asarray(table.output_tokens, dtype=np.float64)
    output_known = ~np.isnan(output_tokens)
    output_runs = per_model(output_known)
    output_sum = per_model(np.where(output_known, output_tokens, 0.0))

    flat = model * n_tasks + table.task
    task_cost, task_cost_se, priced_tasks = _over_tasks(_cell_means(flat, cost, priced, n_models, n_tasks))
    task_output, _, _ = _over_tasks(_cell_means(flat, output_tokens, output_known, n_models, n_tasks))
    tasks_run = (table.cell_counts() > 0).sum(axis=1)

    result: dict[str, ModelCost] = {}
    for index, name in enumerate(table.models):
        has_cost = priced_runs[index] > 0
        cost_usd = float(cost_sum[index]) if has_cost else None
        cost_per_task = _known_or_none(task_cost[index])
        score = scores.get(name)
        score = None if score is None or math.isnan(float(score)) else float(score)
        result[name] = ModelCost(
            model=name,
            runs=int(runs[index]),
            priced_runs=int(priced_runs[index]),
            cached_runs=int(cached_runs[index]),
            passed_runs=int(passed_runs[index]),
            cost_usd=cost_usd,
            spent_usd=float(spent_sum[index]) if has_cost else None,
            tasks=int(tasks_run[index]),
            priced_tasks=int(priced_tasks[index]),
            cost_per_task_usd=cost_per_task,
            cost_per_task_se_usd=_known_or_none(task_cost_se[index]),
            cost_per_success_usd=_divide(cost_usd, float(priced_passes[index])),
            tokens_per_run=_divide(float(token_sum[index]), float(token_runs[index])),
            output_tokens_per_run=_divide(float(output_sum[index]), float(output_runs[index])),
            tokens_per_success=_divide(float(token_sum[index]) if token_runs[index] else None,
                                       float(token_passes[index])),
            output_tokens_per_task=_known_or_none(task_output[index]),
            score=score,
            points_per_usd=_divide(score, cost_per_task),
        )
    return result


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
        budget = _check_positive(budget_usd_per_month, "budget_usd_per_month", "USD per month")
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


def _check_positive(value: Any, what: str, unit: str) -> float:
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
    volume = _check_positive(tasks_per_day, "tasks_per_day", "tasks per day")
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
    throughput = _check_positive(output_tokens_per_s, "output_tokens_per_s", "output tokens per second")
    volume = None if tasks_per_day is None else _check_positive(tasks_per_day, "tasks_per_day", "tasks per day")
    per_task = None if output_tokens_per_task is None else _check_positive(
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


# --------------------------------------------------------------------------------------------
# Trade-off


@dataclasses.dataclass(frozen=True, slots=True)
class CheapestWithin:
    """The cheapest model scoring within ``points`` of the best score.

    ``best_model`` is the best-scoring model among all given (its cost may be unknown);
    ``model`` the cheapest among models with a known cost and score >= best_score − points
    (None when no such model); ``unknown_cost`` the models left out for an unknown cost.
    Ties on cost go to the higher score, then to the name.
    """

    model: str | None
    score: float | None
    cost_usd: float | None
    best_model: str
    best_score: float
    points: float
    unknown_cost: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        data = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        data["unknown_cost"] = list(self.unknown_cost)
        return data


def cheapest_within(scores: Mapping[str, float], costs: Mapping[str, float | None],
                    points: float) -> CheapestWithin:
    """The cheapest model whose score is within ``points`` of the best (see :class:`CheapestWithin`).

    ``costs`` are comparable per-model costs (e.g. cost per task); a model missing from
    ``costs`` or with None has an unknown cost and is excluded from the choice.
    """
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not math.isfinite(points) or points < 0:
        raise ValueError(f"points {points!r} is not allowed; it must be a finite number >= 0")
    if not scores:
        raise ValueError("cheapest_within() needs at least one model score, got none")
    for model, score in scores.items():
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise ValueError(f"score {score!r} of model {model!r} is not allowed; it must be a finite number")
    for model, cost in costs.items():
        if cost is not None and (isinstance(cost, bool) or not isinstance(cost, (int, float))
                                 or not math.isfinite(cost) or cost < 0):
            raise ValueError(
                f"cost {cost!r} of model {model!r} is not allowed; it must be a finite number >= 0 or None"
            )
    best_model = min(scores, key=lambda name: (-scores[name], name))
    best_score = float(scores[best_model])
    unknown = tuple(sorted(name for name in scores if costs.get(name) is None))
    candidates = [name for name in scores
                  if costs.get(name) is not None and scores[name] >= best_score - points]
    if not candidates:
        return CheapestWithin(None, None, None, best_model, best_score, float(points), unknown)
    chosen = min(candidates, key=lambda name: (costs[name], -scores[name], name))
    return CheapestWithin(chosen, float(scores[chosen]), float(costs[chosen]),  # type: ignore[arg-type]
                          best_model, best_score, float(points), unknown)


# --------------------------------------------------------------------------------------------
# Terminal formatting

UNKNOWN = "?"


def format_usd(value: float | None) -> str:
    """``$1,234``, ``$12.34``, ``$0.00123`` (3 significant digits below $1); ``?`` when unknown."""
    if value is None or math.isnan(value):
        return UNKNOWN
    if value == 0:
        return "$0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"${value:,.0f}"
    if magnitude >= 1:
        return f"${value:,.2f}"
    decimals = 2 - math.floor(math.log10(magnitude))
    return f"${value:.{decimals}f}"


def format_count(value: float | None) -> str:
    """``1,234`` (rounded); ``?`` when unknown."""
    if value is None or math.isnan(value):
        return UNKNOWN
    return f"{value:,.0f}"


@dataclasses.dataclass(frozen=True, slots=True)
class CostRows:
    """Header and rows of the terminal cost section, ready for ``tabulate(rows, headers)``."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def cost_rows(costs: Iterable[ModelCost], *,
              projections: Mapping[str, BudgetProjection | None] | None = None,
              budget_usd_per_month: float | None = None) -> CostRows:
    """Rows of the cost section, one per model; ``?`` marks an unknown value.

    A total with unpriced runs reads ``$1.20 (+3 ?)``: a lower bound, 3 runs unpriced.
    With ``projections`` a ``monthly (95% CI)`` column is added; with a budget as well, a
    ``budget`` column reading ``fits``, ``over``, or ``fits?`` / ``over?`` when the interval
    straddles the budget.
    """
    headers = ["model", "cost", "spent", "per task", "per success", "tokens/run",
               "tokens/success", "points/$"]
    if projections is not None:
        headers.append("monthly (95% CI)")
        if budget_usd_per_month is not None:
            headers.append("budget")
    rows = []
    for cost in costs:
        total = format_usd(cost.cost_usd)
        if cost.cost_usd is not None and cost.unpriced_runs:
            total += f" (+{cost.unpriced_runs} ?)"
        row = [cost.model, total, format_usd(cost.spent_usd), format_usd(cost.cost_per_task_usd),
               format_usd(cost.cost_per_success_usd), format_count(cost.tokens_per_run),
               format_count(cost.tokens_per_success), format_count(cost.points_per_usd)]
        if projections is not None:
            projection = projections.get(cost.model)
            if projection is None:
                row.append(UNKNOWN)
            elif projection.monthly_low_usd is None or projection.monthly_high_usd is None:
                row.append(format_usd(projection.monthly_usd))
            else:
                row.append(f"{format_usd(projection.monthly_usd)} "
                           f"({format_usd(projection.monthly_low_usd)}–{format_usd(projection.monthly_high_usd)})")
            if budget_usd_per_month is not None:
                if projection is None:
                    row.append(UNKNOWN)
                else:
                    fit = projection.fits_budget(budget_usd_per_month)
                    row.append(("fits" if fit.fits else "over") + ("" if fit.confident else "?"))
        rows.append(tuple(row))
    return CostRows(tuple(headers), tuple(rows))
