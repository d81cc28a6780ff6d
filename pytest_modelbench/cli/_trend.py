"""``modelbench trend``: each model's score over a series of results files, with its interval,
and a flag where two consecutive files differ significantly.

Hosted models change under the same name ("drift"). Consecutive files are compared with
:func:`pytest_modelbench.compare.baseline.compare_to_baseline`, the paired test of a
baseline comparison (the earlier file as the baseline): on the tasks both measured, Holm over
the models of that step. The score and its interval are the ones each session reported
(``models.*.score`` and the weighted ranking's 95% interval).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._exceptions import ConfigError
from ..reports.trend import flag, time_label, with_interval
from ._saved import Saved, load, settings_for, weighted_interval


def collect(paths: Sequence[str]) -> list[Saved]:
    """The files in time order (:func:`results_files`); at least two."""
    found = results_files(paths)
    if len(found) < 2:
        raise ConfigError(f"modelbench trend needs at least two results files, got {len(found)} "
                          f"({', '.join(paths)})")
    return found


def results_files(paths: Sequence[str]) -> list[Saved]:
    """The files in time order: files as given; a directory's ``*.json`` files sorted by
    ``meta.finished_at`` (then name)."""
    found: list[Saved] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            inside = [load(candidate) for candidate in sorted(path.glob("*.json"))]
            if not inside:
                raise ConfigError(f"directory {str(path)!r} has no results file (*.json)")
            inside.sort(key=lambda saved: (str(saved.meta.get("finished_at") or ""), saved.path.name))
            found += inside
        else:
            found.append(load(path))
    return found


def trend(files: Sequence[Saved], *, alpha: float | None = None) -> dict[str, Any]:
    """The trend as plain data (what the terminal, Markdown and HTML renderers read)::

        {"alpha": .., "files": [{"path", "label", "finished_at", "git_commit"}, ...],
         "models": {name: [point or None per file]}}

    A point: ``score``, ``low``, ``high`` (its 95% interval), and against the previous file
    ``delta``, ``delta_low``/``delta_high`` (the paired test's interval), ``p_adjusted``,
    ``significant``, ``shared_tasks`` (None for the first file or when not comparable);
    ``first`` (the first file) and ``compared`` (a paired comparison with the previous file).
    """
    from ..compare.baseline import Baseline, compare_to_baseline

    names: list[str] = []
    for saved in files:
        names += [name for name in saved.model_names if name not in names]
    level = alpha if alpha is not None else settings_for(files[-1]).alpha
    series: dict[str, list[dict[str, Any] | None]] = {name: [] for name in names}
    for index, saved in enumerate(files):
        step = None
        if index:
            previous = files[index - 1]
            try:
                settings = settings_for(saved)  # the later file's weights and reference points
                step = compare_to_baseline(
                    saved.records, Baseline(str(previous.path), previous.document, previous.records),
                    category_weights=settings.categories, alpha=level, dimensions=settings.dimensions)
            except ConfigError:
                step = None  # nothing shared with the previous file: not comparable
        summaries = saved.document.get("models") or {}
        for name in names:
            summary = summaries.get(name) if isinstance(summaries, Mapping) else None
            if not isinstance(summary, Mapping):
                series[name].append(None)
                continue
            low, high = weighted_interval(saved.document, name)
            point: dict[str, Any] = {"score": summary.get("score"), "low": low, "high": high, "delta": None,
                                     "delta_low": None, "delta_high": None, "p_adjusted": None,
                                     "significant": None, "shared_tasks": None, "first": index == 0,
                                     "compared": False}
            entry = None
            if step is not None:
                entry = next((item for item in step.models if item.model == name), None)
            if entry is not None and entry.score is not None:
                delta = entry.score
                point.update(delta=_finite(delta.delta), delta_low=_finite(delta.ci.low),
                             delta_high=_finite(delta.ci.high), p_adjusted=_finite(delta.p_adjusted),
                             significant=bool(delta.significant), shared_tasks=entry.shared_tasks,
                             compared=True)
            series[name].append(point)
    return {
        "alpha": level,
        "files": [{"path": str(saved.path), "label": _label(saved), "finished_at": saved.meta.get("finished_at"),
                   "git_commit": saved.meta.get("git_commit")} for saved in files],
        "models": series,
    }


def _finite(value: Any) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)


def _label(saved: Saved) -> str:
    return time_label(saved.meta.get("finished_at")) or saved.path.stem


def lines(data: Mapping[str, Any], width: int | None = None) -> list[str]:
    """The terminal rendering: one table per model (narrowed to ``width``, file names wrapped
    whole), and the explanation wrapped to it."""
    from ..core.text import table, wrap_text

    out: list[str] = []
    files = data["files"]
    for name, points in data["models"].items():
        out.append(f"--- {name}")
        rows = []
        for index, (info, point) in enumerate(zip(files, points)):
            if point is None:
                rows.append([str(index + 1), info["label"], Path(info["path"]).name, "not in this file", "", "", ""])
                continue
            rows.append([str(index + 1), info["label"], Path(info["path"]).name, score_text(point),
                         delta_text(point), "" if point["p_adjusted"] is None else f"{point['p_adjusted']:.3g}",
                         flag(point)])
        out += table(["#", "finished", "file", "score [95% CI]", "change [interval]", "p adj", ""], rows,
                     ("right", "left", "left", "left", "left", "right", "left"), width=width,
                     wrap={2: "name"}).splitlines()
    legend = (f"change: against the file before, paired on shared tasks (sign-flip test, Holm over models, "
              f"alpha {data['alpha']:g}); ▲/▼ a significant rise/fall, = no significant change, "
              "? not comparable (no shared task)")
    return out + ([legend] if width is None else wrap_text(legend, width, "  "))


def score_text(point: Mapping[str, Any]) -> str:
    if point["score"] is None:
        return "not measured"
    return with_interval(f"{point['score']:.1f}", point["low"], point["high"], ".1f", "-")


def delta_text(point: Mapping[str, Any]) -> str:
    if point["delta"] is None:
        return ""
    return with_interval(f"{point['delta']:+.1f}", point["delta_low"], point["delta_high"], "+.1f", ", ")
