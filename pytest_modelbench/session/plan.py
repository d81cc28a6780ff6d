"""``--modelbench-plan``: what a session would run and what it would cost, before any call.

The plan counts, per model, the tasks, the runs per difficulty and the runs in all (exact:
they are the collected items), and estimates calls, tokens, cost and model time **only from
history of the same tasks**: the runs of the same task and model in a results file (the
baseline, or the ``--modelbench-json`` file of an earlier session) or the answers the
response store recorded for the task. A task with no history is counted as unknown, never
guessed; a total over partly known tasks says how many runs it leaves out.

Per (task, model) the estimate of one run is the mean of the history's runs (runs that made
no call, or errored before answering, carry no measurement and are left out). Cost comes from
the recorded ``cost_usd`` of a results file, or from the stored token counts at today's price
(unknown without a price). In cache mode a run the store already answered costs nothing and
calls nothing when its prompt is unchanged; in replay mode no run calls the model. Model time
is the sum of the runs' latencies: the time the calls would take one after the other (with
pytest-xdist's ``-n N`` the wall time is up to N times shorter). Does not import pytest.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._exceptions import ConfigError
from ..core.config import DIFFICULTIES


@dataclasses.dataclass(frozen=True, slots=True)
class PlannedRun:
    """One collected benchmark run: task, model, run number and the task's difficulty."""

    task: str
    model: str
    run: int
    difficulty: str


@dataclasses.dataclass(frozen=True, slots=True)
class Measured:
    """What one earlier run of a task measured (None: not known)."""

    calls: int
    input_tokens: int | None
    output_tokens: int | None
    latency_ms: float | None
    cost_usd: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class Estimate:
    """A sum over the runs with history (``known`` runs); ``unknown`` runs had none."""

    value: float | None
    known: int
    unknown: int

    def text(self, formatter: Any) -> str:
        if self.known == 0 and self.unknown:
            return "unknown"
        shown = formatter(self.value or 0.0)
        return f"{shown} + ? ({self.unknown} runs)" if self.unknown else shown


@dataclasses.dataclass(frozen=True, slots=True)
class ModelPlan:
    """The plan of one model."""

    model: str
    tasks: int
    runs_by_difficulty: Mapping[str, int]
    runs: int
    stored_runs: int
    calls: Estimate
    input_tokens: Estimate
    output_tokens: Estimate
    cost_usd: Estimate
    model_time_ms: Estimate
    history: str

    def to_dict(self) -> dict[str, Any]:
        data = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        for name in ("calls", "input_tokens", "output_tokens", "cost_usd", "model_time_ms"):
            data[name] = dataclasses.asdict(data[name])
        data["runs_by_difficulty"] = dict(self.runs_by_difficulty)
        return data


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """The plan of a session: one entry per model, the cost cap and whether the plan fits it.

    ``fits`` is True, False, or None (unknown: the known part fits but some runs have no
    history); None as well without a cap.
    """

    models: tuple[ModelPlan, ...]
    mode: str
    max_cost_usd: float | None
    fits: bool | None
    notes: tuple[str, ...] = ()

    @property
    def cost_usd(self) -> Estimate:
        return _total([entry.cost_usd for entry in self.models])

    def lines(self, width: int | None = None) -> list[str]:
        """The terminal section (without its title); with ``width`` (the terminal's), the table
        is narrowed to it with model names wrapped whole, and the explanations wrapped. The
        verdict on ``--modelbench-max-cost`` stays on one line (CI logs are searched for it)."""
        from ..core.text import table, wrap_text
        from ..cost import format_usd
        from ..reports.terminal import count_text, table_fits

        def wrapped(text: str) -> list[str]:
            return [text] if width is None else wrap_text(text, width, "  ")

        headers = ["model", "tasks", "runs", *DIFFICULTIES, "stored", "calls", "tokens in/out", "cost",
                   "model time"]
        rows = []
        for entry in self.models:
            tokens = ("unknown" if entry.input_tokens.known == 0 and entry.input_tokens.unknown
                      else f"{entry.input_tokens.text(count_text)}/{entry.output_tokens.text(count_text)}")
            rows.append([entry.model, str(entry.tasks), str(entry.runs),
                         *(str(entry.runs_by_difficulty.get(name, 0) or "-") for name in DIFFICULTIES),
                         str(entry.stored_runs) if self.mode != "live" else "-",
                         entry.calls.text(count_text), tokens, entry.cost_usd.text(format_usd),
                         entry.model_time_ms.text(_duration)])
        aligns = ("left", *("right",) * (len(headers) - 1))
        if width is None or table_fits(headers, rows, width):
            lines = table(headers, rows, aligns, width=width, wrap={0: "name"}).splitlines()
        else:  # two tables, each fitting (names whole): the runs, then what they would take
            split = headers.index("calls")
            lines = table(headers[:split], [row[:split] for row in rows], aligns[:split], width=width,
                          wrap={0: "name"}).splitlines() + [""]
            lines += table(["model", *headers[split:]], [[row[0], *row[split:]] for row in rows],
                           aligns[:1] + aligns[split:], width=width, wrap={0: "name"}).splitlines()
        for entry in self.models:
            lines += wrapped(f"{entry.model}: estimates from {entry.history}")
        for note in self.notes:
            lines += wrapped(note)
        total = self.cost_usd
        if self.max_cost_usd is not None:
            verdict = {True: "fits", False: "does NOT fit", None: "may not fit"}[self.fits]
            lines.append(f"the plan {verdict} --modelbench-max-cost {format_usd(self.max_cost_usd)}: cost "
                         f"{total.text(format_usd)}" + (" (some runs have no history)" if self.fits is None else ""))
        lines += wrapped("stored: runs the response store already answered; model time: the calls one after "
                         "the other; unknown: no history of the task for the model (never guessed)")
        lines.append("no model was called (--modelbench-plan)")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "max_cost_usd": self.max_cost_usd, "fits": self.fits,
                "cost_usd": dataclasses.asdict(self.cost_usd), "models": [m.to_dict() for m in self.models],
                "notes": list(self.notes)}


