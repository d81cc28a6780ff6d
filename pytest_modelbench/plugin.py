"""pytest hooks of pytest-modelbench: the pytest face of the package.

Thin glue: options (the table in ``session/options.py``), marker validation and
parametrization, the ``model``, ``judge`` and ``record_quality`` fixtures, and turning each
benchmark run's test report into a run record. What a session holds open lives in
``session/runtime.py``; the end of the session (analysis, baseline, gates, files, terminal
lines) in ``session/pipeline.py``, run on the controller or in a serial run only. The domain
work lives in modules that do not import pytest.
"""

from __future__ import annotations

import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from ._exceptions import ConfigError, ModelError
from .core.config import TaskSpec, task_spec_from_marker
from .core.records import RunRecord, check_quality
from .core.run_notes import collecting
from .session.options import OPTIONS
from .session.runs import RunState, failed_outside_the_test, short_reason, skip_reason, task_id
from .session.settings import Settings, apply_sandbox, read_tool_table, resolve

MARKER = "modelbench"
NO_MODELS_REASON = "no models configured: pass --modelbench-models=SPEC[,SPEC...] to run benchmark tasks"

settings_key = pytest.StashKey["Settings"]()
session_key = pytest.StashKey["BenchSession"]()
run_key = pytest.StashKey["RunState"]()
marked_key = pytest.StashKey[dict]()  # (class, function) of a marked test -> its TaskSpec
sandbox_key = pytest.StashKey[Any]()  # restores the sandbox mode --modelbench-sandbox replaced


# --------------------------------------------------------------------------- options


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def _provider_registry(config: pytest.Config) -> dict[str, Any]:
    """Built-in providers plus those registered through ``pytest_modelbench_providers``."""
    from .models.providers import provider_registry

    hook = config.pluginmanager.hook.pytest_modelbench_providers
    return provider_registry((impl.plugin_name, impl.function(*(config for _ in impl.argnames)))
                             for impl in hook.get_hookimpls())


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("modelbench", "benchmark AI models (pytest-modelbench)")
    for option in OPTIONS:
        flag, dest = "--modelbench-" + option.name.replace("_", "-"), "modelbench_" + option.name
        extra: dict[str, Any] = {}
        if option.kind == "flag":
            extra["action"] = "store_true"
        else:
            extra["metavar"] = option.metavar
            if option.type is not None:
                extra["type"] = option.type
            if option.kind == "append":
                extra["action"] = "append"
            elif option.kind == "optional":
                extra.update(nargs="?", const=option.const)
        group.addoption(flag, dest=dest, default=None, help=option.help, **extra)
        if option.kind == "flag":
            parser.addini(dest, f"{option.help} (as {flag})", type="bool", default=False)
        elif option.kind == "append":
            parser.addini(dest, f"{option.help} (as {flag})", type="args", default=[])
        else:
            parser.addini(dest, f"{option.help} (as {flag})", default="")


def _option_values(config: pytest.Config) -> dict[str, Any]:
    """Each option's command-line value, else its ini value."""
    values = {}
    for option in OPTIONS:
        cli = config.getoption(f"modelbench_{option.name}")
        values[option.name] = cli if cli is not None else config.getini(f"modelbench_{option.name}")
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
        "modelbench(category, difficulty='medium', weight=1.0, runs=None, timeout=None, group=None, concurrent=True): "
        "a benchmark task, run against every configured model (pytest-modelbench)",
    )
    try:
        registry = _provider_registry(config)
        settings = resolve(
            values=_option_values(config), providers=registry,
            tool=read_tool_table(_pyproject(config)), rootdir=config.invocation_params.dir,
        )
        config.stash[sandbox_key] = apply_sandbox(settings.sandbox)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[settings_key] = settings
    config.stash[marked_key] = {}
    if settings.models:
        if settings.plan:  # like --collect-only: no worker is started
            config.option.dist = "no"
        session = BenchSession(config, settings, registry)
        config.stash[session_key] = session
        config.pluginmanager.register(session, "modelbench-session")


