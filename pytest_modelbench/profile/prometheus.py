"""Server gauges during a load run: a Prometheus text-format parser and a sampler thread.

Does not import pytest. The parser reads the Prometheus text exposition format, version 0.0.4
(https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format), which
vLLM, SGLang, TGI and llama.cpp serve on ``/metrics``:

- lines end with ``\\n``; blank lines are ignored; a line starting with ``#`` is a comment,
  of which ``# HELP name text`` and ``# TYPE name type`` are read;
- a sample is ``name[{label="value",...}] value [timestamp_ms]``, tokens separated by spaces
  or tabs, a trailing comma allowed in the label set; label values escape ``\\\\``, ``\\"``
  and ``\\n``; the value is a Go float (``NaN``, ``+Inf``, ``-Inf`` included).
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence

import httpx

from ..models.providers._http import safe_url

_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:")
_NAME_CHARS = _NAME_START | frozenset("0123456789")
_LABEL_START = _NAME_START - {":"}
_LABEL_CHARS = _NAME_CHARS - {":"}
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


class PrometheusFormatError(ValueError):
    """A line of a metrics page is not valid Prometheus text format."""


@dataclasses.dataclass(frozen=True, slots=True)
class MetricSample:
    """One sample line: metric name, labels (in the order given), value, optional timestamp."""

    name: str
    labels: tuple[tuple[str, str], ...]
    value: float
    timestamp_ms: int | None = None

    @property
    def series(self) -> str:
        """The series as Prometheus writes it, labels sorted: ``name{a="1",b="2"}``."""
        return series_key(self.name, self.labels)


@dataclasses.dataclass(frozen=True, slots=True)
class MetricsPage:
    """A parsed metrics page: its samples and the types its ``# TYPE`` lines declared."""

    samples: tuple[MetricSample, ...]
    types: Mapping[str, str]


def series_key(name: str, labels: Iterable[tuple[str, str]]) -> str:
    pairs = sorted(labels)
    if not pairs:
        return name
    escaped = ",".join(f'{key}="{_escape(value)}"' for key, value in pairs)
    return f"{name}{{{escaped}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def parse_prometheus_text(text: str) -> MetricsPage:
    """Parse a Prometheus text-format page. Raises PrometheusFormatError naming the bad line."""
    samples: list[MetricSample] = []
    types: dict[str, str] = {}
    for number, raw_line in enumerate(text.split("\n"), start=1):
        line = raw_line.strip(" \t\r")
        if not line:
            continue
        if line.startswith("#"):
            words = line[1:].split(None, 3)
            if len(words) >= 3 and words[0] == "TYPE":
                types[words[1]] = words[2]
            continue
        try:
            samples.append(_parse_sample(line))
        except PrometheusFormatError as exc:
            raise PrometheusFormatError(f"line {number} {raw_line[:120]!r}: {exc}") from None
    return MetricsPage(samples=tuple(samples), types=types)


def _parse_sample(line: str) -> MetricSample:
    position = 0
    length = len(line)
    if line[0] not in _NAME_START:
        raise PrometheusFormatError("a sample must start with a metric name")
    while position < length and line[position] in _NAME_CHARS:
        position += 1
    name = line[:position]
    labels: list[tuple[str, str]] = []
    if position < length and line[position] == "{":
        position = _parse_labels(line, position + 1, labels)
    rest = line[position:].split()
    if not rest or (position < length and line[position] not in " \t"):
        raise PrometheusFormatError("expected a space and a value after the metric name and labels")
    if len(rest) > 2:
        raise PrometheusFormatError(f"unexpected text after the value: {' '.join(rest[2:])!r}")
    value = _parse_value(rest[0])
    timestamp = None
    if len(rest) == 2:
        try:
            timestamp = int(rest[1])
        except ValueError:
            raise PrometheusFormatError(f"timestamp {rest[1]!r} is not an integer of milliseconds") from None
    return MetricSample(name=name, labels=tuple(labels), value=value, timestamp_ms=timestamp)


def _parse_labels(line: str, position: int, labels: list[tuple[str, str]]) -> int:
    """Parse ``a="x",b="y"}`` from ``position``; return the position after ``}``."""
    length = len(line)
    while True:
        while position < length and line[position] in " \t":
            position += 1
        if position < length and line[position] == "}":
            return position + 1
        start = position
        if position >= length or line[position] not in _LABEL_START:
            raise PrometheusFormatError("expected a label name or '}'")
        while position < length and line[position] in _LABEL_CHARS:
            position += 1
        label = line[start:position]
        while position < length and line[position] in " \t":
            position += 1
        if position + 1 >= length or line[position] != "=" or line[position + 1] != '"':
            raise PrometheusFormatError(f'label {label!r} must be followed by ="value"')
        position += 2
        value: list[str] = []
        while True:
            if position >= length:
                raise PrometheusFormatError(f"label {label!r} has an unterminated value")
            char = line[position]
            if char == "\\":
                if position + 1 >= length:
                    raise PrometheusFormatError(f"label {label!r} ends in a lone backslash")
                escaped = line[position + 1]
                value.append(_ESCAPES.get(escaped, "\\" + escaped))
                position += 2
            elif char == '"':
                position += 1
                break
            else:
                value.append(char)
                position += 1
        labels.append((label, "".join(value)))
        while position < length and line[position] in " \t":
            position += 1
        if position < length and line[position] == ",":
            position += 1
        elif position < length and line[position] == "}":
            return position + 1
        else:
            raise PrometheusFormatError("expected ',' or '}' after a label value")