def _duration(milliseconds: float) -> str:
    seconds = milliseconds / 1000.0
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _total(estimates: Iterable[Estimate]) -> Estimate:
    estimates = list(estimates)
    known = [e.value for e in estimates if e.known and e.value is not None]
    return Estimate(sum(known) if known else None, sum(e.known for e in estimates),
                    sum(e.unknown for e in estimates))


# --------------------------------------------------------------------------- history


def results_history(document: Mapping[str, Any], records: Sequence[Any], specs: Mapping[str, Any]
                    ) -> dict[tuple[str, str], list[Measured]]:
    """(task, model) → measured runs of a results file, for the models configured the same way
    now (a name whose spec changed has no history)."""
    saved = {entry.get("name"): entry.get("spec") for entry in (document.get("meta") or {}).get("models") or ()
             if isinstance(entry, Mapping)}
    found: dict[tuple[str, str], list[Measured]] = {}
    for record in records:
        spec = specs.get(record.model)
        if spec is None or saved.get(record.model, spec.spec) != spec.spec or not record.calls:
            continue
        if record.outcome == "error" and record.latency_ms is None:
            continue
        found.setdefault((record.task, record.model), []).append(Measured(
            record.calls, record.input_tokens, record.output_tokens, record.latency_ms, record.cost_usd))
    return found


def store_history(answers: Iterable[Any], specs: Mapping[str, Any], prices: Mapping[str, Any],
                  environ: Mapping[str, str] | None = None
                  ) -> tuple[dict[tuple[str, str], list[Measured]], set[tuple[str, str, int]]]:
    """From the response store's answers per task: (task, model) → measured runs (the calls of
    one run number summed), and the (task, model, run) the store can answer."""
    from ..cost import run_cost
    from ..models.cache import key_base_url, spec_for_key

    identity = {}
    for name, spec in specs.items():
        keyed = spec_for_key(spec, environ)
        identity[(keyed.provider, keyed.model, key_base_url(keyed.base_url))] = (name, dict(keyed.params))
    calls: dict[tuple[str, str, int], list[Any]] = {}
    for answer in answers:
        request = answer.request
        match = identity.get((request.get("provider"), request.get("model"), request.get("base_url")))
        if match is None or request.get("spec_params") != match[1]:
            continue
        calls.setdefault((answer.task, match[0], int(request.get("run", 0))), []).append(answer)
    history: dict[tuple[str, str], list[Measured]] = {}
    for (task, name, _run), answers_of_run in sorted(calls.items()):
        input_tokens = _sum_known(a.input_tokens for a in answers_of_run)
        output_tokens = _sum_known(a.output_tokens for a in answers_of_run)
        latency = _sum_known(a.latency_ms for a in answers_of_run)
        spec = specs[name]
        if spec.provider == "echo":
            cost = 0.0
        else:
            try:
                cost = run_cost(prices.get(name), input_tokens, output_tokens)
            except ValueError:
                cost = None
        history.setdefault((task, name), []).append(
            Measured(len(answers_of_run), input_tokens, output_tokens, latency, cost))
    return history, set(calls)


def _sum_known(values: Iterable[float | None]) -> float | None:
    total = 0.0
    for value in values:
        if value is None:
            return None
        total += value
    return total


def _mean(values: Iterable[float | None]) -> float | None:
    known = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(known) / len(known) if known else None


# --------------------------------------------------------------------------- planning