def pytest_unconfigure(config: pytest.Config) -> None:
    restore_sandbox = config.stash.get(sandbox_key, None)
    if restore_sandbox is not None:
        restore_sandbox()
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
    metafunc.config.stash[marked_key][(metafunc.cls, metafunc.function)] = spec
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


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """Dataset tasks (``tasks_from_jsonl`` / ``tasks_from_csv``) are shown by their ids."""
    task_type = sys.modules.get("pytest_modelbench.design.datasets")
    if task_type is not None and isinstance(val, task_type.Task):
        return val.id
    return None


#: pytest-repeat's parameter: its copies of a test are more runs of the same task.
REPEAT_PARAM = "__pytest_repeat_step_number"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    marked = config.stash[marked_key]
    if not marked:
        return
    settings = config.stash[settings_key]
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        spec = marked.get((item.cls, item.function))
        if spec is None:
            continue
        if not settings.models:
            item.add_marker(pytest.mark.skip(reason=NO_MODELS_REASON))
            continue
        callspec = getattr(item, "callspec", None)
        if callspec is None or "model" not in callspec.params:
            continue
        name, run = callspec.params["model"]
        own_ids = [f"{name}-run{run}"]
        step = callspec.params.get(REPEAT_PARAM)
        if step is not None:
            # pytest-repeat's copies (--count N) are more runs of one task, not new tasks:
            # copy s (0-based) holds runs s·R + 1 … s·R + R.
            count = _repeat_count(item)
            own_ids.append(f"{step + 1}-{count}")
            run = step * (settings.runs or spec.default_runs) + run
        idlist = getattr(callspec, "_idlist", None)
        item.stash[run_key] = RunState(
            task=task_id(item.nodeid, own_ids, list(idlist) if isinstance(idlist, (list, tuple)) else None),
            spec=spec, model=name, run=run,
        )


def _repeat_count(item: pytest.Function) -> int:
    marker = item.get_closest_marker("repeat")
    if marker is not None and marker.args:
        return int(marker.args[0])
    return int(getattr(item.config.option, "count", 1) or 1)


# --------------------------------------------------------------------------- fixtures


def _benchmark_run(request: pytest.FixtureRequest, fixture: str, available: str) -> tuple[RunState, BenchSession]:
    """The run and the session of a fixture that only benchmark runs have; fails the test elsewhere."""
    state = request.node.stash.get(run_key, None)
    session = request.config.stash.get(session_key, None)
    if state is None or session is None:
        pytest.fail(f"{request.node.nodeid}: the {fixture!r} fixture is only available in {available}", pytrace=False)
    return state, session


@pytest.fixture
def model(request: pytest.FixtureRequest) -> Any:
    """The model under test in this benchmark run (see ``Model.complete``, ``Model.acomplete``
    and the metered clients ``Model.openai_client`` ...), closed at the end of the run."""
    state, session = _benchmark_run(
        request, "model", "tests marked @pytest.mark.modelbench while --modelbench-models is set")
    bench_model = session.model_for(state)
    yield bench_model
    bench_model.close()


@pytest.fixture
def judge(request: pytest.FixtureRequest) -> Any:
    """An LLM judge (``--modelbench-judge``): ``judge.grade(question=, answer=, rubric=)``.

    Its calls are recorded and costed apart from the judged model's. Without a judge
    configured, tests using it are skipped.
    """
    state, session = _benchmark_run(request, "judge", "benchmark runs")
    if session.settings.judge is None:
        pytest.skip("no judge configured: pass --modelbench-judge=SPEC to grade with an LLM judge")
    return session.judge_for(state)


