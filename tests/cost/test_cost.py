"""Cost analyzer domain code (pytest_modelbench.cost): prices, arithmetic, summaries,
budget projection, self-hosted TCO and the trade-off helper."""

from __future__ import annotations

import datetime
import json
import math
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from tabulate import tabulate

from pytest_modelbench._exceptions import ConfigError
from pytest_modelbench.core.records import RunRecord
from pytest_modelbench.core.table import RunTable
from pytest_modelbench.cost import (
    DAYS_PER_MONTH,
    BreakEven,
    ModelPrice,
    PriceTable,
    SelfHosting,
    break_even,
    cheapest_within,
    cost_rows,
    format_cost_per_task,
    format_usd,
    format_usd_per_1k,
    output_throughput,
    parse_budget,
    parse_price,
    parse_self_hosting,
    parse_usd,
    parse_volume,
    price_names,
    project_budget,
    run_cost,
    run_costs,
    self_hosted_cost,
    summarize_costs,
)


def record(task: str, model: str, run: int, *, outcome: str = "passed", input_tokens: int | None = 0,
           output_tokens: int | None = 0, latency_ms: float | None = 1000.0) -> RunRecord:
    return RunRecord(
        task=task, model=model, run=run, category="accuracy", difficulty="easy", weight=1.0,
        outcome=outcome, quality=None if outcome == "error" else float(outcome == "passed"),
        latency_ms=latency_ms, input_tokens=input_tokens, output_tokens=output_tokens,
    )


#: $10 per 1M output tokens and free input: 1000 output tokens cost $0.01.
OUTPUT_ONLY = ModelPrice("output-only", input_usd_per_mtok=0.0, output_usd_per_mtok=10.0)


# --------------------------------------------------------------------------------------------
# The shipped price table


def test_days_per_month_is_julian_year_over_twelve():
    assert DAYS_PER_MONTH == 30.4375 == 365.25 / 12


def test_shipped_table_is_dated_and_sourced():
    table = PriceTable.load()
    assert table.as_of is not None and datetime.date.fromisoformat(table.as_of)
    assert len(table.builtin) >= 25
    for name, price in table.builtin.items():
        assert price.model == name
        assert price.source.startswith("https://")
        assert datetime.date.fromisoformat(price.as_of) <= datetime.date.fromisoformat(table.as_of)
        assert 0 < price.input_usd_per_mtok <= price.output_usd_per_mtok
        if price.cached_input_usd_per_mtok is not None:
            assert 0 < price.cached_input_usd_per_mtok <= price.input_usd_per_mtok


def test_docs_price_table_matches_the_shipped_table():
    docs = (Path(__file__).parents[2] / "docs" / "cost.md").read_text("utf-8")
    rows = re.findall(r"^\| `([^`]+)` \| ([\d.]+) \| ([\d.]+|—) \| ([\d.]+) \|$", docs, flags=re.M)
    documented = {name: (float(inp), None if cached == "—" else float(cached), float(out))
                  for name, inp, cached, out in rows}
    table = PriceTable.load()
    shipped = {name: (p.input_usd_per_mtok, p.cached_input_usd_per_mtok, p.output_usd_per_mtok)
               for name, p in table.builtin.items()}
    assert documented == shipped
    assert f"as of {table.as_of}" in docs


# List prices in USD per 1M tokens as published on the providers' pricing pages
# (platform.openai.com/docs/pricing, docs.anthropic.com/en/docs/about-claude/pricing,
# ai.google.dev/gemini-api/docs/pricing, mistral.ai/pricing); (input, cached_input, output).
PUBLISHED_PRICES = [
    ("gpt-4o", 2.50, 1.25, 10.00),
    ("gpt-4o-mini", 0.15, 0.075, 0.60),
    ("gpt-4.1", 2.00, 0.50, 8.00),
    ("gpt-5", 1.25, 0.125, 10.00),
    ("o4-mini", 1.10, 0.275, 4.40),
    ("claude-sonnet-4-5", 3.00, 0.30, 15.00),
    ("claude-haiku-4-5", 1.00, 0.10, 5.00),
    ("claude-opus-4-1", 15.00, 1.50, 75.00),
    ("gemini-2.5-pro", 1.25, None, 10.00),
    ("gemini-2.5-flash", 0.30, None, 2.50),
    ("mistral-large-2411", 2.00, None, 6.00),
]


@pytest.mark.parametrize(("model", "input_price", "cached_price", "output_price"), PUBLISHED_PRICES)
def test_shipped_prices_match_the_published_list(model, input_price, cached_price, output_price):
    price = PriceTable.load().lookup(model)
    assert (price.input_usd_per_mtok, price.cached_input_usd_per_mtok, price.output_usd_per_mtok) == (
        input_price, cached_price, output_price)


# --------------------------------------------------------------------------------------------
# Lookup rules


@pytest.mark.parametrize(
    ("name", "entry"),
    [
        ("gpt-4o-mini", "gpt-4o-mini"),  # exact
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),  # OpenAI date suffix
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),  # Anthropic date suffix
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),  # -latest alias
        ("openai:gpt-4.1", "gpt-4.1"),  # provider prefix as in a model spec
        ("openrouter/openai/gpt-4o-mini", "gpt-4o-mini"),  # nested prefixes
        ("anthropic:claude-opus-4-1-20250805", "claude-opus-4-1"),  # prefix and date
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # a snapshot priced apart: found before gpt-4o
        ("gpt-4o-2024-08-06", "gpt-4o"),
    ],
)
def test_lookup_rules_find_the_entry(name, entry):
    assert PriceTable.load().lookup(name).model == entry


@pytest.mark.parametrize(
    "name",
    [
        "gpt-4o-mini-audio-preview",  # no general prefix match: priced differently
        "gpt-3.5-turbo-0613",  # old snapshot, different price, not a date suffix
        "mistral-large-latest",  # the alias moves between versions with different prices
        "meta-llama/Llama-3.1-8B-Instruct",
        "echo",
        "",
    ],
)
def test_unknown_names_have_no_price(name):
    table = PriceTable.load()
    assert table.lookup(name) is None
    assert name not in table


