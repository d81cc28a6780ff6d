"""``modelbench merge``: the union of several results files (CI shards, or runs of different
models), with every summary recomputed from the runs by the end-of-session pipeline.

Summaries are never averaged: scores, intervals, rankings and comparisons are computed again
from the union of the run records, so N shards of one suite merge to exactly the numbers of
one session over all of it. Refused, with the file and the value named:

* files of another schema version (the reader refuses them);
* a model name configured differently in two files (``meta.models``: spec, params, ...);
* different category weights, or different measured dimensions or reference points
  (``[tool.modelbench.speed|cost|consistency]``): they define the score;
* the same task with a different category, difficulty, weight or group in two files;
* the same (task, model, run) twice with different outcomes or qualities. The same run with
  the same outcome (a file given twice, overlapping shards) is kept once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._exceptions import ConfigError
from ..core.records import RunRecord
from ._saved import Saved, model_specs, settings_for

#: Fields of ``meta.models`` entries that make two models the same configuration.
CONFIG_FIELDS = ("spec", "provider", "model", "base_url", "api_key_env", "params")


def merge(files: Sequence[Saved]) -> tuple[dict[str, Any], list[RunRecord], list[str]]:
    """``(meta, records, notes)`` of the union; ConfigError on a conflict."""
    if not files:
        raise ConfigError("modelbench merge needs at least one results file")
    models: dict[str, tuple[Mapping[str, Any], Path]] = {}
    order: list[str] = []
    for saved in files:
        for entry in saved.meta.get("models") or ():
            name = entry.get("name")
            if name in models:
                seen, where = models[name]
                for field in CONFIG_FIELDS:
                    if seen.get(field) != entry.get(field):
                        raise ConfigError(
                            f"model {name!r} is configured differently in {str(where)!r} and {str(saved.path)!r}: "
                            f"{field} {seen.get(field)!r} against {entry.get(field)!r}; merge only results of "
                            "the same models (rename one with ALIAS=SPEC)")
            else:
                models[name] = (entry, saved.path)
                order.append(name)
    model_specs(files[0])  # a malformed meta.models is named before anything else
    weights = [(saved, settings_for(saved).categories) for saved in files]
    for saved, table in weights[1:]:
        if dict(table) != dict(weights[0][1]):
            changed = sorted(name for name in set(table) | set(weights[0][1])
                             if table.get(name) != weights[0][1].get(name))
            raise ConfigError(
                f"{str(saved.path)!r} weighs categories differently from {str(files[0].path)!r} "
                f"({changed[0]}: {table.get(changed[0])!r} against {weights[0][1].get(changed[0])!r}); "
                "their scores cannot be merged")
    measured = [(saved, settings_for(saved).dimensions.to_dict()) for saved in files]
    for saved, table in measured[1:]:
        if table != measured[0][1]:
            changed = next(name for name in table if table[name] != measured[0][1].get(name))
            raise ConfigError(
                f"{str(saved.path)!r} scores {changed} from the runs differently from {str(files[0].path)!r} "
                f"({_setting(table[changed])} against {_setting(measured[0][1].get(changed))}: "
                f"[tool.modelbench.{changed}]); their scores cannot be merged")
    tasks: dict[str, tuple[tuple[Any, ...], Path]] = {}
    runs: dict[tuple[str, str, int], tuple[RunRecord, Path]] = {}
    duplicates = 0
    for saved in files:
        for record in saved.records:
            shape = (record.category, record.difficulty, record.weight, record.group)
            if record.task in tasks and tasks[record.task][0] != shape:
                seen_shape, where = tasks[record.task]
                raise ConfigError(
                    f"task {record.task!r} is {_shape(seen_shape)} in {str(where)!r} but {_shape(shape)} in "
                    f"{str(saved.path)!r}; merge only results of the same suite")
            tasks.setdefault(record.task, (shape, saved.path))
            key = (record.task, record.model, record.run)
            if key in runs:
                seen_record, where = runs[key]
                if (seen_record.outcome, seen_record.quality) != (record.outcome, record.quality):
                    raise ConfigError(
                        f"run {record.run} of task {record.task!r} with model {record.model!r} is in "
                        f"{str(where)!r} ({_outcome(seen_record)}) and in {str(saved.path)!r} ({_outcome(record)}); "
                        "a run has one outcome: merge shards, not repeated sessions")
                duplicates += 1
                continue
            runs[key] = (record, saved.path)
    notes = []
    if duplicates:
        notes.append(f"{duplicates} runs were in more than one file with the same outcome; each is kept once")
    meta = _merged_meta(files, [models[name][0] for name in order])
    return meta, [record for record, _ in runs.values()], notes


def _shape(shape: tuple[Any, ...]) -> str:
    category, difficulty, weight, group = shape
    return f"category {category}, difficulty {difficulty}, weight {weight:g}" + (f", group {group}" if group else "")


def _outcome(record: RunRecord) -> str:
    return record.outcome + ("" if record.quality is None else f", quality {record.quality:g}")


def _merged_meta(files: Sequence[Saved], models: list[Mapping[str, Any]]) -> dict[str, Any]:
    meta = dict(files[0].meta)
    started = [str(s.meta.get("started_at")) for s in files if s.meta.get("started_at")]
    finished = [str(s.meta.get("finished_at")) for s in files if s.meta.get("finished_at")]
    commits = {s.meta.get("git_commit") for s in files}
    settings = dict(files[0].saved_settings)
    settings["shard"] = None
    meta.update({
        "started_at": min(started) if started else None,
        "finished_at": max(finished) if finished else None,
        "git_commit": commits.pop() if len(commits) == 1 else None,
        "models": [dict(entry) for entry in models],
        "settings": settings,
        "merged_from": [{"path": str(s.path), "shard": s.saved_settings.get("shard"),
                         "finished_at": s.meta.get("finished_at"), "git_commit": s.meta.get("git_commit"),
                         "runs": len(s.records)} for s in files],
    })
    return meta


def merged_document(files: Sequence[Saved], output: Path) -> tuple[dict[str, Any], list[str]]:
    """The merged results document (summaries recomputed by the pipeline) and notes."""
    from ..session.pipeline import results_document
    from ._saved import rerun

    meta, records, notes = merge(files)
    carrier = Saved(output, {**files[0].document, "meta": meta, "models": {
        name: summary for saved in files for name, summary in (saved.document.get("models") or {}).items()},
        "partial": _partial(files)}, tuple(records))
    settings = settings_for(carrier)
    result = rerun(carrier, settings)
    if result is None:
        raise ConfigError(f"the files to merge ({', '.join(str(s.path) for s in files)}) hold no benchmark run")
    return results_document(result, meta), notes


def _setting(value: Any) -> str:
    return "not measured" if value is None or value is False else "measured" if value is True else repr(value)


def _partial(files: Sequence[Saved]) -> str | None:
    reasons = [f"{saved.path}: {saved.document['partial']}" for saved in files
               if isinstance(saved.document.get("partial"), str)]
    return "; ".join(reasons) if reasons else None
