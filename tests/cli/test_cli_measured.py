"""The command line scores a saved session as the session did: the measured dimensions' reference
points (``[tool.modelbench.speed|cost|consistency]``, saved in ``meta.settings.dimensions``) come
back with the file; a file written before the measured dimensions is scored from its answers,
as it was; shards scored differently are not merged; ``report --trend`` adds the trend section."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from pytest_modelbench.cli import main
from pytest_modelbench.core.dimensions import (
    ANSWERS_ONLY,
    LogLinear,
    SpeedComponent,
    parse_dimensions,
)
from pytest_modelbench.core.records import RunRecord
from pytest_modelbench.core.results import build_meta
from pytest_modelbench.cost import ModelPrice
from pytest_modelbench.models.specs import ModelSpec
from pytest_modelbench.session.pipeline import finish, write_outputs
from pytest_modelbench.session.settings import Settings

#: A project's own reference points: speed from p50 latency only, dearer cost points,
#: consistency left out.
CUSTOM = parse_dimensions({
    "speed": {"latency_p50": {"best_ms": 50, "worst_ms": 3000, "weight": 1}, "latency_p95": {"weight": 0},
              "ttft_p50": {"weight": 0}},
    "cost": {"best_usd": 0.001, "worst_usd": 1.0},
    "consistency": {"measured": False},
})
PRICES = {"fast": ModelPrice("fast-1", 0.5, 1.5), "slow": ModelPrice("slow-1", 5.0, 20.0)}


def run(*argv: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(arg) for arg in argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def records(seed: int = 0, tasks: int = 24) -> list[RunRecord]:
    """Two models that differ in speed, cost and answers, three runs per task."""
    rng = np.random.default_rng(seed)
    out = []
    for name, latency, tokens, skill in (("fast", 120.0, 200, 0.55), ("slow", 900.0, 900, 0.8)):
        for t in range(tasks):
            for number in (1, 2, 3):
                passed = bool(rng.random() < skill)
                output = int(tokens * rng.uniform(0.5, 1.5))
                price = PRICES[name]
                out.append(RunRecord(
                    task=f"tests/test_suite.py::test_task[{t:02d}]", model=name, run=number,
                    category=("accuracy", "reasoning")[t % 2], difficulty="easy", weight=1.0,
                    outcome="passed" if passed else "failed", quality=1.0 if passed else 0.0,
                    latency_ms=float(latency * rng.lognormal(0.0, 0.4)), input_tokens=300, output_tokens=output,
                    calls=1, cost_usd=(300 * price.input_usd_per_mtok + output * price.output_usd_per_mtok) / 1e6,
                    prompt=f"question {t}", reply=f"{name} answers {t}.{number}",
                ))
    return out


def write(path: Path, runs: list[RunRecord], dimensions, *, finished: str = "2026-03-01T10:00:00+00:00",
          shard: tuple[int, int] | None = None) -> dict:
    """A results file as the session writes it (``finish`` + ``write_outputs``), with these
    measured dimensions."""
    specs = (ModelSpec("fast", "openai", "fast-1"), ModelSpec("slow", "openai", "slow-1"))
    settings = Settings(models=specs, json_path=path, dimensions=dimensions, shard=shard)
    write_outputs(finish(runs, settings, prices=PRICES), settings, lambda: build_meta(
        plugin_version="0.1.0", pytest_version="9", started=finished, finished=finished, rootdir=path.parent,
        models=[spec.describe() for spec in specs], settings=settings.describe()))
    return json.loads(path.read_text(encoding="utf-8"))


def recomputed(path: Path) -> dict:
    """The file's summaries recomputed by the command line (``modelbench merge`` of the file alone)."""
    code, _, err = run("merge", path, "-o", path.with_name("again.json"))
    assert code == 0, err
    return json.loads(path.with_name("again.json").read_text(encoding="utf-8"))


def test_show_scores_with_the_sessions_reference_points(tmp_path):
    saved = write(tmp_path / "r.json", records(), CUSTOM)
    assert saved["meta"]["settings"]["dimensions"]["speed"] == {
        "latency_p50": {"best_ms": 50.0, "worst_ms": 3000.0, "weight": 1.0}}
    fast = saved["models"]["fast"]
    assert set(fast["dimensions"]) == {"speed", "cost"} and "consistency" not in fast["categories"]
    # the session's own numbers, recomputed from the runs with the saved reference points
    again = recomputed(tmp_path / "r.json")
    assert again["models"] == saved["models"] and again["rankings"] == saved["rankings"]
    # and shown: the category table holds the session's speed and cost scores
    code, out, err = run("show", tmp_path / "r.json")
    assert code == 0, err
    speed = next(line for line in out.splitlines() if line.startswith("speed*"))
    assert speed.split()[2:] == [f"{saved['models']['fast']['categories']['speed']['score']:.1f}",
                                 f"{saved['models']['slow']['categories']['speed']['score']:.1f}"]
    code, out, err = run("show", tmp_path / "r.json", "--model", "slow")
    assert code == 0, err
    assert f"score {saved['models']['slow']['score']:.1f}" in out
    # the measured categories are marked and count every task once; no consistency here
    row = next(line for line in out.splitlines() if line.startswith("cost*")).split()
    assert row[2:] == [f"{saved['models']['slow']['categories']['cost']['score']:.1f}",
                       row[3], "-", "24", "-"] and row[3] in "ABCDF"
    assert not any(line.startswith("consistency") for line in out.splitlines())
    assert "* measured from the runs" in out and "(price 5/20 USD per 1M tokens in/out)" in " ".join(out.split())
    # with the default reference points the numbers would differ: the file's are used
    default = write(tmp_path / "default.json", records(), parse_dimensions(None))
    assert default["models"]["fast"]["score"] != saved["models"]["fast"]["score"]