def test_price_names_order_most_specific_first():
    assert price_names("openai:gpt-4o-2024-08-06") == [
        "openai:gpt-4o-2024-08-06", "openai:gpt-4o", "gpt-4o-2024-08-06", "gpt-4o"]
    assert price_names("gpt-4o") == ["gpt-4o"]


def test_first_snapshot_of_gpt_4o_keeps_its_launch_price():
    price = PriceTable.load().lookup("gpt-4o-2024-05-13")
    assert (price.input_usd_per_mtok, price.output_usd_per_mtok) == (5.0, 15.0)


# --------------------------------------------------------------------------------------------
# Overrides


def test_overrides_add_and_replace_prices():
    table = PriceTable.load({
        "my-model": {"input": 0.5, "output": 1.5, "cached_input": 0.25},
        "gpt-4o": {"input": 2.0, "output": 8.0},
    })
    mine = table.lookup("my-model")
    assert (mine.input_usd_per_mtok, mine.output_usd_per_mtok, mine.cached_input_usd_per_mtok) == (0.5, 1.5, 0.25)
    assert mine.source == "[tool.modelbench.prices]"
    assert table.lookup("gpt-4o-2024-08-06").output_usd_per_mtok == 8.0  # override wins at equal specificity
    assert table.lookup("gpt-4o-2024-05-13").output_usd_per_mtok == 15.0  # the more specific shipped entry
    assert PriceTable.load().lookup("gpt-4o").output_usd_per_mtok == 10.0  # the original is unchanged


def test_overrides_read_from_pyproject_toml():
    pyproject = tomllib.loads(
        """
        [tool.modelbench.prices]
        my-model = { input = 0.5, output = 1.5, cached_input = 0.25, as_of = 2025-06-01 }
        "vendor/model-x" = { input = 1, output = 2, source = "https://example.invalid/pricing" }
        """
    )
    table = PriceTable.load(pyproject["tool"]["modelbench"]["prices"])
    assert table.lookup("my-model").as_of == "2025-06-01"
    assert table.lookup("vendor/model-x").output_usd_per_mtok == 2.0
    assert table.names()[:2] == ["my-model", "vendor/model-x"]


def test_for_model_order_of_precedence():
    table = PriceTable.load({"fast": {"input": 0.01, "output": 0.02},
                             "gpt-4.1-mini": {"input": 0.3, "output": 1.2}})
    declared = {"input": 7.0, "output": 9.0}
    assert table.for_model("fast", "gpt-4o", declared=declared).input_usd_per_mtok == 7.0
    assert table.for_model("fast", "gpt-4o").input_usd_per_mtok == 0.01  # override by display name
    assert table.for_model("mini", "gpt-4.1-mini-2025-04-14").input_usd_per_mtok == 0.3  # override by id
    assert table.for_model("cheap", "gpt-4o-mini").input_usd_per_mtok == 0.15  # shipped, by id
    assert table.for_model("openai:gpt-4o").input_usd_per_mtok == 2.5  # shipped, by name
    # A named model called like a hosted one but served elsewhere is not priced by its name.
    assert table.for_model("gpt-4o", "my-llama") is None
    assert table.for_model("local", "gpt-4o", use_builtin=False) is None
    assert table.for_model("fast", "gpt-4o", use_builtin=False).input_usd_per_mtok == 0.01


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (1.5, r"price of model 'm' in \[tool.modelbench.prices\] must be a table like "
              r"\{input = 0.5, output = 1.5, cached_input = 0.25\} \(USD per 1M tokens\), got 1.5"),
        ({"input": 1, "output": 2, "cache": 1},
         r"has unknown key 'cache'; allowed: input, output, cached_input, as_of, source, note"),
        ({"output": 2}, r"needs input = \.\.\. \(USD per 1M tokens\)"),
        ({"input": 1}, r"needs output = \.\.\."),
        ({"input": -1, "output": 2}, r"input -1 is not allowed; it must be a finite number >= 0 \(USD per 1M tokens\)"),
        ({"input": "1", "output": 2}, r"input '1' is not a number"),
        ({"input": True, "output": 2}, r"input True is not a number"),
        ({"input": 1, "output": float("nan")}, r"output nan is not allowed"),
        ({"input": 1, "output": float("inf")}, r"output inf is not allowed"),
        ({"input": 1, "output": 2, "cached_input": 3}, r"cached_input 3 is more than input 1"),
        ({"input": 1, "output": 2, "as_of": "June 2025"}, r"as_of 'June 2025' is not a date; write YYYY-MM-DD"),
        ({"input": 1, "output": 2, "as_of": "2025-02-30"}, r"as_of '2025-02-30' is not a date"),
        ({"input": 1, "output": 2, "source": 5}, r"source 5 is not allowed; it must be a string"),
    ],
)
def test_bad_price_entries_are_explained(entry, message):
    with pytest.raises(ConfigError, match=r"price of model 'm' in \[tool.modelbench.prices\]"):
        parse_price(entry, "m")
    with pytest.raises(ConfigError, match=message):
        PriceTable.load({"m": entry})


def test_bad_override_tables_are_explained():
    with pytest.raises(ConfigError, match=r"\[tool.modelbench.prices\] must be a table of model = "):
        PriceTable.load(["gpt-4o"])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"model name '' in \[tool.modelbench.prices\] is not allowed"):
        PriceTable.load({"": {"input": 1, "output": 1}})
    with pytest.raises(ConfigError, match=r"price of model 'x' in \[tool.modelbench.models.x\] price"):
        PriceTable.load().for_model("x", declared={"input": -1, "output": 1})


def test_zero_price_is_a_known_free_model():
    price = parse_price({"input": 0, "output": 0}, "local")
    assert run_cost(price, 1000, 1000) == 0.0


# --------------------------------------------------------------------------------------------
# Cost of one run

GPT_4O = ModelPrice("gpt-4o", 2.50, 10.00, 1.25)
GEMINI_FLASH = ModelPrice("gemini-2.5-flash", 0.30, 2.50, None)

