"""What a benchmark session holds open while it runs: providers, prices, the response store,
the spend ledger and the baseline.

:class:`SessionRuntime` is built once per process from the :class:`~.settings.Settings`; the
pytest plugin asks it for the :class:`~pytest_modelbench.models.model.Model` of each run and
closes it at the end. Errors in the configuration raise
:class:`~pytest_modelbench._exceptions.ConfigError` (the plugin turns them into usage errors)
after closing whatever was already opened. Does not import pytest.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .._exceptions import ConfigError
from ..models.model import CallMeter, CallTotals, Model, TextPolicy
from .settings import Settings

#: Providers that run on this machine: free ($0 a call, whatever the token counts) unless a
#: price is set for the model, so no price is warned about.
LOCAL_PROVIDERS = ("echo", "ollama", "python")
#: Model calls in flight per model by default, for a hosted public API (docs/concurrency.md);
#: every other model makes one call at a time unless told otherwise.
DEFAULT_HOSTED_CONCURRENCY = 16


def concurrency_for(spec: Any, settings: Settings, environ: Mapping[str, str]) -> int:
    """Model calls in flight for one model: its table's ``concurrency``, else
    ``--modelbench-concurrency``, else 16 for a hosted public API and 1 otherwise. The ``echo``
    model answers at once: always 1."""
    if spec.provider == "echo":
        return 1
    declared = spec.extra.get("concurrency")
    if declared is not None:
        return int(declared)
    if settings.concurrency is not None:
        return settings.concurrency
    from ..models.providers import uses_public_api

    return DEFAULT_HOSTED_CONCURRENCY if uses_public_api(spec, environ) else 1


def _endpoint_of(spec: Any, environ: Mapping[str, str]) -> str:
    """The name of the rate limiter a model's calls share: provider, URL and key (hashed)."""
    from ..models.limiter import endpoint_key
    from ..models.providers import called_base_url

    base_url = called_base_url(spec, environ)
    if base_url is None:
        return endpoint_key(spec.provider, spec.base_url or spec.model, None)
    key_env = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}.get(spec.provider)
    key = environ.get(spec.api_key_env or key_env) if key_env else None
    return endpoint_key(spec.provider, base_url.rstrip("/"), key)


@dataclasses.dataclass(frozen=True, slots=True)
class PriceWarning:
    """A model without a price: the warning's text, and the file and line it points at."""

    model: str
    message: str
    filename: str
    lineno: int


def _read_lines(path: Path | None) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines() if path is not None else []
    except (OSError, UnicodeDecodeError):
        return []


def _toml_key(name: str) -> str:
    """``name`` as a TOML key: bare when it can be, else quoted."""
    bare = name.replace("-", "").replace("_", "").isalnum() and name.isascii()
    return name if bare else '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _run_load(**options: Any) -> Any:
    """``model.load()``: the load generator of the profiling wing, imported when first used."""
    from ..profile.load import run_load

    return run_load(**options)


#: Variables whose values (API keys) are redacted from the prompts and replies a run keeps.
KEY_VARIABLES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")


def _text_policy(settings: Settings, environ: Mapping[str, str]) -> TextPolicy:
    """``--modelbench-text-limit`` and the keys the configured models (and judge) may use."""
    from ..models.providers._http import Secret

    names = {*KEY_VARIABLES, *(spec.api_key_env for spec in settings.models_and_judge if spec.api_key_env)}
    keys = sorted({environ[name] for name in names if environ.get(name)})
    return TextPolicy(settings.text_limit, tuple(Secret(key) for key in keys))


