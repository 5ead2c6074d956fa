"""A module plugin with synchronous hooks: the echo connector of the contract's example."""

from __future__ import annotations

import json
from collections.abc import Mapping

from jamey_host import CapabilityLevel, ConnectorResult, ConnectorSpec, ExecutionContext, hookimpl


@hookimpl
def register_connectors() -> list[ConnectorSpec]:
    return [
        ConnectorSpec(
            id="echo",
            name="Echo",
            version="1.0.0",
            description="Echoes params",
            capability_level=CapabilityLevel.READ_ONLY,
            actions=("echo",),
        )
    ]


@hookimpl
def execute_connector(params: Mapping[str, str], context: ExecutionContext) -> ConnectorResult:
    if context.action not in (None, "echo"):
        return ConnectorResult.fail(f"Unknown action: {context.action}")
    context.audit("echo.called", outcome="success", size=len(params))
    return ConnectorResult.ok(
        json.dumps(dict(params)), metadata={"settings": str(len(context.settings))}
    )
