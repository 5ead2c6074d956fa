"""The seven actions of the ``agent_orchestration`` connector, one handler each.

:meth:`Actions.run` looks the ``action`` param up in :data:`HANDLERS`, runs its handler, and turns
the typed errors a handler raises into failed results, each audited:

- :class:`~jamey_agent_orchestration.model.SecurityViolation` (a refused URL, address or key):
  outcome ``denied``;
- :class:`~jamey_agent_orchestration.model.InvalidParams` (a missing or malformed param) and
  :class:`~jamey_agent_orchestration.model.AgentCardError` (an A2A card that could not be fetched
  or is not valid): outcome ``failure``;
- :class:`~jamey_agent_orchestration.store.RegistryError` (the registry cannot be used).

``get_task`` and ``cancel_task`` are A2A's; a ``jamey`` agent answers them with
``Action not supported by protocol jamey: ACTION``.

Any other exception is a bug: its type and stack are logged, never its message or arguments
(which could hold a key), and the call fails with a message that says so.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, Literal, final

from jamey_agent_orchestration.breaker import Breakers, BreakerState
from jamey_agent_orchestration.delivery import AuditFn, Deliverer
from jamey_agent_orchestration.durations import elapsed_ms
from jamey_agent_orchestration.model import (
    Agent,
    AgentCardError,
    ApiKey,
    InvalidParams,
    SecurityViolation,
    new_key_problem,
)
from jamey_agent_orchestration.net.a2a import A2AClient
from jamey_agent_orchestration.net.address_policy import validate_agent_url
from jamey_agent_orchestration.net.client import Delivery
from jamey_agent_orchestration.params import (
    SendTask,
    check_agent_id,
    parse_broadcast,
    parse_cancel_task,
    parse_get_task,
    parse_register,
    parse_send,
    parse_unregister,
)
from jamey_agent_orchestration.registration import describe_agent
from jamey_agent_orchestration.settings import CONNECTOR_ID, Network
from jamey_agent_orchestration.store.base import AgentStore, RegistryError
from jamey_host import (
    ActionSpec,
    CapabilityLevel,
    ConnectorResult,
    ConnectorSpec,
    ExecutionContext,
    ParamSpec,
)

__all__ = ["HANDLERS", "SPEC", "Actions"]

logger = logging.getLogger(__name__)

# The audit event of a refused call, by action: registrations share one name whatever refused them.
_REFUSED_EVENT: Final = {"register_agent": "agent.register_refused"}


@final
class Actions:
    """The actions of one runtime's connector, over its registry and its :class:`Deliverer`."""

    def __init__(
        self,
        *,
        store: AgentStore,
        deliverer: Deliverer,
        cards: A2AClient | None,
        breakers: Breakers,
        allow_networks: Sequence[Network],
    ) -> None:
        self._store = store
        self._deliverer = deliverer
        self._cards = cards  # fetches A2A agent cards at registration; None until started
        self._breakers = breakers
        self._allow_networks = allow_networks

    async def run(self, params: Mapping[str, str], context: ExecutionContext) -> ConnectorResult:
        """Run the action the ``action`` param names; never raises for a failed call."""
        action = params.get("action")
        if not action:
            return ConnectorResult.fail("Missing 'action' parameter")
        handler = HANDLERS.get(action)
        if handler is None:
            return ConnectorResult.fail(f"Unknown action: {action}")
        try:
            return await handler(self, params, context)
        except SecurityViolation as exc:
            return _refused(action, params, context, str(exc), outcome="denied")
        except (InvalidParams, AgentCardError) as exc:
            return _refused(action, params, context, str(exc), outcome="failure")
        except RegistryError as exc:
            context.audit("agent.registry_error", outcome="failure", error=str(exc))
            return ConnectorResult.fail(str(exc))
        except Exception as exc:  # a bug: say where, never what (its text could hold a key)
            kind = type(exc).__name__
            stack = "".join(traceback.format_tb(exc.__traceback__))
            logger.error("Unexpected %s in action %s:\n%s", kind, action, stack)  # noqa: TRY400 - exc_info would log the message
            return ConnectorResult.fail(f"Internal error of {CONNECTOR_ID} ({kind}); see its log")

    async def register_agent(
        self, params: Mapping[str, str], context: ExecutionContext
    ) -> ConnectorResult:
        request = parse_register(params)
        # The guide's order: the URL (HTTPS, address policy) first, then the key.
        url = validate_agent_url(request.url, self._allow_networks)
        api_key = ApiKey(request.api_key)
        problem = new_key_problem(request.api_key)
        if problem is not None:
            raise SecurityViolation(f"API key {problem}")
        if not request.replace and await self._store.get(request.agent_id) is not None:
            return self._already_registered(request.agent_id, context)  # before any card fetch
        registration = await describe_agent(
            request,
            url=url,
            api_key=api_key,
            cards=self._cards,
            allow_networks=self._allow_networks,
        )
        agent = registration.agent
        if request.replace:
            replaced = await self._store.replace(agent)
            self._breakers.forget(agent.id)  # a new address or key deserves a fresh start
        elif await self._store.insert(agent):
            replaced = False
        else:
            return self._already_registered(agent.id, context)
        context.audit(
            "agent.registered",
            outcome="success",
            agent_id=agent.id,
            origin=agent.origin,
            protocol=agent.protocol,
            capabilities=list(agent.capabilities),
            replaced=replaced,
            **_interface_details(agent),
        )
        return ConnectorResult.ok(
            "Agent registered successfully",
            warnings=list(registration.warnings),
            metadata={"agent_id": agent.id, "protocol": agent.protocol},
        )

    def _already_registered(self, agent_id: str, context: ExecutionContext) -> ConnectorResult:
        message = f"Agent already registered: {agent_id}"
        context.audit("agent.register_refused", outcome="failure", agent_id=agent_id, error=message)
        return ConnectorResult.fail(message)

    async def send_task(
        self, params: Mapping[str, str], context: ExecutionContext
    ) -> ConnectorResult:
        request = parse_send(params)
        if request.agent_id is not None:
            agent = await self._store.get(request.agent_id)
            if agent is None:
                check_agent_id(request.agent_id)  # a malformed id is named as such
                return ConnectorResult.fail(f"Agent not found: {request.agent_id}")
        else:
            assert request.capability is not None
            # An agent whose cooldown is over is not "unavailable": routing to it makes the probe.
            agent = await self._store.next_for_capability(
                request.capability, exclude=self._breakers.unavailable()
            )
            if agent is None:
                return ConnectorResult.fail(
                    f"No available agent offers capability: {request.capability}"
                )
        if agent.protocol == "jamey":
            _refuse_a2a_params(request)
        audit: AuditFn | None = context.audit if context.auditing else None
        # The delivery is described on the call's own connector.execute event (one line in the
        # trail per send_task); a broadcast, with many deliveries, audits each one separately.
        delivery = await self._deliverer.deliver(
            agent,
            request.task,
            request.params,
            audit,
            options=request.options,
            audit_delivery=False,
        )
        if audit is not None:
            context.annotate(
                agent_id=agent.id,
                origin=agent.origin,
                status=delivery.status,
                attempts=delivery.attempts,
            )
        return _result(agent, delivery)

    async def get_task(
        self, params: Mapping[str, str], context: ExecutionContext
    ) -> ConnectorResult:
        request = parse_get_task(params)
        return await self._task_query(
            context,
            request.agent_id,
            "get_task",
            lambda client, agent, key: client.get_task(
                agent, request.task_id, history_length=request.history_length, idempotency_key=key
            ),
        )

    async def cancel_task(
        self, params: Mapping[str, str], context: ExecutionContext
    ) -> ConnectorResult:
        request = parse_cancel_task(params)
        return await self._task_query(
            context,
            request.agent_id,
            "cancel_task",
            lambda client, agent, key: client.cancel_task(
                agent, request.task_id, idempotency_key=key
            ),
        )

    async def _task_query(
        self,
        context: ExecutionContext,
        agent_id: str,
        action: str,
        send: Callable[[A2AClient, Agent, str], Awaitable[Delivery]],
    ) -> ConnectorResult:
        """A query of an A2A agent's task: ``send(client, agent, idempotency_key)`` makes it."""
        agent = await self._a2a_agent(agent_id, action)
        if isinstance(agent, ConnectorResult):
            return agent
        delivery = await self._deliverer.query(
            agent,
            lambda client, key: send(client, agent, key),
            context.audit if context.auditing else None,
        )
        self._annotate(context, agent, delivery)
        return _result(agent, delivery)

    async def _a2a_agent(self, agent_id: str, action: str) -> Agent | ConnectorResult:
        """The A2A agent a task query is for, or the failed result that says why there is none."""
        agent = await self._store.get(agent_id)
        if agent is None:
            check_agent_id(agent_id)
            return ConnectorResult.fail(f"Agent not found: {agent_id}")
        if agent.protocol != "a2a":
            return ConnectorResult.fail(
                f"Action not supported by protocol {agent.protocol}: {action}"
            )
        return agent

    @staticmethod
    def _annotate(context: ExecutionContext, agent: Agent, delivery: Delivery) -> None:
        """What a task query did, on the call's own connector.execute event."""
        if context.auditing:
            context.annotate(
                agent_id=agent.id,
                origin=agent.origin,
                status=delivery.status,
                attempts=delivery.attempts,
                task_id=delivery.metadata.get("task_id"),
            )

    async def broadcast(
        self, params: Mapping[str, str], context: ExecutionContext
    ) -> ConnectorResult:
        request = parse_broadcast(params)
        agents = await self._store.list()
        if request.capability is not None:
            agents = [agent for agent in agents if agent.offers(request.capability)]
        started = time.perf_counter()
        audit: AuditFn | None = context.audit if context.auditing else None
        deliveries = await self._deliverer.deliver_all(agents, request.task, request.params, audit)
        contacted = [
            agent.id
            for agent, delivery in zip(agents, deliveries, strict=True)
            if delivery.contacted
        ]
        succeeded = sum(1 for delivery in deliveries if delivery.ok)
        failed = len(deliveries) - succeeded
        context.audit(
            "agent.broadcast",
            outcome="success" if failed == 0 else "warning",
            task=request.task,
            agents=len(agents),
            succeeded=succeeded,
            failed=failed,
            duration_ms=elapsed_ms(started),
        )
        warnings = [
            f"{agent.id}: {delivery.warning}"
            for agent, delivery in zip(agents, deliveries, strict=True)
            if delivery.warning is not None
        ]
        return ConnectorResult.ok(
            _answers_json(agents, deliveries),
            warnings=warnings if agents else ["No agents to broadcast to"],
            agents_contacted=contacted,
            metadata={
                "succeeded": str(succeeded),
                "failed": str(failed),
                "total": str(len(agents)),
            },
        )

    async def list_agents(
        self, params: Mapping[str, str], context: ExecutionContext
    ) -> ConnectorResult:
        agents = await self._store.list()
        return ConnectorResult.ok(
            json.dumps([self._listing(agent) for agent in agents]),
            metadata={"count": str(len(agents))},
        )

    def _listing(self, agent: Agent) -> dict[str, Any]:
        # An agent whose circuit is closed is listed with the contract's four fields; "health"
        # appears while its circuit is open or half-open.
        shown = agent.public()
        if self._breakers.state(agent.id) is not BreakerState.CLOSED:
            shown["health"] = self._breakers.health(agent.id)
        return shown

    async def unregister_agent(
        self, params: Mapping[str, str], context: ExecutionContext
    ) -> ConnectorResult:
        request = parse_unregister(params)
        if not await self._store.delete(request.agent_id):
            return ConnectorResult.fail(f"Agent not found: {request.agent_id}")
        self._breakers.forget(request.agent_id)
        context.audit("agent.unregistered", outcome="success", agent_id=request.agent_id)
        return ConnectorResult.ok("Agent unregistered successfully")


