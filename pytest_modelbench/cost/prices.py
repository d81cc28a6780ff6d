"""Prices: the shipped, dated list prices and the project's overrides, and what a run costs.

:class:`PriceTable` holds the shipped list prices (``prices.json`` beside this module) and the
project's overrides (``[tool.modelbench.prices]``). A model without a known price has an
unknown cost (``None``), never 0. :func:`run_cost` prices one run; :func:`run_costs` prices
every run of a :class:`~pytest_modelbench.core.table.RunTable` at once (NaN where unknown).
Money is USD; prices are USD per 1M tokens.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import importlib.resources
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._exceptions import ConfigError
from ..core.table import RunTable

#: Prices are quoted per this many tokens.
TOKENS_PER_PRICE_UNIT = 1_000_000
#: Keys of a price entry; ``input`` and ``output`` are required.
PRICE_KEYS = ("input", "output", "cached_input", "as_of", "source", "note")
#: Where the shipped price table lives inside the package.
BUILTIN_PRICES = "prices.json"
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

    @property
    def free(self) -> bool:
        """Every token costs 0: the cost of a call is $0 whatever its token counts."""
        return self.input_usd_per_mtok == 0 and self.output_usd_per_mtok == 0 and self.cache_read_usd_per_mtok == 0

    def to_dict(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


#: The price of a model on a local provider (``echo``, ``python:``, ``ollama:``) that has none set.
LOCAL_FREE_PRICE = ModelPrice("local (free)", 0.0, 0.0, 0.0,
                              source="local provider: free unless a price is set")


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
    where = f"pytest_modelbench/cost/{BUILTIN_PRICES}"
    text = importlib.resources.files("pytest_modelbench.cost").joinpath(BUILTIN_PRICES).read_text("utf-8")
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
    billed output. None reasoning tokens means none were reported. A free price (every rate 0)
    costs $0 even when a count is unknown: zero times any number of tokens is zero.
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
    if price is not None and price.free:
        return 0.0
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
    none reported). The run table's ``output_tokens`` include reasoning tokens. A free price
    gives 0 even where a token count is unknown.
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
    free = (per_run == 0).all(axis=0)
    return np.where(free, 0.0, cost / TOKENS_PER_PRICE_UNIT)