@pytest.fixture
def record_quality(request: pytest.FixtureRequest) -> Any:
    """Record this run's graded quality, a number in [0, 1]."""
    state = request.node.stash.get(run_key, None)

    def record(value: float) -> None:
        if state is None:
            raise RuntimeError("record_quality() is only available in benchmark runs")
        state.quality = check_quality(value)

    return record


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
    """The plugin's state in a session with models configured: the runtime (providers, prices,
    store, ledger, baseline), the records of this process, and the end-of-session result."""

    def __init__(self, config: pytest.Config, settings: Settings, registry: dict[str, Any]) -> None:
        from .session.runtime import SessionRuntime

        self.config = config
        self.settings = settings
        self.records: list[RunRecord] = []
        self.result: Any = None
        self.plan: Any = None
        self.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.is_worker = hasattr(config, "workerinput")
        worker = config.workerinput if self.is_worker else {}
        try:
            self.runtime = SessionRuntime(settings, registry, is_worker=self.is_worker,
                                          worker_files=worker.get("modelbench_files", {}))
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
        from .concurrency import lookahead_for

        self.concurrent = lookahead_for(config, self.runtime, run_key)  # None: no calls fetched ahead
        for found in [] if self.is_worker else self.runtime.price_warnings(_pyproject(config)):
            _config_warning(config, pytest.PytestWarning(found.message), found.filename, found.lineno)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """pytest-xdist: hand each worker the files the processes share (spend, rate limits)."""
        node.workerinput["modelbench_files"] = self.runtime.shared_files()

    def close(self) -> None:
        self.runtime.close()

    def model_for(self, state: RunState) -> Any:
        from .cost.ledger import BudgetExceeded

        try:
            self.runtime.check_budget()
        except BudgetExceeded as exc:
            pytest.skip(str(exc))
        state.cpu_start = time.process_time()
        state.load = []
        return self.runtime.model(state.model, run=state.run, task=state.task, timeout=state.spec.timeout,
                                  totals=state.totals, loads=state.load, prefetch=state.prefetch)

    def judge_for(self, state: RunState) -> Any:
        return self.runtime.judge(run=state.run, task=state.task, totals=state.judge_totals,
                                  prefetch=state.judge_prefetch)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if self.settings.shard is not None:  # --modelbench-shard=K/N: whole tasks, by a hash of their id
            from .session.shard import split_shard

            items[:], dropped = split_shard(items, _task_of, self.settings.shard)
            config.hook.pytest_deselected(items=dropped)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.settings.plan and not self.is_worker:
            from .session.plan import PlannedRun, plan_session

            runs = [PlannedRun(s.task, s.model, s.run, s.spec.difficulty)
                    for s in (item.stash.get(run_key, None) for item in session.items) if s is not None]
            self.plan = plan_session(runs, self.runtime)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        return True if self.plan is not None and not session.testsfailed else None  # a plan runs nothing

    # -- per run -------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        """Collect what the run's scorers report (the isolation of the code they ran); a test failing
        after a metered client's call failed fails because of that call: re-raise its error instead."""
        state = item.stash.get(run_key, None)
        if state is None:
            return (yield)
        with collecting() as notes:
            try:
                return (yield)
            except (Exception, pytest.fail.Exception) as exc:
                failure = state.totals.failure
                if failure is None or failure is exc or isinstance(exc, ModelError):
                    raise
                raise failure from exc
            finally:
                state.isolation = notes.isolation

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        state = item.stash.get(run_key, None)
        if state is None or state.recorded or call.when == "teardown" or state.probing:
            return report
        if call.when == "setup":
            if report.skipped:
                record = state.record("skipped", detail=skip_reason(report))
            elif report.failed:
                record = state.record("error", error=f"setup failed: {short_reason(call.excinfo.value)}")
            else:
                return report
        else:
            record = self._classify(state, report, call)
        state.recorded = True
        report.modelbench = record.to_dict()
        if getattr(self.config.option, "xmlpath", None):
            from .reports import junit_properties

            # junitxml writes the properties of the teardown report, made from the item's
            item.user_properties.extend(junit_properties(report.modelbench))
        return report

    def _classify(self, state: RunState, report: pytest.TestReport, call: pytest.CallInfo[None]) -> RunRecord:
        """What the run measured. Only a failure of the test's own check of a reply is a miss;
        a failed model call is an error of the model; anything else is the test's error, and
        fails as it would without the plugin."""
        if report.passed:
            return state.record("passed", quality=1.0 if state.quality is None else state.quality)
        if report.skipped:
            return state.record("skipped", detail=skip_reason(report))
        exc = call.excinfo.value if call.excinfo is not None else None
        from .cost.ledger import BudgetExceeded

        if isinstance(exc, BudgetExceeded):
            reason = short_reason(exc)
            report.outcome = "skipped"
            report.longrepr = (str(report.location[0]), report.location[1] or 0, f"Skipped: {reason}")
            return state.record("skipped", detail=reason)
        interrupted = state.totals.interrupted_by
        if isinstance(exc, ModelError):
            record = state.record("error", error=f"{type(exc).__name__}: {short_reason(exc)}")
            measurement = True
        elif interrupted is not None and not isinstance(exc, AssertionError):
            # A watchdog (pytest-timeout) stopped the test while a model call was in flight:
            # the call failed, as with --modelbench-timeout.
            record = state.record("error", error=f"ModelTimeoutError: the model call was stopped by {interrupted}")
            measurement = True
        elif isinstance(exc, AssertionError) or (
                isinstance(exc, pytest.fail.Exception) and not failed_outside_the_test(call.excinfo)):
            record = state.record(
                "failed", quality=0.0 if state.quality is None else state.quality,
                detail=short_reason(exc),
            )
            measurement = True
        else:
            # Not a check of a reply: a bug in the test, or a failure raised by pytest or another
            # plugin (an async test nothing ran, a watchdog outside the model call). Recorded as
            # an error of the test; reported as it would be without the plugin.
            why = " (raised by pytest or a plugin, not by the test's check)" if isinstance(
                exc, pytest.fail.Exception) else ""
            record = state.record("error", error=f"{type(exc).__name__}{why}: {short_reason(exc)}")
            measurement = False
        if measurement and not self.settings.strict:
            report.outcome = "passed"
            report.longrepr = None
        return record

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        state = item.stash.get(run_key, None)
        if state is not None:
            state.reset()  # a rerun (pytest-rerunfailures) starts afresh

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = getattr(report, "modelbench", None)
        if record is not None and report.outcome != "rerun":  # only the last attempt counts
            self.records.append(RunRecord.from_dict(record))

    # -- end of session ------------------------------------------------------------------

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.plan is not None and self.plan.fits is False and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # the plan does not fit --modelbench-max-cost
        if self.settings.shard is not None and session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
            session.exitstatus = pytest.ExitCode.OK  # a shard that got no task (also seen so by an xdist controller)
        if self.is_worker:
            return
        from .session.pipeline import finish, write_outputs

        runtime = self.runtime
        self.result = finish(self.records, self.settings, prices=runtime.prices,
                             self_hosting=runtime.self_hosting, baseline=runtime.baseline,
                             session_spend=runtime.session_spend(), partial=_stopped_early(session, exitstatus))
        if self.result is None:
            return
        write_outputs(self.result, self.settings, self._meta)
        if self.result.exit_code is not None and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = self.result.exit_code

    def _meta(self) -> dict[str, Any]:
        from . import __version__
        from .core.results import build_meta

        return build_meta(
            plugin_version=__version__, pytest_version=pytest.__version__, started=self.started,
            finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            rootdir=self.config.rootpath, models=[spec.describe() for spec in self.settings.models],
            settings=self.settings.describe(),
        )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.plan is not None:
            terminalreporter.write_sep("=", "modelbench plan")
            for text in self.plan.lines(width=terminalreporter._tw.fullwidth):
                terminalreporter.write_line(text)
        if self.result is None or self.is_worker:
            return
        from .session.pipeline import terminal_lines

        width = terminalreporter._tw.fullwidth  # the terminal's width (COLUMNS when set)
        for line in terminal_lines(self.result, self.settings, verbosity=self.config.get_verbosity(), width=width):
            markup = {line.color: True} if line.color else {}
            if line.sep is not None:
                terminalreporter.write_sep(line.sep, line.text, **markup)
            else:
                terminalreporter.write_line(line.text, **markup)


def _task_of(item: pytest.Item) -> str:
    state = item.stash.get(run_key, None)
    return item.nodeid if state is None else state.task


def _config_warning(config: pytest.Config, warning: Warning, filename: str, lineno: int) -> None:
    """``config.issue_config_time_warning`` located where the user's configuration needs an edit."""
    from _pytest.config import apply_warning_filters
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always", type(warning))
        apply_warning_filters(config.getini("filterwarnings"), config.known_args_namespace.pythonwarnings or [])
        warnings.warn_explicit(warning, type(warning), filename, lineno)
    for record in records[:1]:  # the warnings summary shows the record's file and line
        config.hook.pytest_warning_recorded.call_historic(kwargs=dict(warning_message=record, when="config", nodeid="", location=None))


def _stopped_early(session: pytest.Session, exitstatus: int) -> str | None:
    """Why the session did not run every item (its results are partial), or None."""
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return "the session was interrupted (KeyboardInterrupt)"
    for reason in (session.shouldstop, session.shouldfail):
        if reason:
            return f"the session stopped early: {reason}"
    return None
