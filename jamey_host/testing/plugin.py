"""The ``pytest11`` plugin of jamey-host: fixtures for connector tests.

pytest imports this module in every run of an environment where jamey-host is installed, so it
imports only pytest and jamey_host at its top (pytest-asyncio under ``try``), defines no autouse
fixture, and its hooks do nothing for a test that uses none of its fixtures.

``jamey_runtime`` is an async factory of started runtimes, each closed after the test::

    async def test_echo(jamey_runtime, jamey_audit_events):
        runtime = await jamey_runtime(EchoPlugin(), settings={"echo": {"prefix": ">"}})
        result = await runtime.execute_connector("echo", {"action": "echo"})
        assert jamey_audit_events.named("connector.execute")
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Final, Protocol

import attrs
import pytest

from jamey_host import AuditEvent, CapabilityLevel, Runtime, RuntimeConfig, hookimpl
from jamey_host.loading import instantiate

_async_fixture: Callable[..., Any]
try:
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # the hook below turns a use of the fixtures into a clear failure
    _async_fixture = pytest.fixture

__all__ = [
    "MISSING_ASYNCIO_MESSAGE",
    "AuditEventList",
    "RuntimeFactory",
    "jamey_audit_events",
    "jamey_runtime",
]

#: The name under which pytest-asyncio registers its pytest plugin.
_ASYNCIO_PLUGIN: Final = "asyncio"
_OWN_FIXTURES: Final = frozenset({"jamey_runtime"})

MISSING_ASYNCIO_MESSAGE: Final = (
    "jamey_runtime and the ConnectorContract battery need pytest-asyncio, which is not active "
    "in this run: install it with `pip install 'jamey-host[testing]'` (and do not disable it "
    "with `-p no:asyncio`)"
)


class AuditEventList(list[AuditEvent]):
    """The ``jamey_audit_events`` fixture: a plain list of events, in the order emitted."""

    def named(self, *names: str) -> list[AuditEvent]:
        """The events whose ``event`` is one of ``names``."""
        return [event for event in self if event.event in names]


class RuntimeFactory(Protocol):
    """The type of the ``jamey_runtime`` fixture."""

    async def __call__(
        self,
        *plugins: object,
        capabilities: Iterable[CapabilityLevel] | None = None,
        settings: Mapping[str, Mapping[str, str]] | None = None,
        load_entrypoints: bool = False,
        config: RuntimeConfig | None = None,
    ) -> Runtime: ...


class JameyTestingAuditRecorder:
    """The audit sink that ``jamey_runtime`` adds to every runtime it makes."""

    def __init__(self, events: list[AuditEvent]) -> None:
        self.events = events

    @hookimpl
    def audit_event(self, event: AuditEvent) -> None:
        self.events.append(event)


def _runtime_config(
    config: RuntimeConfig | None,
    capabilities: Iterable[CapabilityLevel] | None,
    settings: Mapping[str, Mapping[str, str]] | None,
) -> RuntimeConfig:
    base = config if config is not None else RuntimeConfig()
    changes: dict[str, Any] = {}
    if capabilities is not None:
        changes["granted_capabilities"] = frozenset(capabilities)
    if settings is not None:
        changes["connector_settings"] = settings
    return attrs.evolve(base, **changes) if changes else base


@pytest.fixture
def jamey_audit_events() -> AuditEventList:
    """Every ``AuditEvent`` emitted by the runtimes that ``jamey_runtime`` made in this test."""
    return AuditEventList()


@_async_fixture
async def jamey_runtime(jamey_audit_events: AuditEventList) -> AsyncIterator[RuntimeFactory]:
    """Async factory of started runtimes: ``await jamey_runtime(*plugins, ...)``.

    ``capabilities`` (default: the runtime's default grant) and ``settings`` (a
    ``connector_settings`` mapping) override the matching fields of ``config``. Installed entry
    points are loaded only with ``load_entrypoints=True``. A plugin class is instantiated, so
    each runtime gets its own instance. Every runtime made is closed after the test, newest first.
    """
    runtimes: list[Runtime] = []

    async def factory(
        *plugins: object,
        capabilities: Iterable[CapabilityLevel] | None = None,
        settings: Mapping[str, Mapping[str, str]] | None = None,
        load_entrypoints: bool = False,
        config: RuntimeConfig | None = None,
    ) -> Runtime:
        objects = [instantiate(plugin) for plugin in plugins]  # a failing class raises here
        runtime = Runtime(
            _runtime_config(config, capabilities, settings),
            plugins=[JameyTestingAuditRecorder(jamey_audit_events), *objects],
            load_entrypoints=load_entrypoints,
        )
        await runtime.start()  # on failure the runtime has closed itself
        runtimes.append(runtime)
        return runtime

    try:
        yield factory
    finally:
        errors: list[BaseException] = []
        for runtime in reversed(runtimes):
            try:
                await runtime.close()
            except Exception as exc:  # close every runtime before reporting
                errors.append(exc)
        if errors:
            raise errors[0]


def _asyncio_active(config: pytest.Config) -> bool:
    return config.pluginmanager.hasplugin(_ASYNCIO_PLUGIN)


def pytest_configure(config: pytest.Config) -> None:
    if not _asyncio_active(config):
        # The battery's tests carry the asyncio marker; without pytest-asyncio, --strict-markers
        # would reject it at collection with a message that does not say what is missing.
        config.addinivalue_line(
            "markers", "asyncio: run the test in an event loop (pytest-asyncio)"
        )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if _OWN_FIXTURES.isdisjoint(getattr(item, "fixturenames", ())):
        return
    if not _asyncio_active(item.config):
        pytest.fail(MISSING_ASYNCIO_MESSAGE, pytrace=False)
