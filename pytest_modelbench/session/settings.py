"""Session settings from options, ini values and [tool.modelbench]. Does not import pytest."""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._exceptions import ConfigError
from ..core.config import category_weights
from ..core.dimensions import Dimensions
from ..models.providers import DEFAULT_MAX_RESPONSE_BYTES
from ..models.specs import ModelSpec, parse_model_list, parse_named_models, parse_spec

TOOL_KEYS = ("categories", "consistency", "cost", "models", "prices", "speed", "use_cases")
#: Bytes of a run's prompt and of its reply kept in its record (``--modelbench-text-limit``).
DEFAULT_TEXT_LIMIT = 4096


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    models: tuple[ModelSpec, ...] = ()
    runs: int | None = None
    json_path: Path | None = None
    strict: bool = False
    timeout: float = 60.0
    retries: int = 2
    #: ``--modelbench-concurrency``: model calls in flight per model; None = the default policy.
    concurrency: int | None = None
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    categories: Mapping[str, float] = dataclasses.field(default_factory=lambda: category_weights(None))
    named_models: Mapping[str, ModelSpec] = dataclasses.field(default_factory=dict)
    tool: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    volume_per_day: float | None = None
    budget_usd_per_month: float | None = None
    max_cost_usd: float | None = None
    judge: ModelSpec | None = None
    cache_path: Path | None = None
    replay_path: Path | None = None
    alpha: float = 0.05
    rank: str = "weighted"
    compare: tuple[str, str] | None = None
    baseline_path: Path | None = None
    update_baseline: bool = False
    gates: Any = None
    reports: tuple[Path, ...] = ()
    use_cases: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    use_case: str | None = None
    shard: tuple[int, int] | None = None
    plan: bool = False
    text_limit: int = DEFAULT_TEXT_LIMIT
    sandbox: str | None = None
    cache_lock_timeout: float = 60.0
    dimensions: Dimensions = dataclasses.field(default_factory=Dimensions)

    @property
    def models_and_judge(self) -> tuple[ModelSpec, ...]:
        """The models under test, then the judge when one is configured."""
        return self.models if self.judge is None else (*self.models, self.judge)

    @property
    def replaces_baseline(self) -> bool:
        """Whether a baseline that shares nothing with this session is replaced rather than an
        error: --modelbench-update-baseline without --modelbench-fail-on-regression."""
        return self.update_baseline and not (self.gates is not None and self.gates.fail_on_regression)

    def describe(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "strict": self.strict,
            "timeout": self.timeout,
            "retries": self.retries,
            "concurrency": self.concurrency,
            "max_response_bytes": self.max_response_bytes,
            "category_weights": dict(self.categories),
            "dimensions": self.dimensions.to_dict(),
            "volume_tasks_per_day": self.volume_per_day,
            "budget_usd_per_month": self.budget_usd_per_month,
            "max_cost_usd": self.max_cost_usd,
            "judge": None if self.judge is None else self.judge.describe(),
            "cache": None if self.cache_path is None else str(self.cache_path),
            "replay": None if self.replay_path is None else str(self.replay_path),
            "alpha": self.alpha,
            "rank": self.rank,
            "baseline": None if self.baseline_path is None else str(self.baseline_path),
            "sandbox": self.sandbox,
            "gates": None if self.gates is None else {
                "fail_on_regression": self.gates.fail_on_regression, "tolerance": self.gates.tolerance,
                "min_score": None if self.gates.min_score is None else {
                    "default": self.gates.min_score.default, "per_model": dict(self.gates.min_score.per_model)},
                "max_p95_latency_ms": self.gates.max_p95_latency_ms,
                "max_cost_per_task": self.gates.max_cost_per_task,
            },
            "use_cases": [case.to_dict() for case in self.use_cases.values()],
            "shard": None if self.shard is None else f"{self.shard[0]}/{self.shard[1]}",
            "text_limit": self.text_limit,
        }


