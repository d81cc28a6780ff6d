"""Saved results files as the end-of-session pipeline sees them.

:func:`load` reads and checks a results file; :func:`settings_for` rebuilds the session's
:class:`~pytest_modelbench.session.settings.Settings` from its ``meta`` (models, category
weights, alpha, ranking, use cases, cost settings), with the command line's overrides;
:func:`rerun` hands its run records to :func:`pytest_modelbench.session.pipeline.finish`, the
function the plugin calls at the end of a session, so every number is the session's.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._exceptions import ConfigError
from ..core.records import RunRecord
from ..models.specs import ModelSpec
from ..session.settings import Settings


@dataclasses.dataclass(frozen=True, slots=True)
class Saved:
    """A results file: its path, the document and its run records."""

    path: Path
    document: Mapping[str, Any]
    records: tuple[RunRecord, ...]

    @property
    def meta(self) -> Mapping[str, Any]:
        meta = self.document.get("meta")
        return meta if isinstance(meta, Mapping) else {}

    @property
    def saved_settings(self) -> Mapping[str, Any]:
        settings = self.meta.get("settings")
        return settings if isinstance(settings, Mapping) else {}

    @property
    def model_names(self) -> list[str]:
        """The session's models in its order (``meta.models``), then any other model with runs."""
        names = [spec.name for spec in model_specs(self)]
        return names + sorted({record.model for record in self.records} - set(names))


def weighted_interval(document: Mapping[str, Any], name: str) -> tuple[float | None, float | None]:
    """The 95% interval of a model's score in the document's weighted ranking, (None, None)
    when the document has none."""
    entry: Any = document
    for key in ("rankings", "weighted", "models", name):
        entry = entry.get(key) if isinstance(entry, Mapping) else None
    if not isinstance(entry, Mapping):
        return None, None
    return entry.get("low"), entry.get("high")


def load(path: str | Path) -> Saved:
    """Read ``path``; ConfigError naming the file when it is missing, not JSON, of another
    schema version, or holds a malformed run."""
    from ..core.results import read_results

    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"results file {str(path)!r} is a directory; give a results JSON file")
    document, records = read_results(path)
    meta = document.get("meta")
    if meta is not None and not isinstance(meta, Mapping):
        raise ConfigError(f"results file {str(path)!r} has a 'meta' that is not an object")
    return Saved(path, document, tuple(records))


def model_specs(saved: Saved) -> list[ModelSpec]:
    """The session's model specs from ``meta.models`` (no key: only the variable's name)."""
    specs = []
    for entry in saved.meta.get("models") or ():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise ConfigError(f"results file {str(saved.path)!r} has a malformed entry in meta.models: {entry!r:.120}")
        specs.append(ModelSpec(
            name=entry["name"], provider=str(entry.get("provider") or ""), model=str(entry.get("model") or ""),
            base_url=entry.get("base_url"), api_key_env=entry.get("api_key_env"),
            params=dict(entry.get("params") or {}),
        ))
    return specs


def _weights(saved: Saved) -> dict[str, float]:
    from ..core.config import category_weights, check_weight

    table = saved.saved_settings.get("category_weights")
    if table is None:
        return category_weights(None)
    if not isinstance(table, Mapping):
        raise ConfigError(f"results file {str(saved.path)!r} has category weights that are not a table: {table!r:.80}")
    return {str(name): check_weight(value, f"{saved.path}: weight of category {name!r}")
            for name, value in table.items()}


def dimensions_for(saved: Saved) -> Any:
    """The measured dimensions the session scored with (``meta.settings.dimensions``: its
    ``[tool.modelbench.speed|cost|consistency]``). A file without them was written before the
    measured dimensions existed: its scores came from the answers only, and so do these."""
    from ..core.dimensions import ANSWERS_ONLY, dimensions_from_dict

    if "dimensions" not in saved.saved_settings:
        return ANSWERS_ONLY
    return dimensions_from_dict(saved.saved_settings["dimensions"],
                                f"results file {str(saved.path)!r}: meta.settings.dimensions")


