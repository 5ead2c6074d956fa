"""The result of one connector call."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs


def _strings(value: Iterable[object]) -> list[str]:
    """A new list of ``str``: never the caller's own list, which it may go on changing."""
    items = list(value)
    for item in items:  # a result holds a few items, nearly always str already: check, then copy
        if type(item) is not str:
            return [item if isinstance(item, str) else str(item) for item in items]
    return items  # type: ignore[return-value]  # every item is a str


def _string_map(value: Mapping[object, object] | None) -> dict[str, str]:
    """A new dict of ``str`` to ``str`` (``None`` gives an empty one)."""
    if value is None:
        return {}
    copy = dict(value)
    for key, item in copy.items():
        if type(key) is not str or type(item) is not str:
            return {str(key): str(item) for key, item in copy.items()}
    return copy  # type: ignore[return-value]  # every key and value is a str


def _text(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    _check_text(attribute.name, value)


def _check_text(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"ConnectorResult.{name} must be a str, not {type(value).__name__}")


_set_field: Final = object.__setattr__


@attrs.define(init=False)
class ConnectorResult:
    """What a connector call produced. Mutable, so a connector can build it up.

    Build one with :meth:`ok` or :meth:`fail`::

        ConnectorResult.ok('{"answer": 42}', metadata={"agent": "a1"})
        ConnectorResult.fail("Missing task")

    A value class: it copies what it is given, in the constructor and on assignment. ``errors``,
    ``warnings`` and ``agents_contacted`` become new lists of ``str``, ``metadata`` a new dict of
    ``str``; ``output`` must be a ``str``.
    """

    success: bool = attrs.field(converter=bool)
    output: str = attrs.field(default="", validator=_text)
    errors: list[str] = attrs.field(factory=list, converter=_strings)
    warnings: list[str] = attrs.field(factory=list, converter=_strings)
    metadata: dict[str, str] = attrs.field(factory=dict, converter=_string_map)
    agents_contacted: list[str] = attrs.field(factory=list, converter=_strings)

    # Written out rather than generated: every call builds a result, and attrs' __init__ for
    # converted fields pays a bound setattr and a default factory per field. It converts and
    # checks exactly as an assignment does (the fields' converters and validator).
    def __init__(
        self,
        success: object,
        output: str = "",
        errors: Iterable[object] = (),
        warnings: Iterable[object] = (),
        metadata: Mapping[object, object] | None = None,
        agents_contacted: Iterable[object] = (),
    ) -> None:
        _check_text("output", output)
        _set_field(self, "success", bool(success))
        _set_field(self, "output", output)
        _set_field(self, "errors", _strings(errors))
        _set_field(self, "warnings", _strings(warnings))
        _set_field(self, "metadata", _string_map(metadata))
        _set_field(self, "agents_contacted", _strings(agents_contacted))

    @classmethod
    def ok(cls, output: str = "", **fields: Any) -> ConnectorResult:
        """A successful result with ``output`` and any other fields."""
        return cls(True, output, **fields)

    @classmethod
    def fail(cls, *errors: str, **fields: Any) -> ConnectorResult:
        """A failed result carrying ``errors``, in order."""
        return cls(False, errors=errors, **fields)

    def json(self) -> Any:
        """Parse :attr:`output` as JSON.

        Raises ``ValueError`` saying so when the output is text (a connector's sentence such as
        ``Agent registered successfully``) or empty (a failed call, usually), not JSON.
        """
        try:
            return json.loads(self.output)
        except json.JSONDecodeError:
            raise ValueError(self._not_json()) from None

    def _not_json(self) -> str:
        # Never the output itself: the message may travel further than the result would.
        if not self.output.strip():
            failed = " of a failed call (see .errors)" if not self.success else ""
            return f"ConnectorResult.output{failed} is empty, not JSON"
        return (
            f"ConnectorResult.output is text ({len(self.output)} characters), not JSON: read "
            ".output itself (which actions answer JSON: the connector's docs, or jamey describe)"
        )

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