# Hand computed: cost = ((input − cached)·p_in + cached·p_cached + billed_output·p_out) / 1e6.
RUN_COST_CASES = [
    # price, input, output, cached, reasoning, reasoning_in_output, expected USD
    (GPT_4O, 1000, 500, None, None, True, (1000 * 2.50 + 500 * 10.00) / 1e6),  # 0.0075
    (GPT_4O, 1000, 500, 800, None, True, (200 * 2.50 + 800 * 1.25 + 500 * 10.00) / 1e6),  # 0.0065
    (GPT_4O, 1000, 500, 0, 300, True, 0.0075),  # reasoning already inside output_tokens
    (GEMINI_FLASH, 1000, 500, 800, None, True, (1000 * 0.30 + 500 * 2.50) / 1e6),  # no cache price
    (GEMINI_FLASH, 1000, 500, None, 300, False, (1000 * 0.30 + 800 * 2.50) / 1e6),  # thoughts apart
    (GPT_4O, 0, 0, None, None, True, 0.0),
    (GPT_4O, 1_000_000, 1_000_000, 1_000_000, None, True, 1.25 + 10.00),
]


@pytest.mark.parametrize(
    ("price", "input_tokens", "output_tokens", "cached", "reasoning", "included", "expected"), RUN_COST_CASES)
