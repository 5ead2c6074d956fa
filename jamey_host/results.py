"""The result of one connector call."""

from __future__ import annotations

import json
from typing import Any

import attrs


def _strings(value: Any) -> list[str]:
    if type(value) is list:
        for item in value:
            if type(item) is not str:
                break
        else:
            return value  # the common case: already right, no copy needed
    return [str(item) for item in value]


def _string_map(value: Any) -> dict[str, str]:
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str or type(item) is not str:
                break
        else:
            return value
    return {str(key): str(item) for key, item in dict(value).items()}


def _text(value: Any) -> str:
    if type(value) is not str and not isinstance(value, str):
        raise TypeError(f"ConnectorResult.output must be a str, not {type(value).__name__}")
    return value


@attrs.define(kw_only=False)
class ConnectorResult:
    """What a connector call produced. Mutable, so a connector can build it up.

    Build one with :meth:`ok` or :meth:`fail`::

        ConnectorResult.ok('{"answer": 42}', metadata={"agent": "a1"})
        ConnectorResult.fail("Missing task")
    """

    success: bool = attrs.field(converter=bool)
    output: str = attrs.field(default="", converter=_text)
    errors: list[str] = attrs.field(factory=list, converter=_strings)
    warnings: list[str] = attrs.field(factory=list, converter=_strings)
    metadata: dict[str, str] = attrs.field(factory=dict, converter=_string_map)
    agents_contacted: list[str] = attrs.field(factory=list, converter=_strings)

    @classmethod
    def ok(cls, output: str = "", **fields: Any) -> ConnectorResult:
        """A successful result with ``output`` and any other fields."""
        return cls(True, output, **fields)

    @classmethod
    def fail(cls, *errors: str, **fields: Any) -> ConnectorResult:
        """A failed result carrying ``errors``, in order."""
        return cls(False, errors=list(errors), **fields)

    def json(self) -> Any:
        """Parse :attr:`output` as JSON (``json.JSONDecodeError`` if it is not)."""
        return json.loads(self.output)

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain JSON-ready data."""
        return {
            "success": self.success,
            "output": self.output,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "metadata": dict(self.metadata),
            "agents_contacted": list(self.agents_contacted),
        }
