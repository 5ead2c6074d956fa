"""The ``jamey`` wire protocol (contract section 5): one task, one POST, a JSON answer.

::

    POST {agent url}/api/v1/tasks
    Authorization: Bearer {api_key}
    Content-Type: application/json
    Idempotency-Key: {one value per task and agent, the same on every retry}

    {"task": "...", "params": {"name": "value", ...}}

Any 2xx status with a JSON body is success; any other status is ``Agent returned error status:
CODE`` (its body is not read), retried for 429, 502, 503 and 504.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii as _quote
from typing import Final, final

import aiohttp
import yarl

from jamey_agent_orchestration.model import Agent
from jamey_agent_orchestration.net.client import Attempt, Delivery, FailureKind
from jamey_agent_orchestration.net.retry import (
    RETRYABLE_STATUSES,
    RetryPolicy,
    failure_for_status,
    parse_retry_after,
)
from jamey_agent_orchestration.net.transport import Transport, read_json

__all__ = ["TASKS_PATH", "JameyClient", "task_body", "tasks_endpoint"]

logger = logging.getLogger(__name__)

TASKS_PATH: Final = "/api/v1/tasks"


def tasks_endpoint(url: yarl.URL) -> yarl.URL:
    """The URL where the agent at ``url`` takes tasks: ``url``'s path + ``/api/v1/tasks``."""
    return url.with_path(url.raw_path.rstrip("/") + TASKS_PATH, encoded=True)


def task_body(task: str, params: Mapping[str, str]) -> bytes:
    """``{"task": ..., "params": {...}}`` as compact JSON.

    Every value is a string (the runtime checks params), so the standard library's string
    escaper is all it takes, rather than the general encoder of ``json.dumps``.
    """
    fields = ",".join([f"{_quote(key)}:{_quote(value)}" for key, value in params.items()])
    return f'{{"task":{_quote(task)},"params":{{{fields}}}}}'.encode()


@final
class JameyClient:
    """The :class:`~jamey_agent_orchestration.net.client.AgentClient` of the ``jamey`` protocol."""

    def __init__(
        self, transport: Transport, policy: RetryPolicy, *, max_response_bytes: int
    ) -> None:
        self._transport = transport
        self._policy = policy
        self._timeout = aiohttp.ClientTimeout(total=policy.timeout)
        self._limit = max_response_bytes

    async def send_task(
        self, agent: Agent, task: str, params: Mapping[str, str], *, idempotency_key: str
    ) -> Delivery:
        """POST the task to the agent, with retries; never raises for a failure."""
        url = agent.url
        if url.scheme != "https":  # the registry only holds https URLs; never send a key in clear
            error = f"Security violation: Agent URLs must use HTTPS. Got: {url.scheme}"
            return Delivery(ok=False, error=error, failure=FailureKind.SECURITY)
        endpoint = tasks_endpoint(url)
        headers = {
            "Authorization": f"Bearer {agent.api_key.reveal()}",
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key,
        }
        body = task_body(task, params)
        tries = self._policy.tries()
        async for number in tries:
            attempt = await self._transport.request(
                "POST", endpoint, headers=headers, body=body, timeout=self._timeout, read=self._read
            )
            tries.record(attempt)
            if not attempt.ok:
                logger.debug(
                    "Task delivery to %s failed (try %d): %s", url.host, number, attempt.error
                )
        return tries.delivery()

    async def _read(self, response: aiohttp.ClientResponse) -> Attempt:
        status = response.status
        if 200 <= status < 300:
            return await read_json(response, self._limit)
        retry_after = None
        if status in RETRYABLE_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return Attempt.failed(
            failure_for_status(status),
            f"Agent returned error status: {status}",
            status=status,
            retry_after=retry_after,
        )
