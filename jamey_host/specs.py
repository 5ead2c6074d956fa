"""Descriptions of connectors and plugins, validated when they are created."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Literal

import attrs

from jamey_host.action_specs import ACTION_NAME_PATTERN, ActionSpec
from jamey_host.capabilities import CapabilityLevel

CONNECTOR_ID_PATTERN = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


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


def _actions(value: Iterable[str | ActionSpec] | ActionSpec | str) -> tuple[ActionSpec, ...]:
    if isinstance(value, str | ActionSpec):
        raise ValueError(
            "ConnectorSpec.actions must be a sequence of names or ActionSpec objects, not one"
        )
    actions: list[ActionSpec] = []
    for action in value:
        if isinstance(action, str) and ACTION_NAME_PATTERN.fullmatch(action):
            action = ActionSpec(action)
        if not isinstance(action, ActionSpec):
            raise ValueError(
                f"ConnectorSpec.actions holds {action!r}: give action names or ActionSpec objects"
            )
        actions.append(action)
    names = [action.name for action in actions]
    if len(set(names)) != len(names):
        raise ValueError("ConnectorSpec.actions lists an action twice")
    return tuple(actions)


@attrs.frozen
class ConnectorSpec:
    """What a plugin declares about one connector it provides.

    Constructing a spec with an invalid field raises ``ValueError``::

        ConnectorSpec(id="web_search", name="Web search", version="1.0.0",
                      description="Searches the web", capability_level=CapabilityLevel.WEB_ACCESS,
                      actions=("search",))

    ``actions`` takes action names, :class:`~jamey_host.ActionSpec` objects (which say what
    each action takes), or both; :attr:`actions` is then the names, :attr:`action_specs` the
    specs (a plain name becomes an ``ActionSpec`` with no params).
    """

    id: str = attrs.field(validator=_connector_id)
    name: str = attrs.field(validator=_non_empty)
    version: str = attrs.field(validator=_non_empty)
    description: str = attrs.field(validator=attrs.validators.instance_of(str))
    capability_level: CapabilityLevel = attrs.field(converter=_capability)
    requires_approval: bool = attrs.field(
        default=False, validator=attrs.validators.instance_of(bool)
    )
    #: The actions, each with the params it takes.
    action_specs: tuple[ActionSpec, ...] = attrs.field(
        default=(), converter=_actions, alias="actions"
    )
    #: The action names, in the order the spec lists them.
    actions: tuple[str, ...] = attrs.field(init=False, eq=False, repr=False)
    _by_name: Mapping[str, ActionSpec] = attrs.field(init=False, eq=False, repr=False)
    # The params declared secret in any action: names, and prefixes of families.
    _secret_names: frozenset[str] = attrs.field(init=False, eq=False, repr=False)
    _secret_prefixes: tuple[str, ...] = attrs.field(init=False, eq=False, repr=False)

    @actions.default
    def _action_names(self) -> tuple[str, ...]:
        return tuple(action.name for action in self.action_specs)

    @_by_name.default
    def _index(self) -> Mapping[str, ActionSpec]:
        return MappingProxyType({action.name: action for action in self.action_specs})

    @_secret_names.default
    def _secrets(self) -> frozenset[str]:
        return frozenset(
            param.name
            for action in self.action_specs
            for param in action.params
            if param.secret and not param.family
        )

    @_secret_prefixes.default
    def _secret_families(self) -> tuple[str, ...]:
        families = (
            param.prefix
            for action in self.action_specs
            for param in action.params
            if param.secret and param.family
        )
        return tuple(dict.fromkeys(families))

    def action_spec(self, action: str) -> ActionSpec:
        """The spec of ``action``; ``KeyError`` if this connector does not list it."""
        try:
            return self._by_name[action]
        except KeyError:
            raise KeyError(f"connector {self.id!r} has no action {action!r}") from None

    def missing_params(self, action: str | None, params: Mapping[str, str]) -> list[str]:
        """The required params of ``action`` absent from ``params``, in the spec's order.

        None for an action the spec does not list, or no action at all: the connector itself
        answers those. An empty value counts as given (the connector judges it).
        """
        declared = self._by_name.get(action) if action is not None else None
        return declared.missing(params) if declared is not None else []

    @property
    def has_secret_params(self) -> bool:
        """Whether any action declares a ``secret`` param."""
        return bool(self._secret_names or self._secret_prefixes)

    def is_secret_param(self, name: str) -> bool:
        """Whether a param ``name`` is declared ``secret`` by any action of this connector."""
        if name in self._secret_names:
            return True
        return any(
            name.startswith(prefix) and len(name) > len(prefix) for prefix in self._secret_prefixes
        )

    def json_schema(self, action: str) -> dict[str, Any]:
        """A JSON Schema (draft 2020-12) of the params of ``action``; ``KeyError`` if unknown.

        Usable as a tool definition for a language model (the action is the tool)::

            {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "search",
             "type": "object", "properties": {"query": {"type": "string", ...}},
             "required": ["query"]}
        """
        return self.action_spec(action).json_schema()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, as ``jamey connectors --json`` and ``jamey describe`` print them."""
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "capability_level": self.capability_level.value,
            "requires_approval": self.requires_approval,
            "actions": [action.to_dict() for action in self.action_specs],
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
