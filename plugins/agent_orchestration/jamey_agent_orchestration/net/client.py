"""What a protocol client promises the connector, and what it reports back.

The connector sends a task to an agent through an :class:`AgentClient`: the ``jamey`` protocol's
:class:`~jamey_agent_orchestration.net.jamey.JameyClient`, or A2A's
:class:`~jamey_agent_orchestration.net.a2a.A2AClient`, which implements the same method (and the
task queries only A2A has). Whatever the protocol, the answer is a :class:`Delivery`, built from
one :class:`Attempt` per request, and a failure has a :class:`FailureKind` that the retry rules
and the circuit breakers read.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final, Protocol, final

import attrs

from jamey_agent_orchestration.model import Agent

__all__ = ["DEFAULT_OPTIONS", "AgentClient", "Attempt", "Delivery", "FailureKind", "SendOptions"]


class FailureKind(enum.Enum):
    """Why a delivery failed; the circuit breaker counts :attr:`counts_against_health` kinds."""

    CONNECTION = "connection"
    TIMEOUT = "timeout"
    TLS = "tls"
    SECURITY = "security"
    STATUS_4XX = "status_4xx"
    STATUS_5XX = "status_5xx"
    REDIRECT = "redirect"
    BAD_RESPONSE = "bad_response"
    #: The agent answered, and refused or failed the request: an A2A error object, or a task
    #: that ended FAILED, REJECTED or CANCELED. The agent is reachable; nothing is retried.
    AGENT_ERROR = "agent_error"

    @property
    def counts_against_health(self) -> bool:
        """Whether this failure says the agent is unhealthy (not merely that the request was)."""
        return self in _HEALTH_FAILURES


_HEALTH_FAILURES: Final = frozenset(
    {FailureKind.CONNECTION, FailureKind.TIMEOUT, FailureKind.STATUS_5XX, FailureKind.TLS}
)


@attrs.define(kw_only=True)
class Delivery:
    """The outcome of one request to one agent (a task, or an A2A task query), after any retries.

    Built by the protocol client and not changed once it is returned. ``ok`` is the contract's
    success rule for the request. ``text`` is the JSON text of what the agent answered, as the
    result's output: the ``jamey`` agent's body when ok, the A2A Task or Message object (a failed
    Task too). ``error`` and ``warning`` are safe messages in the contract's wording (never a key or
    a header); ``metadata`` is what the protocol adds to the result's (A2A: ``protocol``,
    ``task_id``, ``context_id``, ``state``). ``attempts`` counts the requests actually sent (or at
    least dialled); ``scrubbed`` says the agent sent its key back and it was scrubbed out.
    """

    ok: bool
    response: object = None  # the parsed answer, when ok
    text: str | None = None
    error: str | None = None
    warning: str | None = None
    metadata: Mapping[str, str] = attrs.field(factory=dict)
    status: int | None = None  # the last HTTP status seen, if any
    attempts: int = 0
    failure: FailureKind | None = None
    scrubbed: bool = False

    @property
    def contacted(self) -> bool:
        """Whether a request reached the agent (a refused address or an open circuit: no)."""
        return self.attempts > 0 and self.failure is not FailureKind.SECURITY


# Built for every request: a plain slotted class, not a frozen attrs one, whose __init__ would
# pay an object.__setattr__ call per field.
@final
class Attempt:
    """The outcome of one request, as a protocol client reads it and the retry loop judges it.

    ``sent`` is False when nothing was dialled (an address refused before any socket existed, a
    name that does not resolve); ``retry_after`` is the agent's ``Retry-After``, in seconds.
    ``task_id`` and ``task_state`` are those of the A2A Task an answer holds, read once by the
    protocol client, for the attempt's trace span.
    """

    __slots__ = (
        "error",
        "failure",
        "ok",
        "response",
        "retry_after",
        "sent",
        "status",
        "task_id",
        "task_state",
        "text",
    )

    def __init__(
        self,
        *,
        ok: bool,
        response: object = None,
        text: str | None = None,
        error: str | None = None,
        status: int | None = None,
        failure: FailureKind | None = None,
        sent: bool = True,
        retry_after: float | None = None,
        task_id: str | None = None,
        task_state: str | None = None,
    ) -> None:
        self.ok = ok
        self.response = response
        self.text = text
        self.error = error
        self.status = status
        self.failure = failure
        self.sent = sent
        self.retry_after = retry_after
        self.task_id = task_id
        self.task_state = task_state

    @classmethod
    def failed(
        cls,
        kind: FailureKind,
        error: str,
        *,
        status: int | None = None,
        sent: bool = True,
        retry_after: float | None = None,
    ) -> Attempt:
        return cls(
            ok=False,
            error=error,
            status=status,
            failure=kind,
            sent=sent,
            retry_after=retry_after,
        )

    def __repr__(self) -> str:
        return f"Attempt(ok={self.ok!r}, status={self.status!r}, error={self.error!r})"


@final
@attrs.frozen(kw_only=True)
class SendOptions:
    """What A2A adds to a task: the context to join, the task to continue, whether to wait.

    ``wait=True`` waits for a terminal or interrupted state; ``False`` asks the agent to answer at
    once. A ``jamey`` agent takes none of these (it always waits for its answer).
    """

    context_id: str | None = None
    task_id: str | None = None
    wait: bool = True


#: The options of a task that asks for nothing more: what a broadcast and a health check send.
DEFAULT_OPTIONS: Final = SendOptions()


class AgentClient(Protocol):
    """Sends one task to one agent, with the protocol's retries, and never raises for a failure.

    The same ``idempotency_key`` goes with every retry of one delivery.
    """

    async def send_task(
        self,
        agent: Agent,
        task: str,
        params: Mapping[str, str],
        *,
        idempotency_key: str,
        options: SendOptions | None = None,
    ) -> Delivery: ...