def read_tool_table(pyproject: Path | None) -> dict[str, Any]:
    """``[tool.modelbench]`` of a pyproject.toml; {} when the file or the table is absent."""
    if pyproject is None or not pyproject.is_file():
        return {}
    try:
        with pyproject.open("rb") as stream:
            document = tomllib.load(stream)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read [tool.modelbench] from {str(pyproject)!r}: {exc}") from None
    table = document.get("tool", {}).get("modelbench", {})
    if not isinstance(table, dict):
        raise ConfigError(f"[tool.modelbench] in {str(pyproject)!r} must be a table")
    unknown = sorted(set(table) - set(TOOL_KEYS))
    if unknown:
        raise ConfigError(
            f"[tool.modelbench] in {str(pyproject)!r} has unknown key {unknown[0]!r}; "
            f"allowed: {', '.join(TOOL_KEYS)}"
        )
    return table


def parse_int(text: Any, what: str, minimum: int) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise ConfigError(f"{what} {text!r} is not a whole number (>= {minimum})") from None
    if value < minimum:
        raise ConfigError(f"{what} {text!r} is not allowed; it must be >= {minimum}")
    return value


def parse_size(text: Any, what: str, default: int = DEFAULT_MAX_RESPONSE_BYTES) -> int:
    """A byte size from the command line (already an int) or an ini value (``32MiB``)."""
    if text in (None, ""):
        return default
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    from argparse import ArgumentTypeError

    from .options import parse_bytes

    try:
        return parse_bytes(str(text))
    except ArgumentTypeError as exc:
        raise ConfigError(f"{what} {exc}") from None


def parse_seconds(text: Any, what: str) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise ConfigError(f"{what} {text!r} is not a number of seconds (> 0)") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{what} {text!r} is not allowed; it must be a number of seconds > 0")
    return value


def parse_bool(text: Any, what: str) -> bool:
    if isinstance(text, bool):
        return text
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{what} {text!r} is not a boolean; use true or false")


def resolve(
    *, values: Mapping[str, Any], providers: Iterable[str], tool: Mapping[str, Any],
    rootdir: Path,
) -> Settings:
    """Settings from option values (CLI already merged over ini; None = unset) and tool table."""
    providers = list(providers)
    categories = category_weights(tool.get("categories"))
    named = parse_named_models(tool.get("models"), providers)
    models_text = values.get("models") or ""
    models = tuple(parse_model_list(models_text, providers, named))
    if not models and str(models_text).strip():
        raise ConfigError(
            f"--modelbench-models {models_text!r} names no model; write SPEC[,SPEC...], e.g. "
            "--modelbench-models=echo or openai:gpt-4o-mini"
        )
    sandbox = parse_sandbox(values.get("sandbox"))
    if not models:
        # Nothing will be benchmarked: the other settings are not needed, and skipping them
        # keeps the heavy modules (numpy and what uses it) out of sessions without models.
        return Settings(categories=categories, named_models=named, tool=dict(tool), sandbox=sandbox)
    from ..core.dimensions import parse_dimensions

    dimensions = parse_dimensions(tool)
    judge_text = (values.get("judge") or "").strip()
    judge = parse_spec(judge_text, providers, named) if judge_text else None
    from ..cost import parse_budget, parse_usd, parse_volume

    runs = values.get("runs")
    json_path = values.get("json")
    from ..compare.recommend import parse_use_cases, resolve_use_case

    alpha = parse_alpha(values.get("alpha"))
    baseline_path = _path(values.get("baseline"), rootdir)
    update_baseline = parse_bool(values.get("update_baseline") or False, "--modelbench-update-baseline")
    if update_baseline and baseline_path is None:
        raise ConfigError("--modelbench-update-baseline needs --modelbench-baseline=PATH (the file to update)")
    use_cases = parse_use_cases(tool.get("use_cases"), list(categories))
    use_case = (values.get("use_case") or "").strip() or None
    if use_case is not None:
        resolve_use_case(use_case, use_cases)
    cache, replay = values.get("cache") or None, values.get("replay") or None
    if cache and replay:
        raise ConfigError(
            f"--modelbench-cache={cache} and --modelbench-replay={replay} exclude each other: "
            "record with the cache, then replay"
        )
    volume, budget, max_cost = values.get("volume"), values.get("budget"), values.get("max_cost")
    if budget and not volume:
        raise ConfigError(
            f"--modelbench-budget {budget!r} needs --modelbench-volume=N/day: the budget is compared with "
            "the monthly cost projected at that volume"
        )
    settings = Settings(
        models=models,
        runs=None if runs in (None, "") else parse_int(runs, "modelbench runs", 1),
        json_path=_path(json_path, rootdir),
        cache_path=_path(cache, rootdir),
        replay_path=_path(replay, rootdir),
        strict=parse_bool(values.get("strict") or False, "modelbench strict"),
        timeout=60.0 if values.get("timeout") in (None, "") else parse_seconds(values["timeout"], "modelbench timeout"),
        retries=2 if values.get("retries") in (None, "") else parse_int(values["retries"], "modelbench retries", 0),
        concurrency=None if values.get("concurrency") in (None, "") else parse_int(
            values["concurrency"], "modelbench concurrency", 1),
        max_response_bytes=parse_size(values.get("max_response_bytes"), "modelbench max_response_bytes"),
        categories=categories,
        named_models=named,
        tool=dict(tool),
        volume_per_day=parse_volume(volume, "--modelbench-volume") if volume else None,
        budget_usd_per_month=parse_budget(budget, "--modelbench-budget") if budget else None,
        max_cost_usd=parse_usd(max_cost, "--modelbench-max-cost") if max_cost else None,
        judge=judge,
        alpha=alpha,
        rank=parse_rank(values.get("rank")),
        compare=parse_compare(values.get("compare"), [spec.name for spec in models]),
        baseline_path=baseline_path,
        update_baseline=update_baseline,
        gates=_gate_settings(values, alpha, [spec.name for spec in models], baseline_path),
        reports=tuple(_path(report, rootdir) for report in _report_paths(values.get("report"))),
        use_cases=use_cases,
        use_case=use_case,
        shard=_shard(values.get("shard")),
        plan=parse_bool(values.get("plan") or False, "--modelbench-plan"),
        text_limit=DEFAULT_TEXT_LIMIT if values.get("text_limit") in (None, "")
        else parse_int(values["text_limit"], "modelbench text limit", 0),
        sandbox=sandbox,
        cache_lock_timeout=60.0 if values.get("cache_lock_timeout") in (None, "")
        else parse_seconds(values["cache_lock_timeout"], "modelbench cache_lock_timeout"),
        dimensions=dimensions,
    )
    check_output_paths(settings)
    return settings