def test_run_cost_hand_computed(price, input_tokens, output_tokens, cached, reasoning, included, expected):
    assert run_cost(price, input_tokens, output_tokens, cached, reasoning,
                    reasoning_in_output=included) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("price", "input_tokens", "output_tokens"),
    [(None, 100, 100), (GPT_4O, None, 100), (GPT_4O, 100, None), (GPT_4O, float("nan"), 100)],
)
def test_run_cost_unknown_is_none_never_zero(price, input_tokens, output_tokens):
    assert run_cost(price, input_tokens, output_tokens) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_tokens": 10, "output_tokens": 5, "cached_input_tokens": 11},
         r"cached_input_tokens 11 is more than input_tokens 10; cached tokens are a part of the input tokens"),
        ({"input_tokens": 10, "output_tokens": 5, "reasoning_tokens": 6},
         r"reasoning_tokens 6 is more than output_tokens 5; .*\(pass reasoning_in_output=False"),
        ({"input_tokens": -1, "output_tokens": 5},
         r"input_tokens -1 is not allowed; a token count is a finite number >= 0"),
        ({"input_tokens": True, "output_tokens": 5}, r"input_tokens True is not a token count"),
        ({"input_tokens": 1, "output_tokens": "5"}, r"output_tokens '5' is not a token count"),
    ],
)
def test_run_cost_rejects_impossible_counts(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_cost(GPT_4O, **kwargs)


def random_table(rng: np.random.Generator, n_runs: int, models: tuple[str, ...], n_tasks: int,
                 unknown_fraction: float = 0.0) -> RunTable:
    """A RunTable built straight from arrays (from_records would loop over a million records)."""
    n_models = len(models)
    model = rng.integers(0, n_models, n_runs)
    task = rng.integers(0, n_tasks, n_runs)
    outcome = rng.choice(np.array([0, 1, 2], dtype=np.int8), n_runs, p=[0.6, 0.3, 0.1])
    input_tokens = rng.integers(10, 5000, n_runs).astype(np.float64)
    output_tokens = rng.integers(1, 2000, n_runs).astype(np.float64)
    input_tokens[rng.random(n_runs) < unknown_fraction] = np.nan
    output_tokens[rng.random(n_runs) < unknown_fraction] = np.nan
    return RunTable(
        models=models, tasks=tuple(f"t{i}" for i in range(n_tasks)), categories=("accuracy",),
        model=model, task=task, run=np.ones(n_runs, dtype=np.int64), outcome=outcome,
        passed=outcome == 0, quality=(outcome == 0).astype(np.float64),
        latency_ms=rng.uniform(100, 5000, n_runs), ttft_ms=np.full(n_runs, np.nan),
        input_tokens=input_tokens, output_tokens=output_tokens,
        task_category=np.zeros(n_tasks, dtype=np.int64), task_weight=np.ones(n_tasks),
        task_difficulty=("easy",) * n_tasks, task_group=tuple(f"t{i}" for i in range(n_tasks)),
    )


def test_run_costs_match_run_cost_run_by_run():
    rng = np.random.default_rng(1)
    table = random_table(rng, 300, ("gpt-4o", "gemini-2.5-flash", "unpriced"), 7, unknown_fraction=0.1)
    cached = np.where(rng.random(300) < 0.5, np.floor(np.nan_to_num(table.input_tokens) * 0.5), np.nan)
    prices = {"gpt-4o": GPT_4O, "gemini-2.5-flash": GEMINI_FLASH}
    vectorised = run_costs(table, prices, cached)
    for i in range(300):
        expected = run_cost(prices.get(table.models[table.model[i]]), table.input_tokens[i],
                            table.output_tokens[i], None if np.isnan(cached[i]) else cached[i])
        if expected is None:
            assert np.isnan(vectorised[i])
        else:
            assert vectorised[i] == pytest.approx(expected, rel=1e-12)
    assert np.all(np.isnan(vectorised[table.model == 2]))


def test_run_costs_reject_bad_cached_counts():
    table = RunTable.from_records([record("t1", "a", 1, input_tokens=10, output_tokens=5)])
    with pytest.raises(ValueError, match=r"cached_input_tokens has shape \(2,\); it needs one value per run \(1,\)"):
        run_costs(table, {"a": GPT_4O}, np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"cached_input_tokens 11.0 of run 0 is not allowed"):
        run_costs(table, {"a": GPT_4O}, np.array([11.0]))


# --------------------------------------------------------------------------------------------
# Per-model summary


def constructed_runs() -> list[RunRecord]:
    """Model a, 3 tasks, 6 runs at $10 per 1M output tokens (input free).

    t1: 1000, 3000 output tokens → $0.01, $0.03   (task mean $0.02)
    t2: 2000                      → $0.02           (task mean $0.02)
    t3: 4000, 6000, 8000          → $0.04 .. $0.08  (task mean $0.06)
    Passed: t1 run 1, t2, t3 runs 1 and 3 (4 of 6).
    """
    return [
        record("t1", "a", 1, output_tokens=1000),
        record("t1", "a", 2, output_tokens=3000, outcome="failed"),
        record("t2", "a", 1, output_tokens=2000),
        record("t3", "a", 1, output_tokens=4000),
        record("t3", "a", 2, output_tokens=6000, outcome="failed"),
        record("t3", "a", 3, output_tokens=8000),
    ]


def test_summary_on_a_constructed_run_set():
    table = RunTable.from_records(constructed_runs())
    summary = summarize_costs(table, run_costs(table, {"a": OUTPUT_ONLY}), scores={"a": 80.0})["a"]
    task_means = [0.02, 0.02, 0.06]
    assert summary.runs == summary.priced_runs == 6
    assert summary.unpriced_runs == 0
    assert summary.cost_usd == pytest.approx(0.24, rel=1e-12)
    assert summary.spent_usd == pytest.approx(0.24, rel=1e-12)
    assert summary.tasks == summary.priced_tasks == 3
    assert summary.cost_per_task_usd == pytest.approx(0.1 / 3, rel=1e-12)
    # Reference: scipy.stats.sem (ddof=1) of the task means = sqrt(var/n) = 0.013333...
    assert summary.cost_per_task_se_usd == pytest.approx(scipy.stats.sem(task_means), rel=1e-12)
    assert summary.cost_per_task_se_usd == pytest.approx(0.04 / 3, rel=1e-12)
    assert summary.passed_runs == 4
    assert summary.cost_per_success_usd == pytest.approx(0.24 / 4, rel=1e-12)
    assert summary.tokens_per_run == pytest.approx(24000 / 6)
    assert summary.output_tokens_per_run == pytest.approx(24000 / 6)
    assert summary.tokens_per_success == pytest.approx(24000 / 4)
    assert summary.output_tokens_per_task == pytest.approx((2000 + 2000 + 6000) / 3)
    assert summary.points_per_usd == pytest.approx(80.0 / (0.1 / 3), rel=1e-12)  # 2400


def test_cached_runs_count_in_cost_but_not_in_spend():
    table = RunTable.from_records(constructed_runs())
    cached = np.array([True, True, False, False, False, True])  # $0.01 + $0.03 + $0.08 replayed
    summary = summarize_costs(table, run_costs(table, {"a": OUTPUT_ONLY}), cached=cached)["a"]
    assert summary.cost_usd == pytest.approx(0.24, rel=1e-12)
    assert summary.spent_usd == pytest.approx(0.12, rel=1e-12)
    assert summary.cached_runs == 3


def test_unpriced_runs_are_left_out_and_counted():
    runs = constructed_runs() + [record("t2", "a", 2, output_tokens=None, outcome="error"),
                                 record("t4", "a", 1, output_tokens=None)]
    table = RunTable.from_records(runs)
    summary = summarize_costs(table, run_costs(table, {"a": OUTPUT_ONLY}))["a"]
    assert (summary.runs, summary.priced_runs, summary.unpriced_runs) == (8, 6, 2)
    assert summary.cost_usd == pytest.approx(0.24, rel=1e-12)  # a lower bound
    assert (summary.tasks, summary.priced_tasks) == (4, 3)  # t4 has no priced run
    assert summary.cost_per_task_usd == pytest.approx(0.1 / 3, rel=1e-12)
    assert summary.cost_per_success_usd == pytest.approx(0.24 / 4, rel=1e-12)  # t4's pass is unpriced
    assert summary.passed_runs == 5
    rows = cost_rows([summary]).rows
    assert rows[0][1] == "$0.24 (+2 ?)"


def test_unknown_price_gives_unknown_costs_but_known_tokens():
    table = RunTable.from_records(constructed_runs())
    summary = summarize_costs(table, run_costs(table, {}), scores={"a": 80.0})["a"]
    assert summary.cost_usd is None and summary.spent_usd is None
    assert summary.cost_per_task_usd is None and summary.cost_per_task_se_usd is None
    assert summary.cost_per_success_usd is None and summary.points_per_usd is None
    assert summary.priced_runs == 0 and summary.priced_tasks == 0
    assert summary.tokens_per_run == pytest.approx(4000.0)
    assert summary.projection(1000) is None
    row = cost_rows([summary]).rows[0]
    assert row[1:5] == ("?", "?", "?", "?")
    assert row[7] == "?"


def test_no_pass_gives_no_cost_per_success():
    runs = [record("t1", "a", 1, output_tokens=1000, outcome="failed"),
            record("t2", "a", 1, output_tokens=1000, outcome="error")]
    table = RunTable.from_records(runs)
    summary = summarize_costs(table, run_costs(table, {"a": OUTPUT_ONLY}))["a"]
    assert summary.passed_runs == 0
    assert summary.cost_per_success_usd is None
    assert summary.tokens_per_success is None
    assert summary.cost_usd == pytest.approx(0.02)


def test_all_passed_cost_per_success_equals_cost_per_run():
    runs = [record("t1", "a", run, output_tokens=1000 * run) for run in (1, 2, 3)]
    table = RunTable.from_records(runs)
    summary = summarize_costs(table, run_costs(table, {"a": OUTPUT_ONLY}))["a"]
    assert summary.cost_per_success_usd == pytest.approx(0.06 / 3, rel=1e-12)
    assert summary.cost_per_success_usd == pytest.approx(summary.cost_usd / summary.runs, rel=1e-12)


def test_one_task_has_no_standard_error_nor_interval():
    table = RunTable.from_records([record("t1", "a", 1, output_tokens=1000),
                                   record("t1", "a", 2, output_tokens=3000)])
    summary = summarize_costs(table, run_costs(table, {"a": OUTPUT_ONLY}))["a"]
    assert summary.cost_per_task_usd == pytest.approx(0.02)
    assert summary.cost_per_task_se_usd is None
    projection = summary.projection(100)
    assert projection.monthly_usd == pytest.approx(100 * DAYS_PER_MONTH * 0.02)
    assert projection.monthly_low_usd is None and projection.monthly_high_usd is None
    fit = projection.fits_budget(1000)
    assert fit.fits and not fit.confident


def test_identical_task_costs_have_zero_spread():
    runs = [record(f"t{i}", "a", 1, output_tokens=500) for i in range(5)]
    table = RunTable.from_records(runs)
    summary = summarize_costs(table, run_costs(table, {"a": OUTPUT_ONLY}))["a"]
    assert summary.cost_per_task_se_usd == 0.0
    projection = summary.projection(10)
    assert projection.monthly_low_usd == projection.monthly_usd == projection.monthly_high_usd


def test_zero_cost_model_has_no_points_per_dollar():
    table = RunTable.from_records(constructed_runs())
    summary = summarize_costs(table, run_costs(table, {"a": parse_price({"input": 0, "output": 0}, "a")}),
                              scores={"a": 50.0})["a"]
    assert summary.cost_usd == 0.0
    assert summary.points_per_usd is None
    assert cost_rows([summary]).rows[0][1] == "$0"


def test_summary_is_json_builtins():
    table = RunTable.from_records(constructed_runs() + [record("t1", "b", 1, output_tokens=None)])
    summaries = summarize_costs(table, run_costs(table, {"a": OUTPUT_ONLY}), scores={"a": 80.0})
    for summary in summaries.values():
        data = summary.to_dict()
        json.dumps(data, allow_nan=False)
        assert all(value is None or type(value) in (str, int, float) for value in data.values())
    assert summaries["b"].to_dict()["cost_usd"] is None


def reference_summary(table: RunTable, costs: np.ndarray, cached: np.ndarray, model_index: int) -> dict:
    """Plain-Python, per-run reference implementation of the summary definitions."""
    per_task: dict[int, list[float]] = {}
    output_per_task: dict[int, list[float]] = {}
    total = spent = 0.0
    priced = priced_passes = token_runs = token_passes = 0
    token_total = 0.0
    for i in range(len(table.model)):
        if table.model[i] != model_index:
            continue
        if not math.isnan(costs[i]):
            priced += 1
            total += costs[i]
            spent += 0.0 if cached[i] else costs[i]
            priced_passes += bool(table.passed[i])
            per_task.setdefault(int(table.task[i]), []).append(costs[i])
        tokens = table.input_tokens[i] + table.output_tokens[i]
        if not math.isnan(tokens):
            token_runs += 1
            token_total += tokens
            token_passes += bool(table.passed[i])
        if not math.isnan(table.output_tokens[i]):
            output_per_task.setdefault(int(table.task[i]), []).append(table.output_tokens[i])
    task_means = [sum(values) / len(values) for values in per_task.values()]
    return {
        "priced_runs": priced,
        "cost_usd": total,
        "spent_usd": spent,
        "priced_tasks": len(task_means),
        "cost_per_task_usd": sum(task_means) / len(task_means),
        "cost_per_task_se_usd": float(scipy.stats.sem(task_means)),
        "cost_per_success_usd": total / priced_passes,
        "tokens_per_run": token_total / token_runs,
        "tokens_per_success": token_total / token_passes,
        "output_tokens_per_task": float(np.mean([np.mean(v) for v in output_per_task.values()])),
    }


def test_summary_matches_a_per_run_reference():
    rng = np.random.default_rng(7)
    table = random_table(rng, 4000, ("gpt-4o", "gemini-2.5-flash"), 40, unknown_fraction=0.05)
    costs = run_costs(table, {"gpt-4o": GPT_4O, "gemini-2.5-flash": GEMINI_FLASH})
    cached = rng.random(4000) < 0.3
    summaries = summarize_costs(table, costs, cached=cached)
    for index, name in enumerate(table.models):
        expected = reference_summary(table, costs, cached, index)
        got = summaries[name].to_dict()
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, rel=1e-9), key  # summation order differs


