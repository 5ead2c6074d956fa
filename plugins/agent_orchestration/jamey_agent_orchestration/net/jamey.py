"""The ``jamey`` wire protocol (contract section 5): one task, one POST, a JSON answer.

::

    POST {agent url}/api/v1/tasks
    Authorization: Bearer {api_key}
    Content-Type: application/json
    Idempotency-Key: {one value per task and agent, the same on every retry}

    {"task": "...", "params": {"name": "value", ...}}

Any 2xx status with a JSON body is success; any other status is ``Agent returned error status:
CODE``, followed by the agent's own message if its body gives one (``: Unknown task: x``),
retried for 429, 502, 503 and 504.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Final, final

import aiohttp
import yarl

from jamey_agent_orchestration.model import Agent
from jamey_agent_orchestration.net.agent_text import status_error
from jamey_agent_orchestration.net.body import ERROR_BODY_LIMIT, read_error_message, read_json
from jamey_agent_orchestration.net.client import Attempt, Delivery, FailureKind, SendOptions
from jamey_agent_orchestration.net.json_text import request_body
from jamey_agent_orchestration.net.request import AgentRequest, RequestSender
from jamey_agent_orchestration.net.retry import (
    RETRYABLE_STATUSES,
    failure_for_status,
    parse_retry_after,
)
from jamey_agent_orchestration.net.scrub import KeyScrubber
from jamey_agent_orchestration.telemetry import agent_target

__all__ = ["TASKS_PATH", "JameyClient", "task_body", "tasks_endpoint"]

TASKS_PATH: Final = "/api/v1/tasks"


def tasks_endpoint(url: yarl.URL) -> yarl.URL:
    """The URL where the agent at ``url`` takes tasks: ``url``'s path + ``/api/v1/tasks``."""
    return url.with_path(url.raw_path.rstrip("/") + TASKS_PATH, encoded=True)


def task_body(task: str, params: Mapping[str, str]) -> bytes:
    """``{"task": ..., "params": {...}}`` as compact UTF-8 JSON (every value is a string).

    ``ValueError`` if one of them cannot be sent as UTF-8 (see :func:`.json_text.request_body`).
    """
    return request_body({"task": task, "params": params})


@final
class JameyClient:
    """The :class:`~jamey_agent_orchestration.net.client.AgentClient` of the ``jamey`` protocol."""

    def __init__(self, sender: RequestSender, *, max_response_bytes: int) -> None:
        self._sender = sender
        self._limit = max_response_bytes

    async def send_task(
        self,
        agent: Agent,
        task: str,
        params: Mapping[str, str],
        *,
        idempotency_key: str,
        options: SendOptions | None = None,
    ) -> Delivery:
        """POST the task to the agent, with retries; never raises for a failure.

        ``options`` are A2A's; the actions refuse those a ``jamey`` agent cannot honour.
        """
        url = agent.url
        if url.scheme != "https":  # the registry only holds https URLs; never send a key in clear
            error = f"Security violation: Agent URLs must use HTTPS. Got: {url.scheme}"
            return Delivery(ok=False, error=error, failure=FailureKind.SECURITY)
        try:
            body = task_body(task, params)
        except ValueError as exc:  # nothing was sent
            return Delivery(ok=False, error=str(exc))
        key = agent.api_key.reveal()
        scrubber = KeyScrubber(key)
        request = AgentRequest(
            method="POST",
            url=tasks_endpoint(url),
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/json",
                "Idempotency-Key": idempotency_key,
            },
            body=body,
            read=functools.partial(self._read, scrubber),
            purpose="task",
            target=agent_target(agent.id, agent.name, url, "jamey"),
        )
        delivery = (await self._sender.send(request)).delivery()
        delivery.scrubbed = scrubber.scrubbed
        return delivery

    async def _read(self, scrubber: KeyScrubber, response: aiohttp.ClientResponse) -> Attempt:
        status = response.status
        if 200 <= status < 300:
            return await read_json(response, self._limit, scrubber)
        retry_after = None
        if status in RETRYABLE_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
        message = await read_error_message(response, scrubber, min(self._limit, ERROR_BODY_LIMIT))
        return Attempt.failed(
            failure_for_status(status),
            scrubber.text(status_error(status, message)),  # the key could span the join
            status=status,
            retry_after=retry_after,
        )
