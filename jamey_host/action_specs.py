"""What an action takes: :class:`ActionSpec` and :class:`ParamSpec`, validated when created.

A connector declares them in :attr:`ConnectorSpec.actions <jamey_host.ConnectorSpec.actions>`;
the runtime then refuses a call of a declared action that lacks a required param before the
plugin is called, redacts the params declared ``secret``, and gives each action a JSON Schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final, final

import attrs

ACTION_NAME_PATTERN: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
# A param name, or a family of them: a prefix followed by "*" ("param_*").
_PARAM_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\*?")
JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


def _param_name(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not _PARAM_NAME.fullmatch(value):
        raise ValueError(
            f"ParamSpec.name {value!r} is invalid: use letters, digits, '_', '.' or '-', "
            "starting with a letter or '_', and end it with '*' for a family ('param_*')"
        )
    if value == "action":
        raise ValueError(
            "ParamSpec.name 'action' is reserved: the ActionSpec's own name is the action param"
        )


def _text(owner: str) -> Any:
    def check(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
        if not isinstance(value, str):
            raise ValueError(f"{owner}.{attribute.name} must be a str, not {type(value).__name__}")

    return check


def _flag(owner: str) -> Any:
    def check(_: Any, attribute: attrs.Attribute[bool], value: bool) -> None:
        if not isinstance(value, bool):
            raise ValueError(
                f"{owner}.{attribute.name} must be True or False, not {type(value).__name__}"
            )

    return check


@final
@attrs.frozen
class ParamSpec:
    """One param of an action (a string, as every param is).

    A name ending in ``*`` is a family: ``ParamSpec("param_*")`` stands for every param whose
    name starts with ``param_``. A family cannot be required. ``secret`` params are redacted
    wherever the call is shown (audit events, approval requests, the runtime's log), whatever
    their names::

        ParamSpec("api_key", "the agent's key", required=True, secret=True)
    """

    name: str = attrs.field(validator=_param_name)
    description: str = attrs.field(default="", validator=_text("ParamSpec"))
    required: bool = attrs.field(default=False, validator=_flag("ParamSpec"))
    secret: bool = attrs.field(default=False, validator=_flag("ParamSpec"))

    def __attrs_post_init__(self) -> None:
        if self.required and self.family:
            raise ValueError(
                f"ParamSpec {self.name!r} is a family of params: it cannot be required"
            )

    @property
    def family(self) -> bool:
        """Whether this stands for every param that starts with :attr:`prefix`."""
        return self.name.endswith("*")

    @property
    def prefix(self) -> str:
        """The name without a family's ``*``."""
        return self.name.removesuffix("*")

    def matches(self, key: str) -> bool:
        """Whether the param named ``key`` is this one (or one of this family)."""
        if self.family:
            prefix = self.name[:-1]
            return key.startswith(prefix) and len(key) > len(prefix)
        return key == self.name

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, as ``jamey describe --json`` prints them."""
        return {
            "name": self.name,
            "description": self.description,
            "required": self.required,
            "secret": self.secret,
        }


def _params(value: Iterable[ParamSpec] | ParamSpec | str) -> tuple[ParamSpec, ...]:
    if isinstance(value, str | ParamSpec):
        raise ValueError("ActionSpec.params must be a sequence of ParamSpec objects, not one")
    params = tuple(value)
    for param in params:
        if not isinstance(param, ParamSpec):
            raise ValueError(
                f"ActionSpec.params holds {param!r}, not a ParamSpec "
                "(from jamey_host import ParamSpec)"
            )
    names = [param.name for param in params]
    if len(set(names)) != len(names):
        twice = sorted({name for name in names if names.count(name) > 1})
        raise ValueError(f"ActionSpec.params lists {', '.join(twice)} twice")
    return params


def _action_name(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not ACTION_NAME_PATTERN.fullmatch(value):
        raise ValueError(
            f"ActionSpec.name {value!r} is invalid: use letters, digits, '_', '.' or '-', "
            "starting with a letter or '_'"
        )


@final
@attrs.frozen
class ActionSpec:
    """One action of a connector and the params it takes::

    ActionSpec(
        "search",
        "Searches the web",
        params=(ParamSpec("query", "what to look for", required=True), ParamSpec("limit")),
    )
    """

    name: str = attrs.field(validator=_action_name)
    description: str = attrs.field(default="", validator=_text("ActionSpec"))
    params: tuple[ParamSpec, ...] = attrs.field(default=(), converter=_params)
    #: The names of the required params, in the order :attr:`params` lists them.
    required: tuple[str, ...] = attrs.field(init=False, eq=False, repr=False)

    @required.default
    def _required(self) -> tuple[str, ...]:
        return tuple(param.name for param in self.params if param.required)

    def missing(self, params: Mapping[str, str]) -> list[str]:
        """The required params absent from ``params``, in order (an empty value is given)."""
        return [name for name in self.required if name not in params]

    def json_schema(self) -> dict[str, Any]:
        """A JSON Schema (draft 2020-12) of this action's params, as a tool definition.

        One string property per param with its description, a family as ``patternProperties``;
        the ``action`` param itself is left out (it is the tool's name). Other params are
        allowed, as the runtime allows them: a connector judges what it does not declare.
        """
        properties: dict[str, Any] = {}
        patterns: dict[str, Any] = {}
        for param in self.params:
            schema: dict[str, Any] = {"type": "string", "description": param.description}
            if param.secret:
                schema["writeOnly"] = True
            if param.family:
                patterns["^" + re.escape(param.prefix)] = schema
            else:
                properties[param.name] = schema
        document: dict[str, Any] = {"$schema": JSON_SCHEMA_DIALECT, "title": self.name}
        if self.description:
            document["description"] = self.description
        document["type"] = "object"
        document["properties"] = properties
        if patterns:
            document["patternProperties"] = patterns
        document["required"] = list(self.required)
        return document

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, as ``jamey describe --json`` prints them."""
        return {
            "name": self.name,
            "description": self.description,
            "params": [param.to_dict() for param in self.params],
        }
