"""Capability levels that gate which connectors a runtime may call."""

from __future__ import annotations

import enum


class CapabilityLevel(enum.StrEnum):
    """What a connector can do, and so what a runtime must grant before calling it."""

    READ_ONLY = "read_only"
    READ_WRITE = "read_write"
    SYSTEM_ADMIN = "system_admin"
    SELF_MODIFY = "self_modify"
    NETWORK_ACCESS = "network_access"
    WEB_ACCESS = "web_access"
    CLOUD_ACCESS = "cloud_access"
    AGENT_ORCHESTRATION = "agent_orchestration"
    FULL_ACCESS = "full_access"


#: Granted when the configuration says nothing: everything but the levels that can change the host.
DEFAULT_CAPABILITIES: frozenset[CapabilityLevel] = frozenset(CapabilityLevel) - {
    CapabilityLevel.SYSTEM_ADMIN,
    CapabilityLevel.SELF_MODIFY,
    CapabilityLevel.FULL_ACCESS,
}
