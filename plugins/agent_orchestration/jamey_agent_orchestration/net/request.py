"""One request to an agent, and the one place where each of its attempts is made.

Both protocol clients describe what they send as an :class:`AgentRequest` (the same on every
retry: one ``Idempotency-Key``, one body) and hand it to :meth:`RequestSender.send`, which makes
each attempt through the :class:`~jamey_agent_orchestration.net.transport.Transport` and lets the
:class:`~jamey_agent_orchestration.net.retry.RetryPolicy` decide on retries. So every request to an
agent, a task, a task query or an agent card, gets the same address checks, TLS, timeout, size
limits and retry rules, and the same telemetry: :meth:`RequestSender._attempt` makes each attempt
a trace span of its own (:mod:`jamey_agent_orchestration.telemetry`) and sends that span's W3C
trace context with it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Coroutine, Mapping
from typing import Any, Literal, final

import aiohttp
import yarl

from jamey_agent_orchestration.net.client import Attempt
from jamey_agent_orchestration.net.retry import RetryPolicy, Tries
from jamey_agent_orchestration.net.transport import Reader, Transport
from jamey_agent_orchestration.telemetry import AgentTarget, start_attempt, start_card_fetch

__all__ = ["AgentRequest", "RequestSender"]

logger = logging.getLogger(__name__)


# Built for every call: a plain slotted class, not a frozen attrs one (see Attempt).
@final
class AgentRequest:
    """What every attempt of one request sends, and how its answer is read.

    ``purpose`` names the request in debug logs (``task``, ``GetTask``, ``agent card``...).
    ``target`` is the agent as its trace spans describe it; a ``card_fetch`` is traced as
    ``fetch_agent_card``, any other request as ``invoke_agent``. ``repr`` leaves the headers out:
    they hold the key.
    """

    __slots__ = ("body", "card_fetch", "headers", "method", "purpose", "read", "target", "url")

    def __init__(
        self,
        *,
        method: Literal["GET", "POST"],
        url: yarl.URL,
        headers: Mapping[str, str],
        body: bytes | None,
        read: Reader,
        purpose: str,
        target: AgentTarget,
        card_fetch: bool = False,
    ) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.read = read
        self.purpose = purpose
        self.target = target
        self.card_fetch = card_fetch

    def __repr__(self) -> str:
        return f"AgentRequest({self.method} {self.purpose} to {self.url.host})"


@final
class RequestSender:
    """Sends :class:`AgentRequest` objects with one runtime's transport and retry policy."""

    def __init__(self, transport: Transport, policy: RetryPolicy) -> None:
        self._transport = transport
        self._policy = policy
        self._timeout = aiohttp.ClientTimeout(total=policy.timeout)

    @property
    def policy(self) -> RetryPolicy:
        return self._policy

    def send(self, request: AgentRequest) -> Coroutine[Any, Any, Tries]:
        """Every attempt the retry policy allows, to await; the :class:`Tries` describe them."""
        # The retry loop's own coroutine, handed back rather than awaited here, and a partial
        # rather than a closure: every suspension and resumption of the request while it is on
        # the wire passes through each coroutine frame above it, and these add none.
        return self._policy.run(functools.partial(self._attempt, request))

    async def _attempt(self, request: AgentRequest, number: int) -> Attempt:
        # The one place where an attempt of a request to an agent is made, whatever the
        # protocol: attempt ``number`` (1-based) of ``request``, in a span of its own (ended as
        # failed by the ``with`` if the attempt is cancelled).
        start_span = start_card_fetch if request.card_fetch else start_attempt
        with start_span(request.target, resend_count=number - 1) as span:
            answer = await self._transport.request(
                request.method,
                request.url,
                headers=span.with_trace_headers(request.headers),
                body=request.body,
                timeout=self._timeout,
                read=request.read,
            )
            span.end(
                ok=answer.ok,
                status=answer.status,
                failure=answer.failure,
                error=answer.error,
                task_id=answer.task_id,
                task_state=answer.task_state,
            )
        if not answer.ok:
            logger.debug(
                "%s request to %s failed (attempt %d): %s",
                request.purpose,
                request.url.host,
                number,
                answer.error,
            )
        return answer
