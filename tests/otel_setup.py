"""The suite's OpenTelemetry SDK: global providers, in memory, installed once per test process.

A pytest plugin (``tests/conftest.py`` loads it). A global tracer or meter provider can be set
only once per process, so ``pytest_configure`` sets both before any test runs: a
``TracerProvider`` exporting through a ``SimpleSpanProcessor`` to an ``InMemorySpanExporter``, and
a ``MeterProvider`` read by an ``InMemoryMetricReader`` with delta temporality (each collection
holds only what was measured since the one before). Every test starts with no finished spans; a
test that looks at telemetry asks for the ``otel`` fixture.

The packages under test depend on the OpenTelemetry API alone; the SDK is a test dependency
(``tox.ini``). Without it the ``otel`` fixture fails, saying how to install it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

_INSTALL_HINT = "the OpenTelemetry SDK is a test dependency: pip install opentelemetry-sdk"


class OtelCapture:
    """What the process's providers received during the current test."""

    def __init__(self, exporter: InMemorySpanExporter, reader: InMemoryMetricReader) -> None:
        self._exporter = exporter
        self._reader = reader
        self._points: list[tuple[str, Mapping[str, Any], Any]] = []

    def reset(self) -> None:
        """Forget every finished span and every measurement so far."""
        self._exporter.clear()
        self._reader.get_metrics_data()  # delta temporality: this drains what was measured
        self._points.clear()

    def spans(self) -> tuple[ReadableSpan, ...]:
        """The spans finished so far, in the order they ended."""
        return self._exporter.get_finished_spans()

    def span(self, name: str) -> ReadableSpan:
        """The one finished span called ``name`` (an assertion error if not exactly one)."""
        found = [span for span in self.spans() if span.name == name]
        assert len(found) == 1, f"{len(found)} spans named {name!r}: {self.span_names()}"
        return found[0]

    def span_names(self) -> list[str]:
        return [span.name for span in self.spans()]

    def points(self, metric: str) -> list[tuple[Mapping[str, Any], Any]]:
        """``(attributes, data point)`` of every measurement of ``metric`` since the test began.

        A counter's point has ``.value`` (the sum since the previous collection), a histogram's
        ``.count`` and ``.sum``.
        """
        self._collect()
        return [(attributes, point) for name, attributes, point in self._points if name == metric]

    def total(self, metric: str, **attributes: str) -> float:
        """The sum of a counter's values whose attributes include ``attributes``."""
        return sum(
            point.value
            for found, point in self.points(metric)
            if all(found.get(key) == value for key, value in attributes.items())
        )

    def metric_names(self) -> set[str]:
        self._collect()
        return {name for name, _, _ in self._points}

    def everything(self) -> Sequence[str]:
        """Every text the providers received (span names, attributes, events, statuses, links,
        metric names and attributes), for a test to scan for a secret."""
        texts: list[str] = []
        for span in self.spans():
            texts.append(span.name)
            texts.extend(_texts(span.attributes))
            texts.append(str(span.status.description))
            for event in span.events:
                texts.append(event.name)
                texts.extend(_texts(event.attributes))
            for link in span.links:
                texts.extend(_texts(link.attributes))
            texts.append(span.to_json())
        self._collect()
        for name, attributes, point in self._points:
            texts.append(name)
            texts.extend(_texts(attributes))
            texts.append(point.to_json())
        return texts

    def _collect(self) -> None:
        data = self._reader.get_metrics_data()
        if data is None:
            return
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    # An observable counter reports every series it ever counted at each
                    # collection: a delta of 0 there is an earlier test's series, not a count.
                    monotonic = getattr(metric.data, "is_monotonic", False)
                    for point in metric.data.data_points:
                        if monotonic and point.value == 0:
                            continue
                        self._points.append((metric.name, dict(point.attributes or {}), point))


def _texts(attributes: Mapping[str, Any] | None) -> list[str]:
    return [f"{key}={value!r}" for key, value in (attributes or {}).items()]


_capture: OtelCapture | None = None
_missing: str | None = None


def _install() -> None:
    """Set the global providers, once: a second set is refused by the API (with a warning)."""
    global _capture, _missing
    if _capture is not None or _missing is not None:
        return
    try:
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import (
            Counter,
            Histogram,
            MeterProvider,
            ObservableCounter,
            ObservableGauge,
            ObservableUpDownCounter,
            UpDownCounter,
        )
        from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    except ImportError as exc:
        _missing = f"{_INSTALL_HINT} ({exc})"
        return
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    delta = AggregationTemporality.DELTA
    instruments = (
        Counter,
        UpDownCounter,
        Histogram,
        ObservableCounter,
        ObservableUpDownCounter,
        ObservableGauge,
    )
    reader = InMemoryMetricReader(preferred_temporality=dict.fromkeys(instruments, delta))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    _capture = OtelCapture(exporter, reader)


def pytest_configure(config: pytest.Config) -> None:
    _install()


@pytest.fixture(autouse=True)
def _no_spans_of_earlier_tests() -> None:
    if _capture is not None:
        _capture.reset()


@pytest.fixture
def otel() -> OtelCapture:
    """The spans and metrics recorded during this test."""
    if _capture is None:
        pytest.fail(_missing or _INSTALL_HINT)
    _capture.reset()
    return _capture