def test_summary_of_a_million_runs_is_fast():
    rng = np.random.default_rng(3)
    table = random_table(rng, 1_000_000, ("a", "b", "c", "d"), 2000, unknown_fraction=0.01)
    prices = {name: GPT_4O for name in table.models}
    started = time.perf_counter()
    costs = run_costs(table, prices)
    summaries = summarize_costs(table, costs, cached=rng.random(1_000_000) < 0.1)
    elapsed = time.perf_counter() - started
    assert sum(s.runs for s in summaries.values()) == 1_000_000
    assert elapsed < 10.0  # loose: about 0.2 s measured on 2 cores


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"run_cost_usd": np.zeros(2)}, r"run_cost_usd has shape \(2,\); it needs one value per run \(6,\)"),
        ({"run_cost_usd": np.array([0.1, -0.1, 0, 0, 0, 0])}, r"run_cost_usd -0.1 of run 1 is not allowed"),
        ({"run_cost_usd": np.array([0.1, np.inf, 0, 0, 0, 0])}, r"run_cost_usd inf of run 1 is not allowed"),
        ({"run_cost_usd": np.zeros(6), "cached": np.zeros(6)}, r"cached must be a bool array"),
    ],
)
def test_summary_rejects_bad_arrays(kwargs, message):
    table = RunTable.from_records(constructed_runs())
    with pytest.raises(ValueError, match=message):
        summarize_costs(table, **kwargs)


def test_empty_table_gives_no_summaries():
    table = RunTable.from_records([])
    assert summarize_costs(table, np.zeros(0)) == {}


# --------------------------------------------------------------------------------------------
# Budget projection

Z_95 = scipy.stats.norm.ppf(0.975)  # 1.959963984540054


def test_projection_hand_computed_on_the_constructed_run_set():
    table = RunTable.from_records(constructed_runs())
    summary = summarize_costs(table, run_costs(table, {"a": OUTPUT_ONLY}))["a"]
    projection = summary.projection(1000)
    # monthly = 1000 · 30.4375 · (0.1/3) = 1014.5833...; SE = 30437.5 · 0.04/3 = 405.8333...
    assert projection.monthly_usd == pytest.approx(1014.5833333333334, rel=1e-12)
    assert projection.monthly_se_usd == pytest.approx(405.8333333333333, rel=1e-12)
    assert projection.monthly_low_usd == pytest.approx(1014.5833333333334 - Z_95 * 405.8333333333333, rel=1e-12)
    assert projection.monthly_high_usd == pytest.approx(1014.5833333333334 + Z_95 * 405.8333333333333, rel=1e-12)
    assert projection.tasks == 3
    assert json.loads(json.dumps(projection.to_dict()))["monthly_usd"] == projection.monthly_usd


