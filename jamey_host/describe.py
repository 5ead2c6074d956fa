"""``jamey describe``: a connector's actions and the params each takes, as people read them."""

from __future__ import annotations

from typing import Any

from jamey_host.action_specs import ActionSpec, ParamSpec
from jamey_host.capabilities import CapabilityLevel
from jamey_host.specs import ConnectorSpec


def describe_json(spec: ConnectorSpec, granted: frozenset[CapabilityLevel]) -> dict[str, Any]:
    """The connector as ``jamey describe --json`` and each entry of ``jamey connectors --json``."""
    return spec.to_dict() | {"granted": spec.capability_level in granted}


def describe_text(spec: ConnectorSpec, granted: frozenset[CapabilityLevel]) -> str:
    """Every action with its params, and how to call one with ``jamey run``."""
    level = spec.capability_level.value
    grant = "granted" if spec.capability_level in granted else "not granted by JAMEY_CAPABILITIES"
    approval = "requires approval" if spec.requires_approval else "no approval needed"
    lines = [
        f"{spec.id}: {spec.name} {spec.version}",
        f"  {spec.description}" if spec.description else "",
        f"  capability {level} ({grant}); {approval}",
    ]
    lines = [line for line in lines if line]
    if not spec.action_specs:
        lines += ["", "No actions declared: the connector's own documentation says what it takes."]
        return "\n".join(lines)
    for action in spec.action_specs:
        lines += ["", *_action_lines(action)]
    lines += ["", f"Call one: jamey run {spec.id} {_example(spec.action_specs[0])}"]
    return "\n".join(lines)


def _action_lines(action: ActionSpec) -> list[str]:
    head = f"{action.name}: {action.description}" if action.description else action.name
    if not action.params:
        return [head, "  (no params)"]
    width = max(len(param.name) for param in action.params)
    flags = [_flags(param) for param in action.params]
    flag_width = max(len(flag) for flag in flags)
    rows = [
        f"  {param.name.ljust(width)}  {flag.ljust(flag_width)}  {param.description}".rstrip()
        for param, flag in zip(action.params, flags, strict=True)
    ]
    return [head, *rows]


def _flags(param: ParamSpec) -> str:
    flags = [flag for flag, on in (("required", param.required), ("secret", param.secret)) if on]
    return ", ".join(flags) if flags else "optional"


def _example(action: ActionSpec) -> str:
    words = [f"action={action.name}", *(f"{name}=..." for name in action.required)]
    return " ".join(words)