def _use_cases(saved: Saved, categories: Sequence[str]) -> dict[str, Any]:
    """The session's use cases (``meta.settings.use_cases``; older files: the profiles of their
    recommendations), else the built-in ones."""
    from ..compare.recommend import BUILTIN_USE_CASES, UseCase

    entries = saved.saved_settings.get("use_cases")
    if not entries:
        entries = [item.get("profile") for item in saved.document.get("recommendations") or ()
                   if isinstance(item, Mapping)]
    cases = dict(BUILTIN_USE_CASES)
    for entry in entries or ():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            continue
        constraints = entry.get("constraints") or {}
        try:
            cases[entry["name"]] = UseCase(entry["name"], dict(entry.get("weights") or {}),
                                           str(entry.get("description") or ""), **dict(constraints))
        except TypeError as exc:
            raise ConfigError(f"results file {str(saved.path)!r} has a malformed use case "
                              f"{entry['name']!r}: {exc}") from None
    return cases


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def settings_for(saved: Saved, *, alpha: float | None = None, rank: str | None = None,
                 use_case: str | None = None, gates: Any = None, baseline_path: Path | None = None,
                 compare: tuple[str, str] | None = None) -> Settings:
    """The session's settings, rebuilt from the file's ``meta`` with these overrides."""
    from ..session.settings import parse_alpha, parse_rank

    stored = saved.saved_settings
    categories = _weights(saved)
    names = saved.model_names
    specs = {spec.name: spec for spec in model_specs(saved)}
    models = tuple(specs.get(name) or ModelSpec(name=name, provider="", model="") for name in names)
    use_cases = _use_cases(saved, list(categories))
    if use_case is not None:
        from ..compare.recommend import resolve_use_case

        resolve_use_case(use_case, use_cases, "--use-case")
    if compare is None:
        pair = saved.document.get("compare")
        if isinstance(pair, Mapping) and pair.get("model_a") in names and pair.get("model_b") in names:
            compare = (pair["model_a"], pair["model_b"])
    try:
        saved_alpha = parse_alpha(stored.get("alpha"))
        saved_rank = parse_rank(stored.get("rank"))
    except ConfigError as exc:
        raise ConfigError(f"results file {str(saved.path)!r}: {exc}") from None
    return Settings(
        models=models, categories=categories, alpha=saved_alpha if alpha is None else alpha,
        rank=saved_rank if rank is None else rank, compare=compare,
        volume_per_day=_number(stored.get("volume_tasks_per_day")),
        budget_usd_per_month=_number(stored.get("budget_usd_per_month")),
        max_cost_usd=_number(stored.get("max_cost_usd")),
        baseline_path=baseline_path, gates=gates, use_cases=use_cases, use_case=use_case,
        dimensions=dimensions_for(saved),
    )


def prices_for(saved: Saved) -> dict[str, Any]:
    """The price each model was costed with (``models.*.cost.price``)."""
    from ..cost import ModelPrice

    prices: dict[str, Any] = {}
    for name, summary in (saved.document.get("models") or {}).items():
        price = ((summary or {}).get("cost") or {}).get("price") if isinstance(summary, Mapping) else None
        if isinstance(price, Mapping):
            try:
                prices[name] = ModelPrice(**price)
            except TypeError:
                prices[name] = None
    return prices


def self_hosting_for(saved: Saved) -> dict[str, Any]:
    """The self-hosted deployments the session declared (``models.*.cost.self_hosted``)."""
    from ..cost import SelfHosting

    hosting = {}
    for name, summary in (saved.document.get("models") or {}).items():
        block = ((summary or {}).get("cost") or {}).get("self_hosted") if isinstance(summary, Mapping) else None
        if isinstance(block, Mapping) and block.get("gpus") and block.get("gpu_hourly_usd"):
            hosting[name] = SelfHosting(float(block["gpu_hourly_usd"]), int(block["gpus"]))
    return hosting


def rerun(saved: Saved, settings: Settings, *, baseline: Any = None,
          records: Sequence[RunRecord] | None = None) -> Any:
    """The end-of-session pipeline on the file's runs: the session's
    :class:`~pytest_modelbench.session.pipeline.SessionResult` (None without runs)."""
    from ..session.pipeline import finish

    budget = saved.document.get("budget")
    spend = budget.get("session_spend") if isinstance(budget, Mapping) else None
    partial = saved.document.get("partial")
    return finish(list(saved.records if records is None else records), settings, prices=prices_for(saved),
                  self_hosting=self_hosting_for(saved), baseline=baseline,
                  session_spend=spend if isinstance(spend, Mapping) else None,
                  partial=partial if isinstance(partial, str) else None)