@pytest.mark.parametrize("confidence", [0.5, 0.8, 0.9, 0.95, 0.99])
def test_projection_interval_uses_the_normal_quantile(confidence):
    projection = project_budget(0.01, 0.002, 500, confidence=confidence)
    z = scipy.stats.norm.ppf(0.5 + confidence / 2)  # reference: scipy
    half_width = z * 500 * DAYS_PER_MONTH * 0.002
    assert projection.monthly_high_usd - projection.monthly_usd == pytest.approx(half_width, rel=1e-12)


def test_projection_low_end_is_clipped_at_zero():
    projection = project_budget(0.001, 0.01, 100)
    assert projection.monthly_low_usd == 0.0
    assert projection.monthly_high_usd == pytest.approx(100 * DAYS_PER_MONTH * (0.001 + Z_95 * 0.01), rel=1e-12)


@pytest.mark.parametrize(
    ("budget", "fits", "confident"),
    [
        (2000.0, True, True),  # above the whole interval [219.16, 1810.00]
        (1500.0, True, False),  # above the estimate, inside the interval
        (500.0, False, False),  # below the estimate, inside the interval
        (100.0, False, True),  # below the whole interval
    ],
)
def test_fits_budget(budget, fits, confident):
    projection = project_budget(0.1 / 3, 0.04 / 3, 1000)
    fit = projection.fits_budget(budget)
    assert (fit.fits, fit.confident, bool(fit)) == (fits, confident, fits)
    assert fit.headroom_usd == pytest.approx(budget - 1014.5833333333334, rel=1e-12)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-0.1, None, 10), r"cost_per_task_usd -0.1 is not allowed"),
        ((0.1, -1.0, 10), r"cost_per_task_se_usd -1.0 is not allowed"),
        ((0.1, None, 0), r"tasks_per_day 0 is not allowed; it must be a finite number > 0 \(tasks per day\)"),
        ((0.1, None, float("nan")), r"tasks_per_day nan is not allowed"),
    ],
)
def test_projection_rejects_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        project_budget(*args)


def test_projection_rejects_bad_confidence_and_budget():
    with pytest.raises(ValueError, match=r"confidence 1.0 is not allowed; it must be strictly between 0 and 1"):
        project_budget(0.1, 0.01, 10, confidence=1.0)
    with pytest.raises(ValueError, match=r"budget_usd_per_month -5 is not allowed"):
        project_budget(0.1, 0.01, 10).fits_budget(-5)


@pytest.mark.parametrize(
    ("text", "tasks_per_day"),
    [
        ("5000/day", 5000.0),
        ("5000", 5000.0),
        (5000, 5000.0),
        (" 5_000 / Day ", 5000.0),
        ("100/hour", 2400.0),
        ("700/week", 100.0),
        ("30437.5/month", 1000.0),
        ("1e3/day", 1000.0),
        ("0.5", 0.5),
    ],
)
def test_parse_volume(text, tasks_per_day):
    assert parse_volume(text) == pytest.approx(tasks_per_day, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "usd_per_month"),
    [
        ("200/month", 200.0),
        ("200", 200.0),
        ("$200", 200.0),
        ("$ 1_000/month", 1000.0),
        ("10/day", 304.375),
        ("70/week", 304.375),
        ("2400/year", 200.0),
        (99.5, 99.5),
    ],
)
def test_parse_budget(text, usd_per_month):
    assert parse_budget(text) == pytest.approx(usd_per_month, rel=1e-12)


@pytest.mark.parametrize(("text", "usd"), [("5", 5.0), ("$2.50", 2.5), (0.75, 0.75), (".5", 0.5)])
def test_parse_usd(text, usd):
    assert parse_usd(text) == usd


@pytest.mark.parametrize(
    ("parser", "text", "message"),
    [
        (parse_volume, "lots", r"--modelbench-volume 'lots' is not allowed; write a number > 0, "
                               r"optionally followed by /hour or /day or /week or /month \(e.g. '5000/day'\)"),
        (parse_volume, "0/day", r"--modelbench-volume '0/day' is not allowed"),
        (parse_volume, "-5/day", r"--modelbench-volume '-5/day' is not allowed"),
        (parse_volume, "5/fortnight", r"--modelbench-volume '5/fortnight' has unit 'fortnight', which is not one of: "
                                      r"hour, day, week, month"),
        (parse_volume, "$5/day", r"--modelbench-volume '\$5/day' is not allowed"),
        (parse_volume, "5,000/day", r"--modelbench-volume '5,000/day' is not allowed"),
        (parse_volume, "1e999", r"--modelbench-volume '1e999' is not allowed"),
        (parse_volume, True, r"--modelbench-volume True is not allowed"),
        (parse_budget, "200/hour", r"--modelbench-budget '200/hour' has unit 'hour', which is not one of: "
                                   r"day, week, month, year"),
        (parse_budget, "", r"--modelbench-budget '' is not allowed; write a number > 0, optionally followed by "
                           r"/day or /week or /month or /year \(e.g. '200/month'\)"),
        (parse_budget, "nan", r"--modelbench-budget 'nan' is not allowed"),
        (parse_usd, "5/day", r"--modelbench-max-cost '5/day' is not allowed: it takes no unit"),
        (parse_usd, "0", r"--modelbench-max-cost '0' is not allowed; write an amount > 0 \(e.g. '5.00'\)"),
        (parse_usd, None, r"--modelbench-max-cost None is not allowed"),
    ],
)
def test_bad_option_strings_are_explained(parser, text, message):
    with pytest.raises(ConfigError, match=message):
        parser(text)


# --------------------------------------------------------------------------------------------
# Self-hosted TCO

