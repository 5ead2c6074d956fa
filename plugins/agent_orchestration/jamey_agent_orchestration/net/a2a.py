"""The A2A v1.0 protocol (contract section 7): agent cards, tasks and task queries.

:class:`A2AClient` speaks both bindings of the interface an agent's card offered (``JSONRPC`` or
``HTTP+JSON``, chosen at registration and kept on the agent's
:class:`~jamey_agent_orchestration.model.Agent`).
What goes on the wire and how answers are read is :mod:`.a2a_wire` (pure, typed); this module
sends it: every request, the card fetch included, goes through the
:class:`~jamey_agent_orchestration.net.request.RequestSender`, so it gets the address checks, TLS,
timeout, size limit and retries of the ``jamey`` protocol.

Every request carries ``A2A-Version: 1.0``, the key (``Authorization: Bearer`` or the card's API-key
header), an ``Idempotency-Key`` (the same on every retry) and, with a body,
``Content-Type: application/json``. The card fetch carries ``A2A-Version`` and no key. A task's
``messageId`` and the JSON-RPC request ``id`` are its ``Idempotency-Key``: one value per task and
agent, the same on every retry.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Final, final

import aiohttp
import yarl

from jamey_agent_orchestration.model import Agent, AgentCardError, SecurityViolation
from jamey_agent_orchestration.net import json_text
from jamey_agent_orchestration.net.a2a_wire import (
    A2A_VERSION,
    CARD_PATH,
    AgentCard,
    AgentError,
    Binding,
    Call,
    CancelTaskCall,
    ErrorStatus,
    GetTaskCall,
    InvalidA2A,
    MessageAnswer,
    SendMessageCall,
    TaskAnswer,
    TaskState,
    build_request,
    encode_json,
    key_header,
    parse_agent_card,
    parse_response,
    send_verdict,
    within_bounds,
)
from jamey_agent_orchestration.net.body import (
    SEND_FAILED,
    NotJSON,
    error_text,
    parse_json,
    read_bounded,
    too_large,
)
from jamey_agent_orchestration.net.client import (
    DEFAULT_OPTIONS,
    Attempt,
    Delivery,
    FailureKind,
    SendOptions,
)
from jamey_agent_orchestration.net.request import AgentRequest, RequestSender
from jamey_agent_orchestration.net.retry import (
    RETRYABLE_STATUSES,
    failure_for_status,
    parse_retry_after,
)
from jamey_agent_orchestration.net.scrub import KEY_SPELLED_OUT, KeyScrubber
from jamey_agent_orchestration.telemetry import AgentTarget, agent_target

__all__ = ["CARD_FETCH_FAILED", "A2AClient", "card_url"]

#: The start of the message of a card fetch that got no card.
CARD_FETCH_FAILED: Final = "Failed to fetch agent card"


def card_url(url: yarl.URL) -> yarl.URL:
    """Where the agent at base URL ``url`` serves its card (``/.well-known/agent-card.json``)."""
    return url.with_path(url.raw_path.rstrip("/") + CARD_PATH, encoded=True)


@final
class A2AClient:
    """The :class:`~jamey_agent_orchestration.net.client.AgentClient` of A2A, and its task queries.

    Never raises for a failed request: :meth:`send_task`, :meth:`get_task`, :meth:`cancel_task`
    and :meth:`check_card` answer a :class:`Delivery`. Only :meth:`fetch_card`, the first step of
    a registration, raises (:class:`AgentCardError`, or :class:`SecurityViolation` for an address
    refused at connect time).
    """

    def __init__(self, sender: RequestSender, *, max_response_bytes: int) -> None:
        self._sender = sender
        self._limit = max_response_bytes

    # -- the card ---------------------------------------------------------------------------

    async def fetch_card(
        self, url: yarl.URL, *, agent_id: str, agent_name: str | None = None
    ) -> AgentCard:
        """The agent card of the agent at base URL ``url``, fetched and validated.

        ``agent_id`` and ``agent_name`` (``None`` when the card is to name it) are those the agent
        is being registered with, for the fetch's trace spans.
        """
        target = agent_target(agent_id, agent_name, url, "a2a")
        delivery = await self._fetch_card(url, target)
        if delivery.ok:
            assert isinstance(delivery.response, AgentCard)
            return delivery.response
        error = delivery.error or CARD_FETCH_FAILED
        if delivery.failure is FailureKind.SECURITY:
            raise SecurityViolation(error.removeprefix("Security violation: "))
        raise AgentCardError(error)

    async def check_card(self, agent: Agent) -> Delivery:
        """Fetch the agent's card as a health check: no task and no key are sent."""
        return await self._fetch_card(
            agent.url, agent_target(agent.id, agent.name, agent.url, "a2a")
        )

    async def _fetch_card(self, url: yarl.URL, target: AgentTarget) -> Delivery:
        request = AgentRequest(
            method="GET",
            url=card_url(url),
            headers={"A2A-Version": A2A_VERSION},
            body=None,
            read=self._read_card,
            purpose="agent card",
            target=target,
            card_fetch=True,
        )
        delivery = (await self._sender.send(request)).delivery()
        if delivery.error is not None:
            delivery.error = _card_error(delivery.error)
        return delivery

    async def _read_card(self, response: aiohttp.ClientResponse) -> Attempt:
        status = response.status
        if not 200 <= status < 300:
            data = await read_bounded(response, self._limit)
            message = None if data is None else error_text(response.content_type, data, None)
            return _status_failure(ErrorStatus(status=status, message=message), response)
        data = await read_bounded(response, self._limit)
        if data is None:
            return too_large(self._limit, status)
        try:
            document, _ = parse_json(data)
            card = parse_agent_card(document)
        except NotJSON:
            error = "Invalid agent card: the document is not JSON"
            return Attempt.failed(FailureKind.BAD_RESPONSE, error, status=status)
        except InvalidA2A as exc:
            return Attempt.failed(FailureKind.BAD_RESPONSE, str(exc), status=status)
        return Attempt(ok=True, response=card, status=status)

    # -- tasks ------------------------------------------------------------------------------

    async def send_task(
        self,
        agent: Agent,
        task: str,
        params: Mapping[str, str],
        *,
        idempotency_key: str,
        options: SendOptions | None = None,
    ) -> Delivery:
        """``SendMessage``: the task as a text part, ``params`` as a data part (if any).

        Success follows the contract's rule (:func:`~.a2a_wire.send_verdict`): a Message, a
        COMPLETED Task, an interrupted one (with a warning naming its state), or one still running
        when ``wait`` is false.
        """
        options = options or DEFAULT_OPTIONS
        call = SendMessageCall(
            text=task,
            data=params,
            message_id=idempotency_key,
            context_id=options.context_id,
            task_id=options.task_id,
            wait=options.wait,
        )
        delivery, scrubber = await self._call(agent, call, idempotency_key)
        outcome = delivery.response
        if isinstance(outcome, TaskAnswer | MessageAnswer):
            verdict = send_verdict(outcome, wait=options.wait)
            delivery = _answered(
                delivery,
                outcome,
                ok=verdict.success,
                error=verdict.error,
                warning=verdict.warning,
            )
        return _scrubbed(delivery, scrubber)

    async def get_task(
        self, agent: Agent, task_id: str, *, history_length: int | None, idempotency_key: str
    ) -> Delivery:
        """``GetTask``: the Task as it is now, a success whatever its state."""
        call = GetTaskCall(task_id=task_id, history_length=history_length)
        delivery, scrubber = await self._call(agent, call, idempotency_key)
        if isinstance(delivery.response, TaskAnswer):
            delivery = _answered(delivery, delivery.response, ok=True)
        return _scrubbed(delivery, scrubber)

    async def cancel_task(self, agent: Agent, task_id: str, *, idempotency_key: str) -> Delivery:
        """``CancelTask``: the Task, then CANCELED (a warning says so if the agent left it else)."""
        delivery, scrubber = await self._call(
            agent, CancelTaskCall(task_id=task_id), idempotency_key
        )
        outcome = delivery.response
        if isinstance(outcome, TaskAnswer):
            state = outcome.head.status.state
            warning = None
            if state is not TaskState.CANCELED:
                warning = f"Agent task is in state {state.value} after cancel_task"
            delivery = _answered(delivery, outcome, ok=True, warning=warning)
        return _scrubbed(delivery, scrubber)

    async def _call(
        self, agent: Agent, call: Call, idempotency_key: str
    ) -> tuple[Delivery, KeyScrubber]:
        """Send ``call`` to the agent's interface, with retries; the delivery holds the Outcome.

        A call that cannot be sent (an id the binding cannot carry) fails without a request.
        """
        endpoint, interface, binding = agent.endpoint, agent.endpoint_text, agent.binding
        key = agent.api_key.reveal()
        scrubber = KeyScrubber(key)
        if endpoint is None or interface is None or binding is None:  # an A2A agent has them
            error = f"{SEND_FAILED}: agent {agent.id} has no A2A interface; register it again"
            return Delivery(ok=False, error=error, metadata={"protocol": "a2a"}), scrubber
        if (
            endpoint.scheme != "https"
        ):  # the registry only holds https URLs; never send a key in clear
            error = f"Security violation: Agent URLs must use HTTPS. Got: {endpoint.scheme}"
            return Delivery(ok=False, error=error, failure=FailureKind.SECURITY), scrubber
        try:
            wire = build_request(binding, interface, call, request_id=idempotency_key)
            body = None if wire.body is None else encode_json(wire.body)
        except ValueError as exc:  # e.g. task_id "." on HTTP+JSON: nothing was sent
            return Delivery(ok=False, error=str(exc), metadata={"protocol": "a2a"}), scrubber
        name, value = key_header(agent.key_header, key)
        headers = {name: value, "A2A-Version": A2A_VERSION, "Idempotency-Key": idempotency_key}
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = AgentRequest(
            method=wire.method,
            url=endpoint if wire.url == interface else yarl.URL(wire.url, encoded=True),
            headers=headers,
            body=body,
            read=functools.partial(self._read, binding, call, scrubber),
            purpose=type(call).__name__.removesuffix("Call"),
            target=agent_target(agent.id, agent.name, endpoint, "a2a"),
        )
        delivery = (await self._sender.send(request)).delivery()
        delivery.metadata = {"protocol": "a2a"}
        return delivery, scrubber

    async def _read(
        self,
        binding: Binding,
        call: Call,
        scrubber: KeyScrubber,
        response: aiohttp.ClientResponse,
    ) -> Attempt:
        """Any answer, read as JSON (its error objects too), bounded and with the key scrubbed."""
        status = response.status
        data = await read_bounded(response, self._limit)
        if data is None:
            return too_large(self._limit, status)
        ok = 200 <= status < 300
        document: object = None
        text = ""
        if data:
            try:
                document, text = parse_json(data, scrubber)
            except NotJSON as exc:
                if ok:
                    error = f"{SEND_FAILED}: {exc}"
                    return Attempt.failed(FailureKind.BAD_RESPONSE, error, status=status)
        try:
            # The strict decoder refused numbers that are not finite; the text may prove the rest.
            bounded = within_bounds(text)
            outcome = parse_response(
                binding, call, status=status, document=document, bounded=bounded
            )
        except InvalidA2A as exc:
            return Attempt.failed(FailureKind.BAD_RESPONSE, str(exc), status=status)
        if isinstance(outcome, ErrorStatus) and outcome.message is None and document is None:
            message = error_text(response.content_type, data, scrubber)
            outcome = ErrorStatus(status=status, message=message)
        if isinstance(outcome, TaskAnswer):
            head = outcome.head
            return Attempt(
                ok=True,
                response=outcome,
                status=status,
                task_id=head.id,
                task_state=str(head.status.state),
            )
        if isinstance(outcome, MessageAnswer):
            return Attempt(ok=True, response=outcome, status=status)
        return _status_failure(outcome, response)