Handler = Callable[[Actions, Mapping[str, str], ExecutionContext], Awaitable[ConnectorResult]]

#: The handler of each action, in the order the spec lists them.
HANDLERS: Final[Mapping[str, Handler]] = {
    "register_agent": Actions.register_agent,
    "send_task": Actions.send_task,
    "broadcast": Actions.broadcast,
    "list_agents": Actions.list_agents,
    "unregister_agent": Actions.unregister_agent,
    "get_task": Actions.get_task,
    "cancel_task": Actions.cancel_task,
}

_AGENT_ID: Final = "1 to 128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit"
_TASK_PARAMS: Final = ParamSpec(
    "param_*", "task params: param_NAME=VALUE reaches the agent as NAME=VALUE"
)

#: What each action takes, in the order of HANDLERS. Outputs: JSON text for send_task,
#: broadcast, list_agents, get_task and cancel_task; a sentence for register_agent and
#: unregister_agent.
SPEC: Final = ConnectorSpec(
    id=CONNECTOR_ID,
    name="Agent orchestration",
    version="0.1.0",
    description="Delegates tasks to remote AI agents over verified HTTPS",
    capability_level=CapabilityLevel.AGENT_ORCHESTRATION,
    requires_approval=False,
    actions=(
        ActionSpec(
            "register_agent",
            "Register a remote agent; output: the text 'Agent registered successfully'",
            params=(
                ParamSpec("agent_id", f"unique id: {_AGENT_ID}", required=True),
                ParamSpec(
                    "name", "human-readable name; required for a jamey agent (A2A: the card's)"
                ),
                ParamSpec(
                    "url",
                    "https://host[:port][/base]; tasks go to {url}/api/v1/tasks (jamey), the "
                    "agent card is at {url}/.well-known/agent-card.json (a2a)",
                    required=True,
                ),
                ParamSpec(
                    "api_key",
                    "the agent's key, sent as 'Authorization: Bearer ...' (or the header an A2A "
                    "card names); never shown",
                    required=True,
                    secret=True,
                ),
                ParamSpec(
                    "capabilities",
                    "comma-separated, e.g. summarize,translate (A2A: the card's skill ids and "
                    "tags when not given)",
                ),
                ParamSpec("replace", "true overwrites an agent with this id (a new URL or key)"),
                ParamSpec("protocol", "jamey (the default) or a2a (registered from its card)"),
            ),
        ),
        ActionSpec(
            "send_task",
            "Send a task to one agent, by agent_id or by capability (round-robin); "
            "output: the agent's answer, as JSON",
            params=(
                ParamSpec("task", "the task name the agent understands", required=True),
                ParamSpec("agent_id", "send to this agent (give agent_id or capability)"),
                ParamSpec("capability", "send to the next agent offering it, in turn"),
                _TASK_PARAMS,
                ParamSpec("context_id", "A2A: the context the message joins"),
                ParamSpec("task_id", "A2A: the task to continue (one that asked for input)"),
                ParamSpec(
                    "wait",
                    "A2A: true (the default) waits for the task to end or ask for input; false "
                    "answers at once (poll it with get_task)",
                ),
            ),
        ),
        ActionSpec(
            "broadcast",
            "Send a task to every agent at once; output: a JSON object "
            '{agent_id: answer or {"error": message}}',
            params=(
                ParamSpec("task", "the task name", required=True),
                ParamSpec("capability", "only the agents offering it"),
                _TASK_PARAMS,
            ),
        ),
        ActionSpec(
            "list_agents",
            "List the registered agents; output: a JSON list of "
            "{id, name, url, capabilities, protocol}",
        ),
        ActionSpec(
            "unregister_agent",
            "Remove an agent; output: the text 'Agent unregistered successfully'",
            params=(ParamSpec("agent_id", "the agent to remove", required=True),),
        ),
        ActionSpec(
            "get_task",
            "A2A agents: the task as it is now; output: the Task, as JSON",
            params=(
                ParamSpec("agent_id", "the A2A agent running the task", required=True),
                ParamSpec("task_id", "the task's id (send_task's metadata task_id)", required=True),
                ParamSpec("history_length", "how many history entries to keep, 0 to 10000"),
            ),
        ),
        ActionSpec(
            "cancel_task",
            "A2A agents: cancel a task; output: the Task (then canceled), as JSON",
            params=(
                ParamSpec("agent_id", "the A2A agent running the task", required=True),
                ParamSpec("task_id", "the task's id (send_task's metadata task_id)", required=True),
            ),
        ),
    ),
)