def apply_sandbox(mode: str | None) -> Callable[[], None] | None:
    """Make ``mode`` (``--modelbench-sandbox``: auto, require, off) this process's sandbox mode
    for generated code; the function that restores the previous mode, None when no mode was
    given. ConfigError for a bad mode, or for ``require`` without a working bubblewrap."""
    if mode is None:
        return None
    from ..design.scorers._sandbox import configure_sandbox, set_default_sandbox

    previous = configure_sandbox(mode)
    return lambda: set_default_sandbox(previous)


def check_output_paths(settings: Settings) -> None:
    """ConfigError (naming the option and the path) unless every file the session will write
    at its end can be written: checked before any model is called. The same file may not be
    given for two outputs."""
    from ..core.files import check_output_path

    outputs = [("--modelbench-json", settings.json_path)]
    outputs += [("--modelbench-report", path) for path in settings.reports]
    if settings.update_baseline:
        outputs.append(("--modelbench-update-baseline (--modelbench-baseline)", settings.baseline_path))
    seen: dict[Path, str] = {}
    for what, path in outputs:
        if path is None:
            continue
        target = check_output_path(path, what)
        if target in seen:
            raise ConfigError(f"{what} {str(path)!r} is also the file of {seen[target]}; give each output its own file")
        seen[target] = what


def _shard(value: Any) -> tuple[int, int] | None:
    """``--modelbench-shard`` (parsed already) or the ini ``modelbench_shard`` text."""
    if value in (None, ""):
        return None
    if isinstance(value, tuple):
        return value
    import argparse

    from .options import parse_shard

    try:
        return parse_shard(value)
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"modelbench shard {exc}") from None


def _path(text: Any, base: Path) -> Path | None:
    """A path option relative to the invocation directory; None when unset."""
    if not text:
        return None
    path = Path(str(text)).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


RANK_METHODS = ("weighted", "bradley_terry", "elo", "borda", "pareto")


