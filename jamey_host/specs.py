"""Descriptions of connectors and plugins, validated when they are created."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal

import attrs

from jamey_host.capabilities import CapabilityLevel

CONNECTOR_ID_PATTERN = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
_ACTION_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def _connector_id(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not CONNECTOR_ID_PATTERN.fullmatch(value):
        raise ValueError(
            f"ConnectorSpec.id {value!r} is invalid: use lower case letters, digits and single "
            "underscores, starting with a letter (e.g. 'web_search')"
        )


def _non_empty(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"ConnectorSpec.{attribute.name} must be a non-empty string")


def _capability(value: Any) -> CapabilityLevel:
    try:
        return CapabilityLevel(value)
    except ValueError:
        raise ValueError(
            f"ConnectorSpec.capability_level {value!r} is not a CapabilityLevel "
            f"(one of: {', '.join(level.value for level in CapabilityLevel)})"
        ) from None


def _actions(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise ValueError("ConnectorSpec.actions must be a sequence of names, not one string")
    actions = tuple(value)
    for action in actions:
        if not isinstance(action, str) or not _ACTION_PATTERN.fullmatch(action):
            raise ValueError(f"ConnectorSpec.actions holds an invalid action name: {action!r}")
    if len(set(actions)) != len(actions):
        raise ValueError("ConnectorSpec.actions lists an action twice")
    return actions


@attrs.frozen
class ConnectorSpec:
    """What a plugin declares about one connector it provides.

    Constructing a spec with an invalid field raises ``ValueError``::

        ConnectorSpec(id="web_search", name="Web search", version="1.0.0",
                      description="Searches the web", capability_level=CapabilityLevel.WEB_ACCESS,
                      actions=("search",))
    """

    id: str = attrs.field(validator=_connector_id)
    name: str = attrs.field(validator=_non_empty)
    version: str = attrs.field(validator=_non_empty)
    description: str = attrs.field(validator=attrs.validators.instance_of(str))
    capability_level: CapabilityLevel = attrs.field(converter=_capability)
    requires_approval: bool = attrs.field(
        default=False, validator=attrs.validators.instance_of(bool)
    )
    actions: tuple[str, ...] = attrs.field(default=(), converter=_actions)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, as ``jamey connectors --json`` prints them."""
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "capability_level": self.capability_level.value,
            "requires_approval": self.requires_approval,
            "actions": list(self.actions),
        }


PluginStatus = Literal["active", "blocked", "failed"]


@attrs.frozen
class PluginInfo:
    """What the runtime knows about one plugin: loaded, blocked by configuration, or failed."""

    name: str
    version: str | None
    status: PluginStatus
    error: str | None = None
    connectors: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, as ``jamey plugins --json`` prints them."""
        return {
            "name": self.name,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "connectors": list(self.connectors),
        }