class SessionRuntime:
    """Providers (behind the response store when caching or replaying), prices, the spend ledger
    and the loaded baseline of one process of a session.

    ``worker_files`` are the files a pytest-xdist controller handed to this worker
    (:meth:`shared_files`: ``ledger``, the spend ledger, and ``limiter``, the rate limiters'
    ledger; empty elsewhere); ``is_worker`` says whether this process is an xdist worker
    (workers neither load the baseline nor create the ledgers).
    """

    def __init__(self, settings: Settings, registry: Mapping[str, Any], *, is_worker: bool = False,
                 worker_files: Mapping[str, str] | None = None) -> None:
        from ..models.providers import ProviderOptions, build_provider

        worker_files = worker_files or {}
        self.settings = settings
        self.is_worker = is_worker
        options = ProviderOptions(timeout=settings.timeout, retries=settings.retries,
                                  max_response_bytes=settings.max_response_bytes)
        self.texts = _text_policy(settings, options.environ)
        self.specs = {spec.name: spec for spec in settings.models}
        self.providers: dict[str, Any] = {}
        self.judge_provider: Any = None
        self.ledger: Any = None
        self.baseline: Any = None
        self._ledger_dir: str | None = None
        self._store: Any = None
        #: The channels of models whose calls go concurrently or through a rate limiter.
        self.engine: Any = None
        self._rate_ledger: Any = None
        self._limiter_dir: str | None = None
        try:
            self.prices, self.self_hosting = self._resolve_prices(options.environ)
            from ..models.cache import CachingProvider, ResponseStore, StoreError

            replay_path, cache_path = settings.replay_path, settings.cache_path
            try:
                if replay_path:
                    self._store = ResponseStore(replay_path, readonly=True, lock_timeout_s=settings.cache_lock_timeout)
                elif cache_path:
                    self._store = ResponseStore(cache_path, lock_timeout_s=settings.cache_lock_timeout)
            except StoreError as exc:
                option = "--modelbench-replay" if replay_path else "--modelbench-cache"
                raise ConfigError(
                    f"{option}: {exc}. Another process (another pytest session?) holds its lock: wait for it "
                    "to finish, give this session its own file, or wait longer with "
                    "--modelbench-cache-lock-timeout=SECONDS"
                ) from None

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
                self.providers[spec.name] = make(spec)
            if settings.judge is not None:
                self.judge_provider = make(settings.judge)
            self._load_baseline()
            self._open_ledger(worker_files.get("ledger"))
            if not replay_path:
                self._open_channels(options.environ, worker_files.get("limiter"))
        except ConfigError:
            self.close()
            raise

    # -- configuration -------------------------------------------------------------------

    def _resolve_prices(self, environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
        from ..cost import LOCAL_FREE_PRICE, PriceTable, parse_self_hosting
        from ..models.providers import uses_public_api

        table = PriceTable.load(self.settings.tool.get("prices"))
        prices, hosting = {}, {}
        for spec in self.settings.models_and_judge:
            public = uses_public_api(spec, environ)
            prices[spec.name] = table.for_model(
                spec.name, spec.model or None, declared=spec.extra.get("price"), use_builtin=public,
            ) or table.for_model(spec.spec, None, use_builtin=False)  # [tool.modelbench.prices] "PROVIDER:MODEL"
            declared = parse_self_hosting(spec.extra, spec.name)
            if declared is not None and spec is not self.settings.judge:
                hosting[spec.name] = declared
            elif prices[spec.name] is None and spec.provider in LOCAL_PROVIDERS:
                prices[spec.name] = LOCAL_FREE_PRICE  # free, unless a price or GPU cost is declared
        return prices, hosting

    def unpriced_models(self) -> list[str]:
        """Models (and the judge) that are not local and have no known price."""
        return [spec.name for spec in self.settings.models_and_judge
                if spec.provider not in LOCAL_PROVIDERS and self.prices[spec.name] is None]

    def price_warnings(self, pyproject: Path | None) -> list[PriceWarning]:
        """One warning per model without a price, located where the price belongs: the
        model's table in ``pyproject``, else its ``[tool.modelbench.prices]`` (or
        ``[tool.modelbench]``) table, else the file's first line."""
        lines = _read_lines(pyproject)
        warnings = []
        for name in self.unpriced_models():
            spec = self.specs.get(name) or self.settings.judge
            named = name in self.settings.named_models
            key = f"price = {{ input = ..., output = ... }} in [tool.modelbench.models.{name}]" if named else \
                f"[tool.modelbench.prices] {_toml_key(name)} = {{ input = ..., output = ... }}"
            served = f" (model id {spec.model!r})" if spec is not None and spec.model and spec.model != name else ""
            message = (f"modelbench: no price known for model {name!r}{served}; its cost is unknown (shown as ?, "
                       f"never as $0) and it has no cost score. Set {key} in USD per 1M tokens "
                       "(input = 0, output = 0 for a model that costs nothing)")
            headings = ([f"[tool.modelbench.models.{name}]", f'[tool.modelbench.models."{name}"]'] if named else []) \
                + ["[tool.modelbench.prices]", "[tool.modelbench]"]
            lineno = next((number for heading in headings for number, line in enumerate(lines, start=1)
                           if line.strip() == heading), 1)
            warnings.append(PriceWarning(name, message, str(pyproject) if pyproject else "pyproject.toml", lineno))
        return warnings

    def _load_baseline(self) -> None:
        settings = self.settings
        path = settings.baseline_path
        if path is None or self.is_worker:
            return
        creating = settings.update_baseline and not path.exists()
        if creating:
            if settings.gates is not None and settings.gates.fail_on_regression:
                raise ConfigError(
                    f"--modelbench-baseline: {str(path)!r} does not exist, so there is no "
                    "regression to check; record it first (--modelbench-update-baseline without "
                    "--modelbench-fail-on-regression creates it)"
                )
            return
        from ..compare.baseline import load_baseline

        try:
            self.baseline = load_baseline(path)
        except ConfigError as exc:
            raise ConfigError(f"--modelbench-baseline: {exc}") from None
        known = sorted({record.model for record in self.baseline.records})
        if not set(known) & set(self.specs) and not settings.replaces_baseline:
            raise ConfigError(
                f"--modelbench-baseline: {str(path)!r} shares no model with this run; "
                f"it has {', '.join(known) or 'no runs'}, this run has {', '.join(self.specs)}; "
                "to replace it, run with --modelbench-update-baseline (without --modelbench-fail-on-regression)"
            )

    def _open_ledger(self, worker_ledger: str | None) -> None:
        if self.settings.max_cost_usd is None:
            return
        from ..cost.ledger import SpendLedger

        if self.is_worker:
            if worker_ledger is None:
                return
            path = worker_ledger
        else:
            self._ledger_dir = tempfile.mkdtemp(prefix="modelbench-spend-")
            path = f"{self._ledger_dir}/spend.sqlite"
        self.ledger = SpendLedger(path, self.settings.max_cost_usd)

    @property
    def ledger_path(self) -> Path | None:
        return None if self.ledger is None else Path(self.ledger.path)

    def _open_channels(self, environ: Mapping[str, str], worker_limiter: str | None) -> None:
        """When some model makes more than one call at a time or declares ``rpm``/``tpm``, a
        channel (``models/dispatch.py``) for every model but ``echo`` (and the judge), so that
        any call of a run fetched ahead can be deferred; the models of one endpoint share its
        rate limiter."""
        from ..models.limiter import LocalRateLedger, RateLimits, SharedRateLedger

        judge = self.settings.judge
        wanted = []
        for label, spec, provider in [*((spec.name, spec, self.providers[spec.name]) for spec in self.settings.models),
                                      *(((f"{judge.name} (judge)", judge, self.judge_provider),) if judge else ())]:
            if spec.provider != "echo":
                wanted.append((label, spec, provider, concurrency_for(spec, self.settings, environ),
                               RateLimits(spec.extra.get("rpm"), spec.extra.get("tpm")), _endpoint_of(spec, environ)))
        if not any(concurrency > 1 or limits.active for _, _, _, concurrency, limits, _ in wanted):
            return  # every call goes one at a time, unlimited: the plain path
        from ..models.aio import io_loop
        from ..models.cache import CachingProvider, spec_for_key
        from ..models.dispatch import CallEngine
        from ..models.limiter import RateLimiter

        self._rate_ledger = SharedRateLedger(worker_limiter) if worker_limiter else LocalRateLedger()
        ceilings: dict[str, int] = {}
        for *_, concurrency, _, endpoint in wanted:
            ceilings[endpoint] = ceilings.get(endpoint, 0) + concurrency
        limiters = {endpoint: RateLimiter(endpoint, ceiling=ceiling, ledger=self._rate_ledger)
                    for endpoint, ceiling in ceilings.items()}
        self.engine = CallEngine(io_loop(), threads=sum(ceilings.values()))
        for label, spec, provider, concurrency, limits, endpoint in wanted:
            calls = (lambda caching=provider: caching.inner) if isinstance(provider, CachingProvider) \
                else (lambda plain=provider: plain)
            self.engine.add(label, calls, concurrency=concurrency, limiter=limiters[endpoint], limits=limits,
                            meter=self._meter(spec), retries=self.settings.retries,
                            key_spec=spec_for_key(spec, environ))

    def channel(self, name: str) -> Any:
        """The channel of a model (or ``"NAME (judge)"``), None when its calls go one at a time."""
        return None if self.engine is None else self.engine.channels.get(name)

    def concurrent(self, name: str) -> bool:
        """Whether a model's calls are fetched ahead of its runs (more than one in flight)."""
        channel = self.channel(name)
        return channel is not None and channel.concurrency > 1

    def shared_files(self) -> dict[str, str]:
        """pytest-xdist: the files the controller hands each worker: the spend ledger
        (``ledger``) and the rate limiters' ledger (``limiter``, made at the first worker)."""
        files = {}
        if self.ledger is not None:
            files["ledger"] = str(self.ledger.path)
        if self.engine is not None:
            if self._limiter_dir is None:
                from ..models.limiter import SharedRateLedger

                self._limiter_dir = tempfile.mkdtemp(prefix="modelbench-limits-")
                SharedRateLedger(f"{self._limiter_dir}/limits.sqlite").close()
            files["limiter"] = f"{self._limiter_dir}/limits.sqlite"
        return files

    def _meter(self, spec: Any) -> CallMeter:
        return CallMeter(self.prices.get(spec.name), self.ledger)

    # -- per run -------------------------------------------------------------------------

    def check_budget(self) -> None:
        """Raise ``BudgetExceeded`` when the session's spend has reached the cap."""
        if self.ledger is not None:
            self.ledger.check()

    def model(self, name: str, *, run: int, task: str, timeout: float | None, totals: CallTotals,
              loads: list[dict[str, Any]], prefetch: Any = None) -> Model:
        """The ``model`` of one run: calls are metered into ``totals``, loads into ``loads``;
        ``prefetch`` holds the run's calls fetched ahead (``models/prefetch.py``)."""
        spec = self.specs[name]
        provider = self.providers[name]
        totals.texts = self.texts
        return Model(spec, lambda: provider, run=run, timeout=timeout or self.settings.timeout,
                     totals=totals, meter=self._meter(spec), task=task, endpoint=self._load_endpoint(spec),
                     loads=loads, load_runner=_run_load, retries=self.settings.retries,
                     max_response_bytes=self.settings.max_response_bytes,
                     channel=self.channel(name), prefetch=prefetch)

    def _load_endpoint(self, spec: Any) -> Callable[[], tuple[str, str | None]] | None:
        """For ``model.load`` and ``model.endpoint`` (and the metered clients): a function giving
        the OpenAI-compatible base URL and key, or None."""
        if spec.provider not in ("openai", "ollama"):
            return None
        from ..models.providers import resolve_openai_endpoint

        return lambda: resolve_openai_endpoint(spec, os.environ)

    def judge(self, *, run: int, task: str, totals: CallTotals, prefetch: Any = None) -> Any:
        """The ``judge`` of one run (its calls metered into ``totals``, apart from the model's)."""
        from ..design.judge import Judge

        spec = self.settings.judge
        provider = self.judge_provider
        model = Model(spec, lambda: provider, run=run, timeout=self.settings.timeout,
                      totals=totals, meter=self._meter(spec), task=task,
                      channel=self.channel(f"{spec.name} (judge)"), prefetch=prefetch)
        return Judge(spec.name, model.complete)

    def session_spend(self) -> dict[str, Any] | None:
        return None if self.ledger is None else self.ledger.snapshot().to_dict()

    def close(self) -> None:
        from ..models.aio import shutdown_io_loop

        if self.engine is not None:
            self.engine.close()  # on the I/O loop, before it stops
            self.engine = None
        shutdown_io_loop()  # then: it closes the providers' async clients on their loop
        for provider in self.providers.values():
            provider.close()
        self.providers.clear()
        if self.judge_provider is not None:
            self.judge_provider.close()
            self.judge_provider = None
        if self.ledger is not None:
            self.ledger.close()
            self.ledger = None
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._ledger_dir is not None:
            shutil.rmtree(self._ledger_dir, ignore_errors=True)
            self._ledger_dir = None
        if self._rate_ledger is not None:
            self._rate_ledger.close()
            self._rate_ledger = None
        if self._limiter_dir is not None:
            shutil.rmtree(self._limiter_dir, ignore_errors=True)
            self._limiter_dir = None