def _status_failure(outcome: AgentError | ErrorStatus, response: aiohttp.ClientResponse) -> Attempt:
    """An error answer: its failure kind comes from the HTTP status (a JSON-RPC error's is 200)."""
    status = response.status
    if 200 <= status < 300:
        return Attempt.failed(FailureKind.AGENT_ERROR, outcome.describe(), status=status)
    retry_after = None
    if status in RETRYABLE_STATUSES:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
    return Attempt.failed(
        failure_for_status(status), outcome.describe(), status=status, retry_after=retry_after
    )


def _answered(
    delivery: Delivery,
    outcome: TaskAnswer | MessageAnswer,
    *,
    ok: bool,
    error: str | None = None,
    warning: str | None = None,
) -> Delivery:
    """The delivery of an agent's Task or Message: its JSON as output, its ids as metadata."""
    delivery.ok = ok
    delivery.response = outcome.json
    delivery.text = json_text.dumps(outcome.json)
    delivery.error = error
    delivery.warning = warning
    delivery.metadata = outcome.metadata()
    delivery.failure = None if ok else FailureKind.AGENT_ERROR
    return delivery


def _scrubbed(delivery: Delivery, scrubber: KeyScrubber) -> Delivery:
    """The key out of the texts the connector built from the answer too, then say if it was.

    The output, the Task or Message written again from the scrubbed answer, holds the key in no
    string; it could still spell it across the punctuation (a key holding ``":"``), and then no
    text of it is given: the delivery fails.
    """
    if delivery.text is not None and scrubber.spelled_in(delivery.text):
        delivery.ok = False
        delivery.response = None
        delivery.text = None
        delivery.error = f"{SEND_FAILED}: {KEY_SPELLED_OUT}"
        delivery.warning = None
        delivery.failure = FailureKind.BAD_RESPONSE
    if delivery.error is not None:
        delivery.error = scrubber.text(delivery.error)
    if delivery.warning is not None:
        delivery.warning = scrubber.text(delivery.warning)
    delivery.scrubbed = scrubber.scrubbed
    return delivery


def _card_error(error: str) -> str:
    """A failed card fetch in the contract's words (a refused address stays one)."""
    if error.startswith(("Security violation:", "Invalid agent card:", CARD_FETCH_FAILED)):
        return error
    cause = error.removeprefix(f"{SEND_FAILED}: ")
    return f"{CARD_FETCH_FAILED}: {cause}"