def _parse_value(text: str) -> float:
    lowered = text.lower()
    if lowered in ("+inf", "inf"):
        return math.inf
    if lowered == "-inf":
        return -math.inf
    if lowered == "nan":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise PrometheusFormatError(f"value {text!r} is not a number") from None


# --------------------------------------------------------------------------- selection


@dataclasses.dataclass(frozen=True, slots=True)
class GaugeSelector:
    """A wanted gauge: a metric name and optionally labels that must match exactly."""

    text: str
    name: str
    labels: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str) -> GaugeSelector:
        """``name`` or ``name{label="value",...}``; raises ValueError naming the text."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"gauge {text!r} is not allowed; give a metric name such as 'vllm:num_requests_running'")
        try:
            sample = _parse_sample(text.strip() + " 0")
        except PrometheusFormatError as exc:
            raise ValueError(
                f"gauge {text!r} is not a metric name or name{{label=\"value\"}} selector ({exc})"
            ) from None
        return cls(text=text.strip(), name=sample.name, labels=sample.labels)

    def matches(self, sample: MetricSample) -> bool:
        if sample.name != self.name:
            return False
        present = dict(sample.labels)
        return all(present.get(key) == value for key, value in self.labels)


def select(page: MetricsPage, selectors: Sequence[GaugeSelector]) -> dict[str, float]:
    """Values of the series the selectors match, keyed by :attr:`MetricSample.series`."""
    values: dict[str, float] = {}
    for sample in page.samples:
        for selector in selectors:
            if selector.matches(sample):
                values[sample.series] = sample.value
                break
    return values


@dataclasses.dataclass(frozen=True, slots=True)
class GaugeStats:
    """A gauge sampled during a run: number of scrapes that had it, min, mean, max."""

    samples: int
    min: float | None
    mean: float | None
    max: float | None

    def to_dict(self) -> dict[str, float | int | None]:
        return {"samples": self.samples, "min": self.min, "mean": self.mean, "max": self.max}


def summarise(values: Sequence[float]) -> GaugeStats:
    finite = [value for value in values if not math.isnan(value)]
    if not finite:
        return GaugeStats(samples=len(values), min=None, mean=None, max=None)
    return GaugeStats(
        samples=len(values), min=min(finite), mean=math.fsum(finite) / len(finite), max=max(finite)
    )


# --------------------------------------------------------------------------- sampler


@dataclasses.dataclass(frozen=True, slots=True)
class GaugeReport:
    """What the sampler saw: per-series stats, scrapes made, failures and the first reason."""

    gauges: Mapping[str, GaugeStats]
    scrapes: int
    failures: int
    first_failure: str | None
    missing: tuple[str, ...]


class GaugeSampler:
    """Scrapes ``url`` every ``interval_s`` seconds in a thread while a load run goes on.

    The first scrape is made at :meth:`start`, the last at :meth:`stop`. A failed scrape (HTTP
    error, connection error, unparseable page) is counted, not raised: the load run goes on.
    ``client`` (tests) replaces the ``httpx.Client``.
    """

    def __init__(
        self, url: str, selectors: Sequence[GaugeSelector], interval_s: float, *,
        client: httpx.Client | None = None,
    ) -> None:
        self.url = url
        self.selectors = tuple(selectors)
        self.interval_s = interval_s
        self._client = client or httpx.Client(timeout=httpx.Timeout(max(interval_s, 5.0)))
        self._own_client = client is None
        self._values: dict[str, list[float]] = {}
        self._scrapes = 0
        self._failures = 0
        self._first_failure: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="modelbench-gauges", daemon=True)

    def scrape_once(self) -> None:
        try:
            response = self._client.get(self.url)
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            page = parse_prometheus_text(response.text)
        except (httpx.HTTPError, ValueError) as exc:
            self._failures += 1
            if self._first_failure is None:
                self._first_failure = f"{safe_url(self.url)}: {type(exc).__name__}: {str(exc)[:200]}"
            return
        self._scrapes += 1
        for series, value in select(page, self.selectors).items():
            self._values.setdefault(series, []).append(value)

    def _loop(self) -> None:
        next_at = time.perf_counter() + self.interval_s
        while not self._stop.wait(max(next_at - time.perf_counter(), 0.0)):
            self.scrape_once()
            next_at += self.interval_s

    def start(self) -> None:
        self.scrape_once()
        self._thread.start()

    def stop(self) -> GaugeReport:
        self._stop.set()
        self._thread.join()
        self.scrape_once()
        if self._own_client:
            self._client.close()
        seen = set(self._values)
        missing = tuple(
            selector.text for selector in self.selectors
            if not any(selector.matches(_series_sample(series)) for series in seen)
        )
        return GaugeReport(
            gauges={series: summarise(values) for series, values in sorted(self._values.items())},
            scrapes=self._scrapes,
            failures=self._failures,
            first_failure=self._first_failure,
            missing=missing,
        )


def _series_sample(series: str) -> MetricSample:
    return _parse_sample(series + " 0")
