"""The ``agent_orchestration`` connector: the jamey-host plugin and its five actions."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any, Final

import yarl

from jamey_agent_orchestration.address_policy import validate_agent_url
from jamey_agent_orchestration.agents import Agent
from jamey_agent_orchestration.errors import SecurityViolation
from jamey_agent_orchestration.registry import AgentStore, MemoryAgentStore
from jamey_agent_orchestration.requests import (
    InvalidParams,
    parse_broadcast,
    parse_register,
    parse_send,
    parse_unregister,
)
from jamey_agent_orchestration.retries import FailureKind
from jamey_agent_orchestration.settings import CONNECTOR_ID, AgentSettings
from jamey_agent_orchestration.transport import AgentTransport, Delivery
from jamey_host import (
    CapabilityLevel,
    ConnectorResult,
    ConnectorSpec,
    ExecutionContext,
    Runtime,
    hookimpl,
)

log = logging.getLogger(__name__)

ACTIONS: Final = ("register_agent", "send_task", "broadcast", "list_agents", "unregister_agent")

SPEC: Final = ConnectorSpec(
    id=CONNECTOR_ID,
    name="Agent orchestration",
    version="0.1.0",
    description="Delegates tasks to remote AI agents over verified HTTPS",
    capability_level=CapabilityLevel.AGENT_ORCHESTRATION,
    requires_approval=False,
    actions=ACTIONS,
)


def _contacted(agent: Agent, delivery: Delivery) -> bool:
    # An address refused by policy was never dialled: nothing was sent to that agent.
    return delivery.attempts > 0 and delivery.failure is not FailureKind.SECURITY


class AgentOrchestrationPlugin:
    """One instance per runtime: its registry, settings and HTTPS session belong to that runtime."""

    def __init__(self) -> None:
        self.settings = AgentSettings()
        self.store: AgentStore = MemoryAgentStore()
        self._transport: AgentTransport | None = None

    # -- hooks -----------------------------------------------------------------------------

    @hookimpl
    def register_connectors(self) -> list[ConnectorSpec]:
        return [SPEC]

    @hookimpl
    async def runtime_startup(self, runtime: Runtime) -> None:
        self.settings = AgentSettings.from_mapping(runtime.settings_for(CONNECTOR_ID))
        await self.store.open()
        transport = AgentTransport(self.settings)
        await transport.start()
        self._transport = transport
        if self.settings.allow_networks:
            runtime.audit(
                "agent_orchestration.allow_networks",
                outcome="warning",
                connector=CONNECTOR_ID,
                networks=[str(network) for network in self.settings.allow_networks],
                message="these networks are exempt from the private-address ban",
            )

    @hookimpl
    async def runtime_shutdown(self) -> None:
        transport, self._transport = self._transport, None
        try:
            if transport is not None:
                await transport.close()
        finally:
            await self.store.close()

    @hookimpl
    async def execute_connector(
        self, params: Mapping[str, str], context: ExecutionContext
    ) -> ConnectorResult:
        action = params.get("action")
        if not action:
            return ConnectorResult.fail("Missing 'action' parameter")
        try:
            if action == "register_agent":
                return await self._register(params, context)
            if action == "send_task":
                return await self._send(params, context)
            if action == "broadcast":
                return await self._broadcast(params, context)
            if action == "list_agents":
                return await self._list()
            if action == "unregister_agent":
                return await self._unregister(params, context)
        except InvalidParams as exc:
            context.audit(f"agent.{action}_refused", outcome="failure", error=str(exc))
            return ConnectorResult.fail(str(exc))
        return ConnectorResult.fail(f"Unknown action: {action}")

    # -- actions ---------------------------------------------------------------------------

    async def _register(
        self, params: Mapping[str, str], context: ExecutionContext
    ) -> ConnectorResult:
        request = parse_register(params)
        try:
            url = validate_agent_url(request.url, self.settings.allow_networks)
        except SecurityViolation as exc:
            context.audit(
                "agent.register_refused",
                outcome="denied",
                agent_id=request.agent_id,
                error=str(exc),
            )
            return ConnectorResult.fail(str(exc))
        agent = Agent(
            id=request.agent_id,
            name=request.name,
            url=str(url),
            api_key=request.api_key,
            capabilities=request.capabilities,
        )
        if request.replace:
            replaced = await self.store.replace(agent)
        elif not await self.store.insert(agent):
            message = f"Agent already registered: {agent.id}"
            context.audit(
                "agent.register_refused", outcome="failure", agent_id=agent.id, error=message
            )
            return ConnectorResult.fail(message)
        else:
            replaced = False
        context.audit(
            "agent.registered",
            outcome="success",
            agent_id=agent.id,
            origin=agent.origin(),
            capabilities=list(agent.capabilities),
            replaced=replaced,
        )
        return ConnectorResult.ok("Agent registered successfully", metadata={"agent_id": agent.id})

    async def _unregister(
        self, params: Mapping[str, str], context: ExecutionContext
    ) -> ConnectorResult:
        request = parse_unregister(params)
        if not await self.store.delete(request.agent_id):
            return ConnectorResult.fail(f"Agent not found: {request.agent_id}")
        context.audit("agent.unregistered", outcome="success", agent_id=request.agent_id)
        return ConnectorResult.ok("Agent unregistered successfully")

    async def _list(self) -> ConnectorResult:
        agents = await self.store.list()
        return ConnectorResult.ok(
            json.dumps([agent.public() for agent in agents]), metadata={"count": str(len(agents))}
        )

    async def _send(self, params: Mapping[str, str], context: ExecutionContext) -> ConnectorResult:
        request = parse_send(params)
        if request.agent_id is not None:
            agent = await self.store.get(request.agent_id)
            if agent is None:
                return ConnectorResult.fail(f"Agent not found: {request.agent_id}")
        else:
            assert request.capability is not None
            agent = await self.store.next_for_capability(request.capability)
            if agent is None:
                return ConnectorResult.fail(f"No agent offers capability: {request.capability}")
        delivery = await self._deliver(agent, request.task, request.params, context)
        contacted = [agent.id] if _contacted(agent, delivery) else []
        metadata = {"agent_id": agent.id, "attempts": str(delivery.attempts)}
        if delivery.status is not None:
            metadata["status"] = str(delivery.status)
        if not delivery.ok:
            assert delivery.error is not None
            return ConnectorResult.fail(
                delivery.error, agents_contacted=contacted, metadata=metadata
            )
        return ConnectorResult.ok(
            json.dumps(delivery.response), agents_contacted=contacted, metadata=metadata
        )

    async def _broadcast(
        self, params: Mapping[str, str], context: ExecutionContext
    ) -> ConnectorResult:
        request = parse_broadcast(params)
        agents = await self.store.list()
        if request.capability is not None:
            agents = [agent for agent in agents if agent.offers(request.capability)]
        started = time.perf_counter()
        limit = asyncio.Semaphore(self.settings.max_concurrency)

        async def one(agent: Agent) -> Delivery:
            async with limit:
                return await self._deliver(agent, request.task, request.params, context)

        deliveries = await asyncio.gather(*(one(agent) for agent in agents))
        output: dict[str, Any] = {}
        contacted: list[str] = []
        for agent, delivery in zip(agents, deliveries, strict=True):
            output[agent.id] = delivery.response if delivery.ok else {"error": delivery.error}
            if _contacted(agent, delivery):
                contacted.append(agent.id)
        succeeded = sum(1 for delivery in deliveries if delivery.ok)
        failed = len(deliveries) - succeeded
        context.audit(
            "agent.broadcast",
            outcome="success" if failed == 0 else "warning",
            task=request.task,
            agents=len(agents),
            succeeded=succeeded,
            failed=failed,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        warnings = [] if agents else ["No agents to broadcast to"]
        return ConnectorResult.ok(
            json.dumps(output),
            warnings=warnings,
            agents_contacted=contacted,
            metadata={
                "succeeded": str(succeeded),
                "failed": str(failed),
                "total": str(len(agents)),
            },
        )

    async def _deliver(
        self, agent: Agent, task: str, params: Mapping[str, str], context: ExecutionContext
    ) -> Delivery:
        """Send one task to one agent and audit the outcome (origin only, never a key or header)."""
        if self._transport is None:
            return Delivery(
                ok=False,
                error="Failed to send task to agent: the connector is not started",
                failure=FailureKind.CONNECTION,
            )
        started = time.perf_counter()
        delivery = await self._transport.deliver(
            url=yarl.URL(agent.url),
            api_key=agent.api_key,
            task=task,
            params=params,
            idempotency_key=uuid.uuid4().hex,
        )
        context.audit(
            "agent.task_sent" if delivery.ok else "agent.task_failed",
            outcome="success" if delivery.ok else "failure",
            agent_id=agent.id,
            task=task,
            param_names=sorted(params),
            origin=agent.origin(),
            status=delivery.status,
            attempts=delivery.attempts,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            error=delivery.error,
        )
        return delivery