def parse_sandbox(text: Any) -> str | None:
    """``--modelbench-sandbox``: auto, require or off; None when not given."""
    if text in (None, ""):
        return None
    from ..design.scorers._sandbox import check_sandbox_mode

    return check_sandbox_mode(text, "--modelbench-sandbox")


def parse_alpha(text: Any) -> float:
    if text in (None, ""):
        return 0.05
    try:
        alpha = float(str(text).strip())
    except ValueError:
        raise ConfigError(f"modelbench alpha {text!r} is not a number; it must be in (0, 1), e.g. 0.05") from None
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"modelbench alpha {text!r} is not allowed; it must be in (0, 1), e.g. 0.05")
    return alpha


def parse_rank(text: Any) -> str:
    if text in (None, ""):
        return "weighted"
    method = str(text).strip().lower().replace("-", "_")
    if method not in RANK_METHODS:
        raise ConfigError(f"modelbench rank {text!r} is not one of: {', '.join(RANK_METHODS)}")
    return method


def parse_compare(text: Any, models: list[str]) -> tuple[str, str] | None:
    if text in (None, ""):
        return None
    names = [part.strip() for part in str(text).split(",")]
    if len(names) != 2 or not all(names) or names[0] == names[1]:
        raise ConfigError(f"--modelbench-compare {text!r} must name two different models: A,B")
    unknown = [name for name in names if name not in models]
    if unknown:
        raise ConfigError(
            f"--modelbench-compare names {unknown[0]!r}, which is not a configured model; "
            f"configured: {', '.join(models) or 'none'}"
        )
    return names[0], names[1]


def _report_paths(value: Any) -> list[str]:
    """``--modelbench-report`` may be given several times; the ini value may list several."""
    if not value:
        return []
    from ..reports import parse_report_path

    items = value if isinstance(value, (list, tuple)) else re.split(r"[,\s]+", str(value))
    paths = [item.strip() for item in items if item and item.strip()]
    for path in paths:
        parse_report_path(path)
    return paths


def _gate_settings(values: Mapping[str, Any], alpha: float, models: list[str], baseline: Path | None) -> Any:
    """GateSettings from the gate options; None when no gate is asked for."""
    keys = ("fail_on_regression", "tolerance", "min_score", "max_p95_latency_ms", "max_cost_per_task")
    if not any(values.get(key) not in (None, "", False) for key in keys):
        return None
    fail = parse_bool(values.get("fail_on_regression") or False, "--modelbench-fail-on-regression")
    if fail and baseline is None:
        raise ConfigError("--modelbench-fail-on-regression needs --modelbench-baseline=PATH to compare against")
    given = {key: None if values.get(key) in (None, "") else values[key] for key in keys[1:]}
    return gate_settings(fail_on_regression=fail, alpha=alpha, models=models, option_prefix="--modelbench-", **given)


def gate_settings(*, fail_on_regression: bool, tolerance: Any, min_score: Any, max_p95_latency_ms: Any,
                  max_cost_per_task: Any, alpha: float, models: Sequence[str], option_prefix: str) -> Any:
    """GateSettings from the gate options' texts (None: not given), None when no gate is on.
    A bad value's message names the option as ``option_prefix`` + its name (``--modelbench-``
    for the plugin, ``--`` for ``modelbench compare``); a per-model minimum score must name
    one of ``models``."""
    from ..compare.gates import (
        DEFAULT_TOLERANCE,
        GateSettings,
        parse_max_cost_per_task,
        parse_max_p95_latency_ms,
        parse_min_score,
        parse_tolerance,
    )

    def option(name: str) -> str:
        return option_prefix + name.replace("_", "-")

    settings = GateSettings(
        fail_on_regression=fail_on_regression,
        tolerance=DEFAULT_TOLERANCE if tolerance is None else parse_tolerance(tolerance, option("tolerance")),
        alpha=alpha,
        min_score=None if min_score is None else parse_min_score(min_score, option("min_score")),
        max_p95_latency_ms=None if max_p95_latency_ms is None
        else parse_max_p95_latency_ms(max_p95_latency_ms, option("max_p95_latency_ms")),
        max_cost_per_task=None if max_cost_per_task is None
        else parse_max_cost_per_task(max_cost_per_task, option("max_cost_per_task")),
    )
    if settings.min_score is not None:
        settings.min_score.check_models(list(models))
    return settings if settings.active else None
