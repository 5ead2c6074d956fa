"""The connector's network side: protocol clients over one verified HTTPS transport.

- :mod:`.client`: the :class:`AgentClient` interface a protocol client implements, and what it
  reports (:class:`Delivery`, :class:`Attempt`, :class:`FailureKind`);
- :mod:`.jamey`: the ``jamey`` protocol's client;
- :mod:`.retry`: which failures are retried, when, within what budget (the one retry loop);
- :mod:`.transport`: the HTTPS session, the address check on every dialled address, safe errors;
- :mod:`.tls`: the TLS client context; :mod:`.address_policy`: which URLs and addresses are refused.
"""

from __future__ import annotations

from jamey_agent_orchestration.net.client import AgentClient, Attempt, Delivery, FailureKind
from jamey_agent_orchestration.net.jamey import JameyClient
from jamey_agent_orchestration.net.retry import RetryPolicy
from jamey_agent_orchestration.net.transport import Transport

__all__ = [
    "AgentClient",
    "Attempt",
    "Delivery",
    "FailureKind",
    "JameyClient",
    "RetryPolicy",
    "Transport",
]