def test_a_file_from_before_the_measured_dimensions_is_scored_from_its_answers(tmp_path):
    # A session without measured dimensions, saved without meta.settings.dimensions (as files
    # written before they existed): the command line gives its numbers back, not new ones.
    saved = write(tmp_path / "old.json", records(), ANSWERS_ONLY)
    del saved["meta"]["settings"]["dimensions"]
    (tmp_path / "old.json").write_text(json.dumps(saved), encoding="utf-8")
    again = recomputed(tmp_path / "old.json")
    assert again["models"] == saved["models"]
    assert "dimensions" not in again["models"]["fast"] and "speed" not in again["models"]["fast"]["categories"]


@pytest.mark.parametrize(("dimensions", "message"), [
    ("fast", "meta.settings.dimensions = 'fast' is not allowed; it must be an object with speed, cost and consistency"),
    ({"speed": None, "cost": {"best_usd": 1.0, "worst_usd": 0.5}, "consistency": True},
     "meta.settings.dimensions: [tool.modelbench.cost]: worst_usd = 0.5 is not allowed; it must be more than "
     "best_usd = 1 (100 points at best_usd, 0 at worst_usd)"),
    ({"speed": {"latency_p99": {"best_ms": 1, "worst_ms": 2, "weight": 1}}, "cost": None, "consistency": True},
     "meta.settings.dimensions: [tool.modelbench.speed] has unknown key 'latency_p99'; allowed: measured, "
     "latency_p50, latency_p95, ttft_p50"),
    ({"speed": None, "cost": None, "consistency": "yes"},
     "meta.settings.dimensions: [tool.modelbench.consistency]: measured = 'yes' is not allowed; use true or false"),
])
def test_malformed_saved_dimensions_are_named(tmp_path, dimensions, message):
    saved = write(tmp_path / "r.json", records(tasks=4), CUSTOM)
    saved["meta"]["settings"]["dimensions"] = dimensions
    (tmp_path / "r.json").write_text(json.dumps(saved), encoding="utf-8")
    code, out, err = run("show", tmp_path / "r.json")
    assert code == 2 and out == ""
    assert err == f"modelbench show: error: results file '{tmp_path / 'r.json'}': {message}\n"


def test_merge_refuses_shards_scored_with_other_reference_points(tmp_path):
    runs = records()
    first = [r for r in runs if int(r.task[-3:-1]) % 2 == 0]
    second = [r for r in runs if int(r.task[-3:-1]) % 2 == 1]
    write(tmp_path / "a.json", first, CUSTOM, shard=(1, 2))
    write(tmp_path / "b.json", second, parse_dimensions(None), shard=(2, 2))
    code, _, err = run("merge", tmp_path / "a.json", tmp_path / "b.json", "-o", tmp_path / "m.json")
    assert code == 2 and not (tmp_path / "m.json").exists()
    assert err.startswith(f"modelbench merge: error: '{tmp_path / 'b.json'}' scores speed from the runs differently "
                          f"from '{tmp_path / 'a.json'}' (")
    assert err.endswith("[tool.modelbench.speed]); their scores cannot be merged\n")
    # with the same reference points the shards merge to the whole session's numbers
    write(tmp_path / "b.json", second, CUSTOM, shard=(2, 2))
    whole = write(tmp_path / "whole.json", runs, CUSTOM)
    code, _, err = run("merge", tmp_path / "a.json", tmp_path / "b.json", "-o", tmp_path / "m.json")
    assert code == 0, err
    merged = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert merged["models"] == whole["models"]


def test_report_with_a_trend_of_earlier_files(tmp_path):
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    for day, seed in ((3, 1), (1, 2), (2, 3)):  # a directory: sorted by finish time, not by name
        write(earlier / f"seed{seed}.json", records(seed), CUSTOM, finished=f"2026-02-0{day}T10:00:00+00:00")
    current = write(tmp_path / "r.json", records(), CUSTOM)
    code, out, err = run("report", tmp_path / "r.json", "-o", tmp_path / "r.html", "-o", tmp_path / "r.md",
                         "--trend", earlier)
    assert code == 0, err
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert '<section id="trend"' in html
    labels = ["2026-02-01 10:00", "2026-02-02 10:00", "2026-02-03 10:00", "2026-03-01 10:00"]
    positions = [html.index(label, html.index('<section id="trend"')) for label in labels]
    assert positions == sorted(positions)
    assert f"{current['models']['slow']['score']:.1f}" in html[html.index('<section id="trend"'):]
    # without --trend: no trend section; the Markdown report has none either way
    code, _, err = run("report", tmp_path / "r.json", "-o", tmp_path / "plain.html", "-o", tmp_path / "plain.md")
    assert code == 0, err
    assert '<section id="trend"' not in (tmp_path / "plain.html").read_text(encoding="utf-8")
    assert (tmp_path / "plain.md").read_text(encoding="utf-8") == (tmp_path / "r.md").read_text(encoding="utf-8")


def test_saved_dimensions_read_back_exactly():
    from pytest_modelbench.core.dimensions import Dimensions, dimensions_from_dict

    for dimensions in (Dimensions(), CUSTOM, ANSWERS_ONLY,
                       Dimensions(speed=(SpeedComponent("ttft_p50", LogLinear(10.0, 400.0), 2.0),),
                                  cost=None, consistency=True)):
        assert dimensions_from_dict(json.loads(json.dumps(dimensions.to_dict()))) == dimensions
