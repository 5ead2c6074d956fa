"""Capability gating and approval, applied before a connector is called."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping

import attrs

from jamey_host.capabilities import CapabilityLevel
from jamey_host.hooks import PluginHooks
from jamey_host.specs import ConnectorSpec

log = logging.getLogger("jamey_host")


@attrs.frozen
class ApprovalRequest:
    """A call waiting for approval; ``params`` are redacted."""

    connector: str
    action: str | None
    params: Mapping[str, str]
    user_id: str | None
    session_id: str | None


def capability_refusal(spec: ConnectorSpec, granted: frozenset[CapabilityLevel]) -> str | None:
    """The error for a call of ``spec`` under ``granted``, or ``None`` if it may run."""
    if spec.capability_level in granted:
        return None
    return (
        f"Capability denied: connector {spec.id!r} needs {spec.capability_level.value!r}, "
        "which this runtime does not grant"
    )


async def approval_refusal(hooks: PluginHooks, request: ApprovalRequest) -> str | None:
    """Ask the ``approve_execution`` implementations in turn; the first answer decides.

    Returns the error for a refused call, or ``None`` if it was approved. An approver that
    raises refuses the call: an approval that cannot be given is no approval.
    """
    for plugin_name, approve in hooks.approvers():
        try:
            answer = approve(request)
            if inspect.isawaitable(answer):
                answer = await answer
        except Exception as exc:
            log.exception("approve_execution of plugin %r raised", plugin_name)
            return (
                f"Approval required: approver {plugin_name!r} failed "
                f"({type(exc).__name__}) for connector {request.connector!r}"
            )
        if answer is None:
            continue
        if answer is True:
            return None
        return f"Approval required: connector {request.connector!r} was refused by {plugin_name!r}"
    return (
        f"Approval required: connector {request.connector!r} needs approval "
        "and no approver answered"
    )
