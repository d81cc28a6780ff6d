"""pytest hooks of pytest-modelbench.

Thin glue: options, marker validation and parametrization, the ``model`` and
``record_quality`` fixtures, turning each benchmark run's test report into a run record, and
(on the controller or in a serial run only) the summary and the results file. The domain work
lives in modules that do not import pytest.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
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
marked_key = pytest.StashKey[dict]()  # (class, function) of a marked test -> its TaskSpec


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


@dataclasses.dataclass(frozen=True, slots=True)
class _Option:
    """One ``--modelbench-NAME`` option (dest ``modelbench_NAME``) and its ini ``modelbench_NAME``.

    ``kind``: ``value`` (takes a value), ``flag`` (store_true, ini bool), ``append`` (repeatable,
    ini list) or ``optional`` (a value that may be left out: ``const`` is used then).
    """

    name: str
    help: str
    metavar: str | None = None
    kind: str = "value"
    type: Any = None
    const: str | None = None


OPTIONS = (
    _Option("models", "Models to run benchmark tasks against: echo, python:module:function, "
            "openai:MODEL[@URL], anthropic:MODEL[@URL], ollama:MODEL[@URL], "
            "a name from [tool.modelbench.models], or ALIAS=SPEC", "SPEC[,SPEC...]"),
    _Option("runs", "Runs per task and model, overriding every task's difficulty and marker", "N",
            type=_positive_int),
    _Option("json", "Write the results (summary and every run) to this JSON file", "PATH"),
    _Option("strict", "Make a model's miss or failed call an ordinary test failure", kind="flag"),
    _Option("timeout", "Timeout of one model call unless the marker sets one (default 60)", "SECONDS",
            type=_seconds),
    _Option("retries", "Retries of a failed model call (default 2)", "N", type=_non_negative_int),
    _Option("volume", "Project each model's monthly cost at this many tasks per day (also /hour, /month)",
            "N/day"),
    _Option("budget", "Mark which models' projected monthly cost fits this budget (needs --modelbench-volume)",
            "USD/month"),
    _Option("max_cost", "Stop calling models once the session's measured spend reaches this many dollars",
            "USD"),
    _Option("cache", "Read-through response cache (default .modelbench/cache.sqlite); write "
            "--modelbench-cache=PATH to name another file", "PATH", kind="optional",
            const=".modelbench/cache.sqlite"),
    _Option("replay", "Answer only from a response store, opened read-only: no model calls", "PATH"),
    _Option("rank", "Ranking shown as the headline (all are computed; default weighted)",
            "weighted|bradley_terry|elo|borda|pareto"),
    _Option("alpha", "Significance level of comparisons after Holm adjustment (default 0.05)", "ALPHA"),
    _Option("compare", "Print a detailed head-to-head report of two models", "A,B"),
    _Option("baseline", "Compare with the results JSON of an earlier run (paired on shared tasks)", "PATH"),
    _Option("fail_on_regression", "Fail when a model's score dropped by at least the tolerance, significantly",
            kind="flag"),
    _Option("tolerance", "Score drop (0-100 points) the regression gate tolerates (default 2)", "POINTS"),
    _Option("min_score", "Fail when a model's overall score is below N", "N|MODEL=N,..."),
    _Option("max_p95_latency_ms", "Fail when a model's p95 latency exceeds this", "MS"),
    _Option("max_cost_per_task", "Fail when a model's cost per task exceeds this", "USD"),
    _Option("update_baseline", "Rewrite the baseline file with this run's results when every gate passes",
            kind="flag"),
    _Option("report", "Write a Markdown or self-contained HTML report (repeatable)", "PATH.md|PATH.html",
            kind="append"),
    _Option("use_case", "Show the recommendation for one use case only", "NAME"),
    _Option("judge", "Model behind the 'judge' fixture (LLM-as-judge); any model spec", "SPEC"),
)


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
    config.stash[marked_key] = {}
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
    task_type = sys.modules.get("pytest_modelbench.datasets")
    if task_type is not None and isinstance(val, task_type.Task):
        return val.id
    return None


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
    judge_totals: CallTotals = dataclasses.field(default_factory=CallTotals)
    quality: float | None = None
    recorded: bool = False
    cpu_start: float | None = None
    load: list[dict[str, Any]] | None = None

    def record(self, outcome: str, *, quality: float | None = None, error: str | None = None,
               detail: str | None = None) -> RunRecord:
        fields = self.totals.as_fields()
        judge = self.judge_totals.as_fields()
        cpu_s = None if self.cpu_start is None else time.process_time() - self.cpu_start
        return RunRecord(
            task=self.task, model=self.model, run=self.run, category=self.spec.category,
            difficulty=self.spec.difficulty, weight=self.spec.weight, outcome=outcome,
            quality=quality, error=error, detail=detail, group=self.spec.group, **fields,
            judge_calls=judge["calls"], judge_latency_ms=judge["latency_ms"], judge_cost_usd=judge["cost_usd"],
            cpu_s=cpu_s, peak_rss_mb=_peak_rss_mb() if cpu_s is not None else None, load=self.load or None,
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
def judge(request: pytest.FixtureRequest) -> Any:
    """An LLM judge (``--modelbench-judge``): ``judge.grade(question=, answer=, rubric=)``.

    Its calls are recorded and costed apart from the judged model's. Without a judge
    configured, tests using it are skipped.
    """
    state = request.node.stash.get(run_key, None)
    session = request.config.stash.get(session_key, None)
    if state is None or session is None:
        pytest.fail(
            f"{request.node.nodeid}: the 'judge' fixture is only available in benchmark runs", pytrace=False,
        )
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


LOCAL_PROVIDERS = ("echo", "ollama", "python")


class BenchSession:
    """State of a session with models configured: providers, prices, spend, records, summary."""

    def __init__(self, config: pytest.Config, settings: Settings, registry: dict[str, Any]) -> None:
        from .providers import ProviderOptions, build_provider

        self.config = config
        self.settings = settings
        self.records: list[RunRecord] = []
        self.document: dict[str, Any] | None = None
        self.analysis: Any = None
        self.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.is_worker = hasattr(config, "workerinput")
        options = ProviderOptions(timeout=settings.timeout, retries=settings.retries)
        self._specs = {spec.name: spec for spec in settings.models}
        self._providers: dict[str, Any] = {}
        self._ledger: Any = None
        self._ledger_dir: str | None = None
        self._judge_provider: Any = None
        self._store: Any = None
        try:
            self.prices, self.self_hosting = self._resolve_prices(options.environ)
            from .cache import CachingProvider, ResponseStore

            replay_path, cache_path = settings.replay_path, settings.cache_path
            if replay_path:
                self._store = ResponseStore(replay_path, readonly=True)
            elif cache_path:
                self._store = ResponseStore(cache_path)

            def make(spec: Any) -> Any:
                if replay_path:
                    def never() -> Any:
                        raise RuntimeError("a replay never builds a provider")
                    return CachingProvider(never, self._store, spec, replay=True, environ=options.environ)
                inner = build_provider(spec, options, registry)
                if cache_path:
                    return CachingProvider(lambda: inner, self._store, spec, replay=False, environ=options.environ)
                return inner

            for spec in settings.models:
                self._providers[spec.name] = make(spec)
            if settings.judge is not None:
                self._judge_provider = make(settings.judge)
        except ConfigError as exc:
            self.close()
            raise pytest.UsageError(str(exc)) from None
        self.baseline: Any = None
        creating = (settings.baseline_path is not None and settings.update_baseline
                    and not settings.baseline_path.exists() and not self.is_worker)
        if creating and settings.gates is not None and settings.gates.fail_on_regression:
            self.close()
            raise pytest.UsageError(
                f"--modelbench-baseline: {str(settings.baseline_path)!r} does not exist, so there is no "
                "regression to check; record it first (--modelbench-update-baseline without "
                "--modelbench-fail-on-regression creates it)"
            )
        if settings.baseline_path is not None and not self.is_worker and not creating:
            from .baseline import load_baseline

            try:
                self.baseline = load_baseline(settings.baseline_path)
            except ConfigError as exc:
                self.close()
                raise pytest.UsageError(f"--modelbench-baseline: {exc}") from None
            known = sorted({record.model for record in self.baseline.records})
            if not set(known) & set(self._specs):
                self.close()
                raise pytest.UsageError(
                    f"--modelbench-baseline: {str(settings.baseline_path)!r} shares no model with this run; "
                    f"it has {', '.join(known) or 'no runs'}, this run has {', '.join(self._specs)}"
                )
        self.gate_results: list[Any] = []
        self.recommendations: list[Any] = []
        self.baseline_comparison: Any = None
        self.baseline_error: str | None = None
        self.baseline_note: str | None = None
        self.gate_exit: pytest.ExitCode | None = None
        self._open_ledger()
        self._warn_unknown_prices()

    def _resolve_prices(self, environ: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        from .cost import PriceTable, parse_self_hosting
        from .providers import uses_public_api

        table = PriceTable.load(self.settings.tool.get("prices"))
        prices, hosting = {}, {}
        judge = [self.settings.judge] if self.settings.judge is not None else []
        for spec in [*self.settings.models, *judge]:
            public = uses_public_api(spec, environ)
            prices[spec.name] = table.for_model(
                spec.name, spec.model or None, declared=spec.extra.get("price"), use_builtin=public,
            ) or table.for_model(spec.spec, None, use_builtin=False)  # [tool.modelbench.prices] "PROVIDER:MODEL"
            declared = parse_self_hosting(spec.extra, spec.name)
            if declared is not None and spec is not self.settings.judge:
                hosting[spec.name] = declared
        return prices, hosting

    def _warn_unknown_prices(self) -> None:
        if self.is_worker:
            return
        judge = [self.settings.judge] if self.settings.judge is not None else []
        for spec in [*self.settings.models, *judge]:
            if spec.provider not in LOCAL_PROVIDERS and self.prices[spec.name] is None:
                self.config.issue_config_time_warning(
                    pytest.PytestWarning(
                        f"modelbench: no price known for model {spec.name!r}; its cost is unknown. "
                        "Declare one in [tool.modelbench.prices] or the model's price table."
                    ),
                    stacklevel=2,
                )

    def _open_ledger(self) -> None:
        if self.settings.max_cost_usd is None:
            return
        import tempfile

        from ._spend import SpendLedger

        if self.is_worker:
            path = self.config.workerinput.get("modelbench_ledger")
            if path is None:
                return
        else:
            self._ledger_dir = tempfile.mkdtemp(prefix="modelbench-spend-")
            path = f"{self._ledger_dir}/spend.sqlite"
        self._ledger = SpendLedger(path, self.settings.max_cost_usd)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """pytest-xdist: hand the spend ledger's path to each worker."""
        if self._ledger is not None:
            node.workerinput["modelbench_ledger"] = str(self._ledger.path)

    def close(self) -> None:
        for provider in self._providers.values():
            provider.close()
        self._providers.clear()
        if self._judge_provider is not None:
            self._judge_provider.close()
            self._judge_provider = None
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._ledger_dir is not None:
            import shutil

            shutil.rmtree(self._ledger_dir, ignore_errors=True)
            self._ledger_dir = None

    def model_for(self, state: RunState) -> Any:
        from ._model import CallMeter, Model
        from ._spend import BudgetExceeded

        spec = self._specs[state.model]
        provider = self._providers[state.model]
        if self._ledger is not None:
            try:
                self._ledger.check()
            except BudgetExceeded as exc:
                pytest.skip(str(exc))
        meter = CallMeter(self.prices.get(state.model), self._ledger, free=spec.provider == "echo")
        timeout = state.spec.timeout or self.settings.timeout
        state.cpu_start = time.process_time()
        state.load = []
        return Model(spec, lambda: provider, run=state.run, timeout=timeout, totals=state.totals, meter=meter,
                     task=state.task, endpoint=self._load_endpoint(spec), loads=state.load)

    def _load_endpoint(self, spec: Any) -> Any:
        """For ``model.load``: a function giving the OpenAI-compatible base URL and key, or None."""
        if spec.provider not in ("openai", "ollama"):
            return None
        from .providers import resolve_openai_endpoint

        return lambda: resolve_openai_endpoint(spec, os.environ)

    def judge_for(self, state: RunState) -> Any:
        from ._model import CallMeter, Model
        from .judge import Judge

        spec = self.settings.judge
        provider = self._judge_provider
        meter = CallMeter(self.prices.get(spec.name), self._ledger, free=spec.provider == "echo")
        model = Model(spec, lambda: provider, run=state.run, timeout=self.settings.timeout,
                      totals=state.judge_totals, meter=meter, task=state.task)
        return Judge(spec.name, model.complete)

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
        if getattr(self.config.option, "xmlpath", None):
            from .reports import junit_properties

            # junitxml writes the properties of the teardown report, made from the item's
            item.user_properties.extend(junit_properties(report.modelbench))
        return report

    def _classify(self, state: RunState, report: pytest.TestReport, call: pytest.CallInfo[None]) -> RunRecord:
        if report.passed:
            return state.record("passed", quality=1.0 if state.quality is None else state.quality)
        if report.skipped:
            return state.record("skipped", detail=_skip_reason(report))
        exc = call.excinfo.value if call.excinfo is not None else None
        from ._spend import BudgetExceeded

        if isinstance(exc, BudgetExceeded):
            reason = _short_reason(exc)
            report.outcome = "skipped"
            report.longrepr = (str(report.location[0]), report.location[1] or 0, f"Skipped: {reason}")
            return state.record("skipped", detail=reason)
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
        if self.is_worker:
            return
        from . import __version__
        from ._analysis import CompareSettings, CostSettings, analyse
        from ._results import build_document, build_meta, write_json_atomic

        self.records.sort(key=sort_key)
        if not self.records:
            return
        settings = self.settings
        names = [spec.name for spec in settings.models]
        self.analysis = analyse(
            self.records, models=names, category_weights=settings.categories,
            cost=CostSettings(
                prices=self.prices, self_hosting=self.self_hosting,
                volume_per_day=settings.volume_per_day,
                budget_usd_per_month=settings.budget_usd_per_month,
                max_cost_usd=settings.max_cost_usd,
            ),
            compare=CompareSettings(alpha=settings.alpha, rank=settings.rank, pair=settings.compare),
        )
        self.document = self.analysis.document
        if self._ledger is not None:
            self.document.setdefault("budget", {})["session_spend"] = self._ledger.snapshot().to_dict()
        self._baseline_gates_and_recommendations()
        summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
        if settings.json_path is not None or settings.reports or summary_file or settings.update_baseline:
            # the full document (meta asks git for the commit) only when a file is written
            meta = build_meta(
                plugin_version=__version__, pytest_version=pytest.__version__,
                started=self.started,
                finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                rootdir=self.config.rootpath,
                models=[spec.describe() for spec in settings.models],
                settings=settings.describe(),
            )
            models = self.document.pop("models")
            full = build_document(meta, models, self.records, **self.document)
            self.document["models"] = models
            if settings.json_path is not None:
                write_json_atomic(settings.json_path, full)
            self._write_reports(full, summary_file)
            if settings.update_baseline:
                self._update_baseline(full)
        if self.gate_results:
            from .gates import gates_passed

            if not gates_passed(self.gate_results):
                self.gate_exit = self.gate_exit or pytest.ExitCode.TESTS_FAILED
        if self.gate_exit is not None and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = self.gate_exit

    def _baseline_gates_and_recommendations(self) -> None:
        from .recommend import recommend, resolve_use_case

        settings, document = self.settings, self.document
        comparison = None
        if self.baseline is not None:
            from .baseline import compare_to_baseline

            try:
                comparison = compare_to_baseline(self.records, self.baseline, category_weights=settings.categories)
            except ConfigError as exc:
                self.baseline_error = str(exc)
                self.gate_exit = pytest.ExitCode.USAGE_ERROR
            else:
                document["baseline"] = comparison.to_dict()
                self.baseline_comparison = comparison
        if settings.gates is not None:
            from .baseline import cost_per_task_by_model
            from .gates import evaluate_gates

            self.gate_results = evaluate_gates(
                settings.gates, models=document["models"], comparison=comparison,
                cost_per_task=cost_per_task_by_model(self.records),
            )
            document["gates"] = [result.to_dict() for result in self.gate_results]
        cases = None
        if settings.use_case is not None:
            cases = [resolve_use_case(settings.use_case, settings.use_cases)]
        elif settings.use_cases:
            cases = list(settings.use_cases.values())
        self.recommendations = recommend(document, cases, records=self.records, alpha=settings.alpha)
        document["recommendations"] = [item.to_dict() for item in self.recommendations]

    def _write_reports(self, document: dict[str, Any], summary_file: str | None) -> None:
        if not self.settings.reports and not summary_file:
            return
        from .reports import append_github_summary, render_markdown, write_report

        for path in self.settings.reports:
            write_report(document, path)
        if summary_file:
            append_github_summary(render_markdown(document))

    def _update_baseline(self, document: dict[str, Any]) -> None:
        from .baseline import write_baseline
        from .gates import gates_passed

        if self.baseline_error is not None:
            self.baseline_note = "baseline not updated: it could not be compared"
            return
        if self.gate_results and not gates_passed(self.gate_results):
            self.baseline_note = "baseline not updated: a gate failed"
            return
        write_baseline(self.settings.baseline_path, document)
        self.baseline_note = f"baseline updated: {self.settings.baseline_path}"

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.document is None or self.is_worker:
            return
        from ._terminal import summary_lines

        terminalreporter.write_sep("=", "modelbench summary")
        for line in summary_lines(
            self.analysis, self.records, self.settings.categories,
            verbosity=self.config.get_verbosity(),
        ):
            if line.startswith("--- "):
                terminalreporter.write_sep("-", line[4:])
            else:
                terminalreporter.write_line(line)
        write = terminalreporter.write_line
        if self.config.get_verbosity() >= 0:
            if self.baseline_comparison is not None:
                terminalreporter.write_sep("-", f"modelbench baseline: {self.settings.baseline_path}")
                for line in self.baseline_comparison.table().splitlines():
                    write(line)
            if self.recommendations:
                from .recommend import recommendation_lines

                terminalreporter.write_sep("-", "modelbench recommendations")
                verbose = self.config.get_verbosity() > 0
                for line in recommendation_lines(self.recommendations):
                    if verbose or not line.startswith(" "):  # rationales with -v
                        write(line)
                if not verbose:
                    write("-v shows the rationale of each recommendation")
        if self.baseline_error is not None:
            write(f"baseline not compared: {self.baseline_error}", yellow=True)
        if self.settings.json_path is not None:
            write(f"results written to {self.settings.json_path}")
        for path in self.settings.reports:
            write(f"report written to {path}")
        if self.gate_results:
            from .gates import gate_lines, gates_passed

            passed = gates_passed(self.gate_results)
            terminalreporter.write_sep("=", "modelbench gates", green=passed, red=not passed)
            for line in gate_lines(self.gate_results):
                write(line)
        if self.baseline_note is not None:
            write(self.baseline_note)


def _peak_rss_mb() -> float | None:
    """Peak resident memory of this process in MiB (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _skip_reason(report: pytest.TestReport) -> str | None:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return None