# 2 GPUs at $2.50/h, 1000 output tokens/s, 500 output tokens per task, 10,000 tasks/day.
# Hand computed:
#   $ per 1M output tokens = 2 · 2.50 / (1000 · 3600) · 1e6 = 1.38888...
#   monthly = 2 · 2.50 · 24 · 30.4375 = 3652.5
#   capacity = 1000 · 86400 / 500 = 172,800 tasks/day; utilisation = 10,000 / 172,800
#   cost per task at the volume = 3652.5 / (10,000 · 30.4375) = 0.012
HOSTING = SelfHosting(gpu_hourly_usd=2.5, gpus=2)


def test_self_hosted_cost_hand_computed():
    tco = self_hosted_cost(HOSTING, 1000.0, tasks_per_day=10_000, output_tokens_per_task=500)
    assert tco.usd_per_mtok_output == pytest.approx(5.0 / 3.6, rel=1e-12)
    assert tco.monthly_usd == pytest.approx(3652.5, rel=1e-12)
    assert HOSTING.monthly_usd == pytest.approx(3652.5, rel=1e-12)
    assert tco.capacity_tasks_per_day == pytest.approx(172_800.0, rel=1e-12)
    assert tco.utilisation == pytest.approx(10_000 / 172_800, rel=1e-12)
    assert tco.fits_capacity is True
    assert tco.cost_per_task_usd == pytest.approx(0.012, rel=1e-12)
    json.dumps(tco.to_dict(), allow_nan=False)


def test_self_hosted_over_capacity():
    tco = self_hosted_cost(HOSTING, 1000.0, tasks_per_day=200_000, output_tokens_per_task=500)
    assert tco.fits_capacity is False
    assert tco.utilisation == pytest.approx(200_000 / 172_800, rel=1e-12)


def test_self_hosted_without_volume_or_task_size():
    tco = self_hosted_cost(HOSTING, 1000.0)
    assert (tco.capacity_tasks_per_day, tco.utilisation, tco.fits_capacity, tco.cost_per_task_usd) == (
        None, None, None, None)
    assert tco.monthly_usd == pytest.approx(3652.5)


def test_break_even_hand_computed():
    tco = self_hosted_cost(HOSTING, 1000.0, output_tokens_per_task=500)
    result = break_even(tco, {"mid": 0.006, "cheap": 0.0001, "unknown": None, "free": 0.0})
    # 3652.5 / (30.4375 · 0.006) = 20,000 tasks/day: within the 172,800 capacity.
    assert result["mid"] == BreakEven("mid", 0.006, pytest.approx(20_000.0, rel=1e-12), True)
    # At that volume both cost the same per month.
    assert 20_000 * DAYS_PER_MONTH * 0.006 == pytest.approx(tco.monthly_usd, rel=1e-12)
    # 3652.5 / (30.4375 · 0.0001) = 1,200,000 tasks/day: beyond capacity, hosted stays cheaper.
    assert result["cheap"].tasks_per_day == pytest.approx(1_200_000.0, rel=1e-12)
    assert result["cheap"].within_capacity is False
    assert result["unknown"] == BreakEven("unknown", None, None, None)
    assert result["free"] == BreakEven("free", 0.0, None, None)
    assert break_even(self_hosted_cost(HOSTING, 1000.0), {"mid": 0.006})["mid"].within_capacity is None


def test_output_throughput_is_tokens_over_seconds():
    runs = [record("t1", "local", 1, output_tokens=300, latency_ms=2000.0),
            record("t2", "local", 1, output_tokens=500, latency_ms=3000.0),
            record("t3", "local", 1, output_tokens=None, latency_ms=1000.0),
            record("t4", "local", 1, output_tokens=100, latency_ms=None),
            record("t1", "other", 1, output_tokens=9999, latency_ms=1.0)]
    table = RunTable.from_records(runs)
    assert output_throughput(table, "local") == pytest.approx(800 / 5.0, rel=1e-12)
    with pytest.raises(ValueError, match=r"model 'nope' is not in the run table; known: local, other"):
        output_throughput(table, "nope")
    table = RunTable.from_records([record("t1", "x", 1, output_tokens=None)])
    assert output_throughput(table, "x") is None


def test_parse_self_hosting():
    assert parse_self_hosting({"gpu_hourly_usd": 2.5, "gpus": 2}, "llama") == HOSTING
    assert parse_self_hosting({"provider": "openai"}, "llama") is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"gpu_hourly_usd": 2.5}, r"\[tool.modelbench.models.llama\] gives gpu_hourly_usd but not gpus; "
                                  r"a self-hosted model needs both"),
        ({"gpus": 2}, r"gives gpus but not gpu_hourly_usd"),
        ({"gpu_hourly_usd": 0, "gpus": 2}, r"gpu_hourly_usd 0 is not allowed; it must be USD per GPU-hour > 0"),
        ({"gpu_hourly_usd": "2", "gpus": 2}, r"gpu_hourly_usd '2' is not allowed"),
        ({"gpu_hourly_usd": 2.5, "gpus": 1.5}, r"gpus 1.5 is not allowed; it must be a whole number >= 1"),
        ({"gpu_hourly_usd": 2.5, "gpus": 0}, r"gpus 0 is not allowed"),
    ],
)
def test_bad_self_hosting_is_explained(entry, message):
    with pytest.raises(ConfigError, match=message):
        parse_self_hosting(entry, "llama")


def test_self_hosted_cost_rejects_bad_throughput():
    with pytest.raises(ValueError, match=r"output_tokens_per_s 0 is not allowed; it must be a finite number > 0"):
        self_hosted_cost(HOSTING, 0)


# --------------------------------------------------------------------------------------------
# Trade-off helper

SCORES = {"a": 90.0, "b": 88.0, "c": 80.0, "d": 91.0}
COSTS = {"a": 1.0, "b": 0.2, "c": 0.01, "d": None}


