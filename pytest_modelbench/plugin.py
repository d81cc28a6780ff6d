"""pytest hooks of pytest-modelbench.

Thin glue: options, marker validation and parametrization, the ``model`` and
``record_quality`` fixtures, turning each benchmark run's test report into a run record, and
(on the controller or in a serial run only) the summary and the results file. The domain work
lives in modules that do not import pytest.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from ._config import TaskSpec, task_spec_from_marker
from ._exceptions import ConfigError, ModelError
from ._records import CallTotals, RunRecord, check_quality, sort_key
from ._settings import Settings, read_tool_table, resolve

MARKER = "modelbench"
NO_MODELS_REASON = "no models configured: pass --modelbench-models=SPEC[,SPEC...] to run benchmark tasks"

settings_key = pytest.StashKey["Settings"]()
session_key = pytest.StashKey["BenchSession"]()
run_key = pytest.StashKey["RunState"]()
marked_key = pytest.StashKey[set]()


# --------------------------------------------------------------------------- options


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; it must be >= 1")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; it must be >= 0")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; it must be seconds > 0")
    return value


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def _provider_registry(config: pytest.Config) -> dict[str, Any]:
    """Built-in providers plus those registered through ``pytest_modelbench_providers``."""
    from .providers import BUILTIN_PROVIDERS

    registry = dict(BUILTIN_PROVIDERS)
    owners = {prefix: "pytest-modelbench" for prefix in registry}
    hook = config.pluginmanager.hook.pytest_modelbench_providers
    for impl in hook.get_hookimpls():
        owner = impl.plugin_name
        found = impl.function(*(config for _ in impl.argnames))
        if found is None:
            continue
        if not isinstance(found, dict):
            raise ConfigError(
                f"pytest_modelbench_providers in {owner} returned {found!r}; "
                "return a dict of prefix -> factory"
            )
        for prefix, factory in found.items():
            if not isinstance(prefix, str) or not prefix.isidentifier():
                raise ConfigError(f"provider prefix {prefix!r} from {owner} is not an identifier")
            if not callable(factory):
                raise ConfigError(f"provider {prefix!r} from {owner} is {factory!r}, not a callable factory")
            if prefix in registry:
                raise ConfigError(
                    f"provider prefix {prefix!r} from {owner} is already registered by {owners[prefix]}"
                )
            registry[prefix] = factory
            owners[prefix] = owner
    return registry


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("modelbench", "benchmark AI models (pytest-modelbench)")
    group.addoption(
        "--modelbench-models", dest="modelbench_models", metavar="SPEC[,SPEC...]", default=None,
        help="Models to run benchmark tasks against: echo, python:module:function, "
        "openai:MODEL[@URL], a name from [tool.modelbench.models], or ALIAS=SPEC",
    )
    group.addoption(
        "--modelbench-runs", dest="modelbench_runs", metavar="N", type=_positive_int, default=None,
        help="Runs per task and model, overriding every task's difficulty and marker",
    )
    group.addoption(
        "--modelbench-json", dest="modelbench_json", metavar="PATH", default=None,
        help="Write the results (summary and every run) to this JSON file",
    )
    group.addoption(
        "--modelbench-strict", dest="modelbench_strict", action="store_true", default=None,
        help="Make a model's miss or failed call an ordinary test failure",
    )
    group.addoption(
        "--modelbench-timeout", dest="modelbench_timeout", metavar="SECONDS", type=_seconds,
        default=None, help="Timeout of one model call unless the marker sets one (default 60)",
    )
    group.addoption(
        "--modelbench-retries", dest="modelbench_retries", metavar="N", type=_non_negative_int,
        default=None, help="Retries of a failed model call (default 2)",
    )
    parser.addini("modelbench_models", "Models to benchmark (as --modelbench-models)", default="")
    parser.addini("modelbench_runs", "Runs per task and model (as --modelbench-runs)", default="")
    parser.addini("modelbench_json", "Results file (as --modelbench-json)", default="")
    parser.addini("modelbench_strict", "Misses fail the session (as --modelbench-strict)", type="bool", default=False)
    parser.addini("modelbench_timeout", "Timeout of one model call in seconds", default="")
    parser.addini("modelbench_retries", "Retries of a failed model call", default="")


def _option_values(config: pytest.Config) -> dict[str, Any]:
    values = {}
    for name in ("models", "runs", "json", "strict", "timeout", "retries"):
        cli = config.getoption(f"modelbench_{name}")
        values[name] = cli if cli is not None else config.getini(f"modelbench_{name}")
    return values


def _pyproject(config: pytest.Config) -> Path | None:
    if config.inipath is not None and config.inipath.name == "pyproject.toml":
        return config.inipath
    candidate = config.rootpath / "pyproject.toml"
    return candidate if candidate.is_file() else None


# --------------------------------------------------------------------------- configure


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "modelbench(category, difficulty='medium', weight=1.0, runs=None, timeout=None, group=None): "
        "a benchmark task, run against every configured model (pytest-modelbench)",
    )
    try:
        registry = _provider_registry(config)
        settings = resolve(
            values=_option_values(config), providers=registry,
            tool=read_tool_table(_pyproject(config)), rootdir=config.invocation_params.dir,
        )
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[settings_key] = settings
    config.stash[marked_key] = set()
    if settings.models:
        session = BenchSession(config, settings, registry)
        config.stash[session_key] = session
        config.pluginmanager.register(session, "modelbench-session")


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(session_key, None)
    if session is not None:
        session.close()
        config.pluginmanager.unregister(session)
        del config.stash[session_key]


# --------------------------------------------------------------------------- collection


def _merged_marker_kwargs(node: pytest.Function | Any) -> dict[str, Any] | None:
    """Marker kwargs from module, class and function, the closest winning."""
    markers = list(node.iter_markers(MARKER))
    if not markers:
        return None
    kwargs: dict[str, Any] = {}
    for marker in reversed(markers):
        if marker.args:
            raise ConfigError(
                f"modelbench marker takes keyword arguments only, got positional {marker.args!r}"
            )
        kwargs.update(marker.kwargs)
    return kwargs


def _task_spec(definition: Any, settings: Settings) -> TaskSpec | None:
    try:
        kwargs = _merged_marker_kwargs(definition)
        if kwargs is None:
            return None
        return task_spec_from_marker((), kwargs, settings.categories)
    except ConfigError as exc:
        pytest.fail(f"{definition.nodeid}: {exc}", pytrace=False)


@pytest.hookimpl(trylast=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker(MARKER) is None:
        return
    settings = metafunc.config.stash[settings_key]
    spec = _task_spec(metafunc.definition, settings)
    metafunc.config.stash[marked_key].add(metafunc.function)
    if "model" not in metafunc.fixturenames:
        pytest.fail(
            f"{metafunc.definition.nodeid}: a test marked modelbench must use the 'model' fixture",
            pytrace=False,
        )
    if not settings.models:
        return
    runs = settings.runs or spec.default_runs
    cases = [(model.name, run) for model in settings.models for run in range(1, runs + 1)]
    metafunc.parametrize(
        "model", cases, indirect=True, ids=[f"{name}-run{run}" for name, run in cases]
    )


def _task_id(nodeid: str, own_id: str) -> str:
    """The node id without the model/run part of its parametrization."""
    base, bracket, params = nodeid.partition("[")
    if not bracket:
        return nodeid
    params = params[:-1]
    if params == own_id:
        return base
    if params.endswith("-" + own_id):
        return f"{base}[{params[: -len(own_id) - 1]}]"
    return f"{base}[{params.replace('-' + own_id, '', 1)}]"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    marked = config.stash[marked_key]
    if not marked:
        return
    settings = config.stash[settings_key]
    for item in items:
        if not isinstance(item, pytest.Function) or item.function not in marked:
            continue
        if not settings.models:
            item.add_marker(pytest.mark.skip(reason=NO_MODELS_REASON))
            continue
        callspec = getattr(item, "callspec", None)
        if callspec is None or "model" not in callspec.params:
            continue
        name, run = callspec.params["model"]
        spec = _task_spec(item, settings)
        item.stash[run_key] = RunState(
            task=_task_id(item.nodeid, f"{name}-run{run}"), spec=spec, model=name, run=run,
        )


# --------------------------------------------------------------------------- fixtures


@dataclasses.dataclass(slots=True)
class RunState:
    """What one benchmark run accumulates while it executes."""

    task: str
    spec: TaskSpec
    model: str
    run: int
    totals: CallTotals = dataclasses.field(default_factory=CallTotals)
    quality: float | None = None
    recorded: bool = False

    def record(self, outcome: str, *, quality: float | None = None, error: str | None = None,
               detail: str | None = None) -> RunRecord:
        fields = self.totals.as_fields()
        return RunRecord(
            task=self.task, model=self.model, run=self.run, category=self.spec.category,
            difficulty=self.spec.difficulty, weight=self.spec.weight, outcome=outcome,
            quality=quality, error=error, detail=detail, group=self.spec.group, **fields,
        )


@pytest.fixture
def model(request: pytest.FixtureRequest) -> Any:
    """The model under test in this benchmark run (see ``Model.complete``)."""
    state = request.node.stash.get(run_key, None)
    session = request.config.stash.get(session_key, None)
    if state is None or session is None:
        pytest.fail(
            f"{request.node.nodeid}: the 'model' fixture is only available in tests marked "
            "@pytest.mark.modelbench while --modelbench-models is set", pytrace=False,
        )
    return session.model_for(state)


@pytest.fixture
def record_quality(request: pytest.FixtureRequest) -> Any:
    """Record this run's graded quality, a number in [0, 1]."""
    state = request.node.stash.get(run_key, None)

    def record(value: float) -> None:
        if state is None:
            raise RuntimeError("record_quality() is only available in benchmark runs")
        state.quality = check_quality(value)

    return record


