"""Delivering tasks: through each agent's circuit breaker, to many agents at once, and unasked.

:class:`Deliverer` is where the connector's actions hand a task over to the network: it asks the
agent's breaker, sends through the protocol client, tells the breaker how it went, and audits the
delivery. ``broadcast`` and the periodic health checks use its pool of workers.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final, final

from jamey_agent_orchestration.breaker import Breakers, BreakerState, BreakerTransition
from jamey_agent_orchestration.durations import elapsed_ms
from jamey_agent_orchestration.model import Agent
from jamey_agent_orchestration.net.client import AgentClient, Delivery, FailureKind
from jamey_agent_orchestration.store.base import AgentStore, RegistryError

__all__ = ["HEALTH_CHECK_TASK", "AuditFn", "Deliverer", "audit_transition"]

#: Emits one audit event: ``audit(event, outcome=..., **details)`` (a context's or the runtime's).
AuditFn = Callable[..., None]

#: The task the periodic health checks send (the reference agent answers it).
HEALTH_CHECK_TASK: Final = "health_check"

_NOT_STARTED: Final = "Failed to send task to agent: the connector is not started"


@final
class Deliverer:
    """Sends tasks to agents through their circuit breakers; never raises for a failed delivery.

    ``client`` is ``None`` until the plugin has started (every delivery then fails, saying so).
    """

    def __init__(
        self, client: AgentClient | None, breakers: Breakers, *, max_concurrency: int
    ) -> None:
        self._client = client
        self._breakers = breakers
        self._max_concurrency = max_concurrency

    async def deliver(
        self, agent: Agent, task: str, params: Mapping[str, str], audit: AuditFn | None
    ) -> Delivery:
        """Send one task to one agent through its circuit breaker, and audit the outcome.

        ``audit`` is ``None`` when no sink listens, so the details are not even built. They name
        the origin only (scheme://host:port), never a key or a header.
        """
        client = self._client
        if client is None:
            return Delivery(ok=False, error=_NOT_STARTED, failure=FailureKind.CONNECTION)
        breakers = self._breakers
        if not breakers.allow(agent.id):
            message = breakers.open_message(agent.id)
            if audit is not None:
                audit("agent.task_refused", outcome="failure", agent_id=agent.id, error=message)
            return Delivery(ok=False, error=message)
        started = time.perf_counter() if audit is not None else 0.0
        delivery = await client.send_task(
            agent,
            task,
            params,
            idempotency_key=os.urandom(16).hex(),  # as unique as uuid4
        )
        if delivery.ok:
            breakers.record_success(agent.id)
        elif delivery.failure is not None:
            breakers.record_failure(agent.id, delivery.failure)
        if audit is not None:
            audit(
                "agent.task_sent" if delivery.ok else "agent.task_failed",
                outcome="success" if delivery.ok else "failure",
                agent_id=agent.id,
                task=task,
                param_names=sorted(params),
                origin=agent.origin,
                status=delivery.status,
                attempts=delivery.attempts,
                duration_ms=elapsed_ms(started),
                error=delivery.error,
            )
        return delivery

    async def deliver_all(
        self,
        agents: Sequence[Agent],
        task: str,
        params: Mapping[str, str],
        audit: AuditFn | None,
    ) -> list[Delivery]:
        """Deliver to every agent, ``max_concurrency`` at a time; the deliveries in agent order.

        A fixed pool of workers takes the agents in turn, rather than one task per agent waiting
        on a semaphore: a broadcast to 1,000 agents keeps 64 deliveries' objects alive, not
        1,000, and so pays for far fewer garbage collections.
        """
        deliveries: list[Delivery | None] = [None] * len(agents)
        turns = iter(range(len(agents)))  # shared: each index is taken by exactly one worker

        async def worker() -> None:
            for index in turns:
                deliveries[index] = await self.deliver(agents[index], task, params, audit)

        async with asyncio.TaskGroup() as group:  # one failing worker stops the others
            for _ in range(min(self._max_concurrency, len(agents))):
                group.create_task(worker())
        return [delivery for delivery in deliveries if delivery is not None]  # all are set

    async def check_health_every(self, interval: float, store: AgentStore, audit: AuditFn) -> None:
        """Send ``health_check`` to every agent each ``interval`` seconds, feeding the breakers."""
        while True:
            await asyncio.sleep(interval)
            try:
                agents = await store.list()
                await self.deliver_all(agents, HEALTH_CHECK_TASK, {}, audit)
            except RegistryError as exc:
                audit("agent.health_check_failed", outcome="failure", error=str(exc))


def audit_transition(audit: AuditFn, transition: BreakerTransition) -> None:
    """Audit a breaker's change of state (``agent.circuit_open``, ``_half_open``, ``_closed``)."""
    audit(
        f"agent.circuit_{transition.state.value}",
        outcome="warning" if transition.state is BreakerState.OPEN else "info",
        agent_id=transition.agent_id,
        previous=transition.previous.value,
        consecutive_failures=transition.consecutive_failures,
        failure=None if transition.failure is None else transition.failure.value,
    )