def _refused(
    action: str,
    params: Mapping[str, str],
    context: ExecutionContext,
    message: str,
    *,
    outcome: Literal["denied", "failure"],
) -> ConnectorResult:
    context.audit(
        _REFUSED_EVENT.get(action, f"agent.{action}_refused"),
        outcome=outcome,
        agent_id=params.get("agent_id") or None,
        error=message,
    )
    return ConnectorResult.fail(message)


def _refuse_a2a_params(request: SendTask) -> None:
    """A ``jamey`` agent cannot join a context, continue a task, or answer before it is done."""
    options = request.options
    for param in request.a2a_given:
        if param != "wait" or (options is not None and not options.wait):
            raise InvalidParams(f"Param not supported by protocol jamey: {param}")


def _interface_details(agent: Agent) -> dict[str, str]:
    """An A2A agent's interface, for its ``agent.registered`` event: binding and origin only."""
    if agent.endpoint is None:
        return {}
    return {"binding": agent.binding or "", "endpoint_origin": str(agent.endpoint.origin())}


def _result(agent: Agent, delivery: Delivery) -> ConnectorResult:
    """The result of one request to one agent: the answer as output, or the error.

    An A2A Task that failed stays in ``output`` beside its error; the delivery's metadata (A2A's
    ``protocol``, ``task_id``, ``context_id``, ``state``) joins the result's.
    """
    metadata = {"agent_id": agent.id, "attempts": str(delivery.attempts)}
    if delivery.status is not None:
        metadata["status"] = str(delivery.status)
    metadata.update(delivery.metadata)
    contacted = [agent.id] if delivery.contacted else []
    warnings = [] if delivery.warning is None else [delivery.warning]
    if not delivery.ok:
        assert delivery.error is not None
        return ConnectorResult.fail(
            delivery.error,
            output=delivery.text or "",
            warnings=warnings,
            agents_contacted=contacted,
            metadata=metadata,
        )
    return ConnectorResult.ok(
        _answer(delivery), warnings=warnings, agents_contacted=contacted, metadata=metadata
    )


def _answer(delivery: Delivery) -> str:
    """The agent's own JSON text: valid (the client parsed it), and not encoded twice."""
    return delivery.text if delivery.text is not None else json.dumps(delivery.response)


def _answers_json(agents: Sequence[Agent], deliveries: Sequence[Delivery]) -> str:
    """``{agent_id: answer or {"error": message}}`` as JSON, reusing each agent's own text.

    An agent's answer is its JSON, or an A2A agent's Task or Message (a failed Task too).
    Splicing the texts is safe because the client parsed each one as strict JSON (no NaN, no
    Infinity) before returning it.
    """
    parts = []
    for agent, delivery in zip(agents, deliveries, strict=True):
        if delivery.text is not None:
            answer = delivery.text
        elif delivery.ok:
            answer = json.dumps(delivery.response)
        else:
            answer = json.dumps({"error": delivery.error})
        parts.append(f"{json.dumps(agent.id)}:{answer}")
    return "{" + ",".join(parts) + "}"