def _short_reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    first = text.splitlines()[0]
    return first if len(first) <= 200 else first[:197] + "..."


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    record = getattr(report, "modelbench", None)
    if record is None or report.when != "call" or not report.passed:
        return None
    if record["outcome"] == "failed":
        return "missed", "m", ("MISSED", {"yellow": True})
    if record["outcome"] == "error":
        return "errored", "e", ("ERRORED", {"yellow": True})
    return None


# --------------------------------------------------------------------------- session


class BenchSession:
    """State of a session with models configured: providers, records, summary."""

    def __init__(self, config: pytest.Config, settings: Settings, registry: dict[str, Any]) -> None:
        from .providers import ProviderOptions, build_provider

        self.config = config
        self.settings = settings
        self.records: list[RunRecord] = []
        self.summary: dict[str, Any] | None = None
        self.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        options = ProviderOptions(timeout=settings.timeout, retries=settings.retries)
        self._specs = {spec.name: spec for spec in settings.models}
        self._providers: dict[str, Any] = {}
        try:
            for spec in settings.models:
                self._providers[spec.name] = build_provider(spec, options, registry)
        except ConfigError as exc:
            self.close()
            raise pytest.UsageError(str(exc)) from None

    def close(self) -> None:
        for provider in self._providers.values():
            provider.close()
        self._providers.clear()

    def model_for(self, state: RunState) -> Any:
        from ._model import Model

        spec = self._specs[state.model]
        provider = self._providers[state.model]
        timeout = state.spec.timeout or self.settings.timeout
        return Model(spec, lambda: provider, run=state.run, timeout=timeout, totals=state.totals)

    # -- per run -------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        state = item.stash.get(run_key, None)
        if state is None or state.recorded or call.when == "teardown":
            return report
        if call.when == "setup":
            if report.skipped:
                record = state.record("skipped", detail=_skip_reason(report))
            elif report.failed:
                record = state.record("error", error=f"setup failed: {_short_reason(call.excinfo.value)}")
            else:
                return report
        else:
            record = self._classify(state, report, call)
        state.recorded = True
        report.modelbench = record.to_dict()
        return report

    def _classify(self, state: RunState, report: pytest.TestReport, call: pytest.CallInfo[None]) -> RunRecord:
        if report.passed:
            return state.record("passed", quality=1.0 if state.quality is None else state.quality)
        if report.skipped:
            return state.record("skipped", detail=_skip_reason(report))
        exc = call.excinfo.value if call.excinfo is not None else None
        if isinstance(exc, (AssertionError, pytest.fail.Exception)):
            record = state.record(
                "failed", quality=0.0 if state.quality is None else state.quality,
                detail=_short_reason(exc),
            )
            measurement = True
        elif isinstance(exc, ModelError):
            record = state.record("error", error=f"{type(exc).__name__}: {_short_reason(exc)}")
            measurement = True
        else:
            # Anything else is a bug in the test: recorded as an error and reported as usual.
            record = state.record("error", error=f"{type(exc).__name__}: {_short_reason(exc)}")
            measurement = False
        if measurement and not self.settings.strict:
            report.outcome = "passed"
            report.longrepr = None
        return record

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = getattr(report, "modelbench", None)
        if record is not None:
            self.records.append(RunRecord.from_dict(record))

    # -- end of session ------------------------------------------------------------------

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            return
        from . import __version__
        from ._results import build_document, build_meta, write_json_atomic
        from .scoring import summarise

        self.records.sort(key=sort_key)
        if not self.records:
            return
        names = [spec.name for spec in self.settings.models]
        self.summary = summarise(self.records, self.settings.categories, names)
        if self.settings.json_path is not None:
            meta = build_meta(
                plugin_version=__version__, pytest_version=pytest.__version__,
                started=self.started,
                finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                rootdir=self.config.rootpath,
                models=[spec.describe() for spec in self.settings.models],
                settings=self.settings.describe(),
            )
            write_json_atomic(self.settings.json_path, build_document(meta, self.summary, self.records))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.summary is None or hasattr(self.config, "workerinput"):
            return
        from ._terminal import category_table, model_table

        models = self.summary
        order = sorted(models, key=lambda n: -(models[n]["score"] if models[n]["score"] is not None else -1.0))
        write = terminalreporter.write_line
        terminalreporter.write_sep("=", "modelbench summary")
        for line in model_table(models, order).splitlines():
            write(line)
        if self.config.get_verbosity() >= 0:
            write("")
            for line in category_table(models, order, self.settings.categories).splitlines():
                write(line)
        misses = [r for r in self.records if r.outcome in ("failed", "error")]
        if misses and self.config.get_verbosity() > 0:
            terminalreporter.write_sep("-", "modelbench misses and errors")
            for record in misses:
                reason = record.error if record.outcome == "error" else record.detail
                write(f"{record.outcome.upper():6} {record.model} {record.task} run {record.run}: {reason}")
        elif misses:
            write(f"{len(misses)} runs missed or errored; -v lists them")
        if self.settings.json_path is not None:
            write(f"results written to {self.settings.json_path}")


def _skip_reason(report: pytest.TestReport) -> str | None:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return None
