"""The jamey-host plugin of the ``agent_orchestration`` connector: its hooks and its wiring.

At startup the plugin reads its settings, opens its registry (:mod:`.store`), its HTTPS transport
and protocol client (:mod:`.net`), and hands them to :class:`~.actions.Actions`; each call of
``execute_connector`` is then one action. Everything it opens belongs to one runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

from jamey_agent_orchestration.actions import SPEC, Actions
from jamey_agent_orchestration.breaker import Breakers, BreakerTransition
from jamey_agent_orchestration.delivery import (
    AuditFn,
    Clients,
    Deliverer,
    audit_transition,
    count_forgotten,
    count_transition,
)
from jamey_agent_orchestration.net.a2a import A2AClient
from jamey_agent_orchestration.net.jamey import JameyClient
from jamey_agent_orchestration.net.request import RequestSender
from jamey_agent_orchestration.net.retry import RetryPolicy
from jamey_agent_orchestration.net.transport import Transport
from jamey_agent_orchestration.settings import CONNECTOR_ID, AgentSettings
from jamey_agent_orchestration.store.base import AgentStore, open_store
from jamey_agent_orchestration.store.memory import MemoryAgentStore
from jamey_host import (
    SECRET_KEY_VAR,
    ConnectorResult,
    ConnectorSpec,
    ExecutionContext,
    Runtime,
    hookimpl,
)

__all__ = ["AgentOrchestrationPlugin"]


class AgentOrchestrationPlugin:
    """One instance per runtime: its registry, settings and HTTPS session belong to that runtime.

    ``retry_sleep`` is how the retry loop waits between attempts (``asyncio.sleep``). A test may
    pass one that records the pause and returns at once, as ``jamey_fake_agents`` does: the retry
    rules and the call's time budget count the pauses asked for, not the time they took.
    """

    def __init__(self, *, retry_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._retry_sleep = retry_sleep
        self.settings = AgentSettings()
        self.store: AgentStore = MemoryAgentStore()
        self.breakers = Breakers()
        self._transport: Transport | None = None
        self._health_task: asyncio.Task[None] | None = None
        # Until startup, every delivery fails with "the connector is not started".
        self._clients: Clients | None = None
        self._deliverer = Deliverer(None, self.breakers, max_concurrency=1)
        self._actions = self._wire()

    def _wire(self) -> Actions:
        return Actions(
            store=self.store,
            deliverer=self._deliverer,
            cards=None if self._clients is None else self._clients.a2a,
            breakers=self.breakers,
            allow_networks=self.settings.allow_networks,
        )

    @hookimpl
    def register_connectors(self) -> list[ConnectorSpec]:
        return [SPEC]

    @hookimpl
    async def runtime_startup(self, runtime: Runtime) -> None:
        audit: AuditFn = functools.partial(runtime.audit, connector=CONNECTOR_ID)
        self.settings = AgentSettings.from_mapping(runtime.settings_for(CONNECTOR_ID))

        def breaker_changed(transition: BreakerTransition) -> None:
            audit_transition(audit, transition)
            count_transition(transition)

        self.breakers = Breakers(
            self.settings.breaker_threshold,
            self.settings.breaker_cooldown,
            on_change=breaker_changed,
            on_forget=count_forgotten,
        )
        try:
            await self._open(runtime.config.state_dir, audit)
        except BaseException:
            await self.runtime_shutdown()  # the runtime never shuts down a plugin that failed
            raise
        if self.settings.allow_networks:
            audit(
                "agent_orchestration.allow_networks",
                outcome="warning",
                networks=[str(network) for network in self.settings.allow_networks],
                message="these networks are exempt from the private-address ban",
            )
        if self.settings.health_interval is not None:
            self._health_task = asyncio.create_task(
                self._deliverer.check_health_every(self.settings.health_interval, self.store, audit)
            )

    async def _open(self, state_dir: Path | None, audit: AuditFn) -> None:
        settings = self.settings

        def on_problem(agent_id: str, error: str) -> None:  # a stored record that is not usable
            audit("agent.registry_error", outcome="failure", agent_id=agent_id, error=error)

        store, created_key_file = await asyncio.to_thread(
            functools.partial(open_store, settings, state_dir, on_problem=on_problem)
        )
        if created_key_file is not None:
            audit(
                "agent_orchestration.key_file_created",
                outcome="warning",
                path=str(created_key_file),
                message="master key for API keys at rest created; back it up, or set "
                f"{SECRET_KEY_VAR}",
            )
        self.store = store
        await store.open()
        self._transport = Transport(settings)
        await self._transport.start()
        # One transport and one retry policy for both protocols: the same guarantees for each.
        policy = RetryPolicy.from_settings(settings, sleep=self._retry_sleep)
        sender = RequestSender(self._transport, policy)
        limit = settings.max_response_bytes
        self._clients = Clients(
            jamey=JameyClient(sender, max_response_bytes=limit),
            a2a=A2AClient(sender, max_response_bytes=limit),
        )
        self._deliverer = Deliverer(
            self._clients, self.breakers, max_concurrency=settings.max_concurrency
        )
        self._actions = self._wire()

    @hookimpl
    async def runtime_shutdown(self) -> None:
        health, self._health_task = self._health_task, None
        if health is not None:
            health.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await health
        transport, self._transport = self._transport, None
        self._clients = None
        self.breakers.forget_all()  # the open circuits of this runtime no longer count
        try:
            if transport is not None:
                await transport.close()
        finally:
            await self.store.close()

    @hookimpl
    def execute_connector(
        self, name: str, params: Mapping[str, str], context: ExecutionContext
    ) -> Coroutine[Any, Any, ConnectorResult]:
        # ``name`` is always this plugin's one connector; taking every argument of the hookspec
        # lets the runtime call this method as it is, without an adapter. It hands back the
        # actions' coroutine (the hookspec takes an awaitable) rather than awaiting it in a
        # coroutine of its own: a frame less for each resumption of the call while it waits.
        return self._actions.run(params, context)