@pytest.mark.parametrize(
    ("points", "model"),
    [
        (0.0, None),  # only d is within 0 points, and its cost is unknown
        (1.0, "a"),  # a (90) is within 1 of d (91)
        (3.0, "b"),  # a and b within 3; b is cheaper
        (11.0, "c"),  # everyone within 11; c is cheapest
    ],
)
def test_cheapest_within(points, model):
    result = cheapest_within(SCORES, COSTS, points)
    assert result.model == model
    assert (result.best_model, result.best_score) == ("d", 91.0)
    assert result.unknown_cost == ("d",)
    if model is not None:
        assert (result.score, result.cost_usd) == (SCORES[model], COSTS[model])
    json.dumps(result.to_dict())


def test_cheapest_within_ties_go_to_higher_score_then_name():
    result = cheapest_within({"x": 70.0, "y": 75.0, "z": 75.0}, {"x": 0.1, "y": 0.1, "z": 0.1}, 10)
    assert result.model == "y"


def test_cheapest_within_missing_cost_counts_as_unknown():
    result = cheapest_within({"a": 50.0, "b": 49.0}, {"b": 0.3}, 5)
    assert (result.model, result.unknown_cost) == ("b", ("a",))


@pytest.mark.parametrize(
    ("scores", "costs", "points", "message"),
    [
        ({"a": 1.0}, {"a": 1.0}, -1, r"points -1 is not allowed; it must be a finite number >= 0"),
        ({}, {}, 1, r"needs at least one model score"),
        ({"a": float("nan")}, {"a": 1.0}, 1, r"score nan of model 'a' is not allowed"),
        ({"a": 1.0}, {"a": -2.0}, 1, r"cost -2.0 of model 'a' is not allowed"),
    ],
)
def test_cheapest_within_rejects_bad_input(scores, costs, points, message):
    with pytest.raises(ValueError, match=message):
        cheapest_within(scores, costs, points)


# --------------------------------------------------------------------------------------------
# Terminal formatting


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "?"), (float("nan"), "?"), (0.0, "$0"), (1234.5, "$1,234"), (12.345, "$12.35"),
     (1.0, "$1.00"), (0.5, "$0.50"), (0.00123456, "$0.00123"), (1.2e-7, "$0.00000012"), (0.0051, "$0.0051"),
     (0.01, "$0.01"), (-0.25, "$-0.25"), (3.84e-5, "$0.0000384")],
)
def test_format_usd(value, text):
    assert format_usd(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "?"), (0.0, "$0"), (3.84e-5, "$0.04"), (0.0021, "$2.10"), (1.7, "$1,700"), (3.8e-6, "$0.0038"),
     (4.2e-9, "$0.0000042")],
)
def test_format_usd_per_1k_has_no_scientific_notation(value, text):
    assert format_usd_per_1k(value) == text
    assert "e-" not in format_cost_per_task(value)


def test_cost_rows_render_with_tabulate():
    table = RunTable.from_records(constructed_runs() + [record("t1", "b", 1, output_tokens=100)])
    summaries = summarize_costs(table, run_costs(table, {"a": OUTPUT_ONLY}), scores={"a": 80.0, "b": 70.0})
    projections = {name: summary.projection(1000) for name, summary in summaries.items()}
    rows = cost_rows(summaries.values(), projections=projections, budget_usd_per_month=1500)
    assert rows.headers[-2:] == ("monthly (95% CI)", "budget")
    assert rows.rows[0] == ("a", "$0.24", "$0.24", "$0.0333", "$0.06", "4,000", "6,000", "2,400",
                            "$1,015 ($219.16–$1,810)", "fits?")
    assert rows.rows[1][1:] == ("?", "?", "?", "?", "100", "100", "?", "?", "?")
    text = tabulate(rows.rows, headers=rows.headers)
    assert "monthly (95% CI)" in text and "fits?" in text


def test_domain_modules_do_not_import_pytest():
    code = "import sys, pytest_modelbench.cost, pytest_modelbench.cost.ledger; print('pytest' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# --------------------------------------------------------------------------------------------
# Free means $0


def test_a_free_price_costs_nothing_whatever_the_token_counts():
    free = ModelPrice("local", 0.0, 0.0)
    assert free.free and not ModelPrice("x", 0.0, 1.0).free
    assert run_cost(free, None, None) == 0.0 and run_cost(free, 10, None) == 0.0
    assert run_cost(ModelPrice("x", 1.0, 1.0), None, 5) is None  # a real price still needs the counts
    records = [record("t1", "local", 1, output_tokens=None), record("t1", "paid", 1, output_tokens=None)]
    table = RunTable.from_records(records)
    costs = run_costs(table, {"local": free, "paid": ModelPrice("p", 1.0, 1.0)})
    assert costs[table.model == table.models.index("local")].tolist() == [0.0]
    assert np.isnan(costs[table.model == table.models.index("paid")]).all()


def test_local_providers_are_free_unless_priced():
    from pytest_modelbench.models.model import CallMeter
    from pytest_modelbench.models.completion import Completion
    from pytest_modelbench.models.providers import BUILTIN_PROVIDERS
    from pytest_modelbench.session.runtime import SessionRuntime
    from pytest_modelbench.session.settings import resolve

    tool = {"models": {"priced": {"provider": "python", "model": "math:sqrt", "price": {"input": 1.0, "output": 2.0}},
                       "gpu": {"provider": "python", "model": "math:sqrt", "gpu_hourly_usd": 2.0, "gpus": 1}}}
    settings = resolve(values={"models": "echo,python:math:sqrt,ollama:llama3,priced,gpu"}, providers=BUILTIN_PROVIDERS,
                       tool=tool, rootdir=Path("."))
    runtime = SessionRuntime(settings, BUILTIN_PROVIDERS)
    try:
        assert runtime.prices["echo"].free and runtime.prices["python:math:sqrt"].free
        assert runtime.prices["ollama:llama3"].free
        assert runtime.prices["priced"].output_usd_per_mtok == 2.0
        assert runtime.prices["gpu"] is None  # a declared GPU cost: not free per token, costed as self-hosted
        assert runtime.unpriced_models() == []
    finally:
        runtime.close()
    meter = CallMeter(runtime.prices["python:math:sqrt"])
    assert meter.cost(Completion(text="x", input_tokens=None, output_tokens=None)) == 0.0