def build_plan(runs: Sequence[PlannedRun], *, specs: Mapping[str, Any], history: Mapping[tuple[str, str], list[Measured]],
               stored: set[tuple[str, str, int]] = frozenset(), mode: str = "live",
               sources: Mapping[str, str] | None = None, max_cost_usd: float | None = None,
               notes: Sequence[str] = ()) -> Plan:
    """The plan of ``runs``. ``mode`` is ``live``, ``cache`` (stored runs cost nothing) or
    ``replay`` (no run calls the model); ``sources`` names the history of each model."""
    if mode not in ("live", "cache", "replay"):
        raise ValueError(f"mode {mode!r} is not one of: live, cache, replay")
    entries = []
    for name in specs:
        mine = [run for run in runs if run.model == name]
        by_difficulty = {level: sum(run.difficulty == level for run in mine) for level in DIFFICULTIES}
        sums = {key: [0.0, 0, 0] for key in ("calls", "input_tokens", "output_tokens", "cost_usd", "latency_ms")}
        stored_runs = 0
        for run in mine:
            served = mode == "replay" or (mode == "cache" and (run.task, name, run.run) in stored)
            stored_runs += (run.task, name, run.run) in stored
            past = history.get((run.task, name), [])
            for key, total in sums.items():
                if served and key in ("calls", "cost_usd"):
                    total[1] += 1  # answered from the store: no call, no cost
                    continue
                value = _mean(getattr(m, key) for m in past)
                if value is None:
                    total[2] += 1
                else:
                    total[0] += value
                    total[1] += 1
        estimate = {key: Estimate(total[0] if total[1] else None, int(total[1]), int(total[2]))
                    for key, total in sums.items()}
        entries.append(ModelPlan(
            model=name, tasks=len({run.task for run in mine}), runs_by_difficulty=by_difficulty, runs=len(mine),
            stored_runs=stored_runs, calls=estimate["calls"], input_tokens=estimate["input_tokens"],
            output_tokens=estimate["output_tokens"], cost_usd=estimate["cost_usd"],
            model_time_ms=estimate["latency_ms"], history=(sources or {}).get(name, "no history"),
        ))
    cost = _total([entry.cost_usd for entry in entries])
    fits = None
    if max_cost_usd is not None:
        known_cost = cost.value or 0.0
        if known_cost > max_cost_usd:
            fits = False
        elif not cost.unknown:
            fits = True
    return Plan(tuple(entries), mode, max_cost_usd, fits, tuple(notes))


def plan_session(runs: Sequence[PlannedRun], runtime: Any) -> Plan:
    """The plan of a session from its runtime: its models, prices, baseline, earlier results
    file (``--modelbench-json``, when it exists) and response store."""
    settings = runtime.settings
    specs = {spec.name: spec for spec in settings.models}
    history: dict[tuple[str, str], list[Measured]] = {}
    sources: dict[str, list[str]] = {name: [] for name in specs}
    notes: list[str] = []

    def add(found: Mapping[tuple[str, str], list[Measured]], label: str) -> None:
        for (task, model), measured in found.items():
            if (task, model) in history:
                continue  # the first source with history of a task wins
            history[(task, model)] = list(measured)
            if label not in sources[model]:
                sources[model].append(label)

    files = []
    if runtime.baseline is not None:
        files.append((Path(runtime.baseline.path), runtime.baseline.document, runtime.baseline.records))
    json_path = settings.json_path
    if json_path is not None and json_path.is_file() and (settings.baseline_path is None
                                                          or json_path.resolve() != settings.baseline_path.resolve()):
        from ..core.results import read_results

        try:
            document, records = read_results(json_path)
        except ConfigError as exc:
            notes.append(f"earlier results not used: {exc}")
        else:
            files.append((json_path, document, records))
    for path, document, records in files:
        add(results_history(document, records, specs), f"results {path.name}")
    stored: set[tuple[str, str, int]] = set()
    store_path = settings.replay_path or settings.cache_path
    mode = "replay" if settings.replay_path else "cache" if settings.cache_path else "live"
    if store_path is not None and Path(store_path).is_file():
        from ..models.cache import ResponseStore

        try:
            with ResponseStore(store_path, readonly=True) as store:
                answers = store.task_history({run.task for run in runs})
        except ConfigError as exc:
            notes.append(f"response store not used: {exc}")
        else:
            found, stored = store_history(answers, specs, runtime.prices)
            add(found, f"response store {Path(store_path).name}")
    if mode == "replay":
        missing = sum((run.task, run.model, run.run) not in stored for run in runs)
        notes.append(f"replay: no run calls a model; {missing} runs have no recorded answer for their task and "
                     "would error" if missing else "replay: no run calls a model")
    return build_plan(runs, specs=specs, history=history, stored=stored, mode=mode,
                      sources={name: ", ".join(found) or "no history" for name, found in sources.items()},
                      max_cost_usd=settings.max_cost_usd, notes=notes)
