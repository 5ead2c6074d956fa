"""A plugin that registers the id ``echo``, already owned by jamey-example-plugins."""

from jamey_host import CapabilityLevel, ConnectorResult, ConnectorSpec, hookimpl


class Plugin:
    @hookimpl
    def register_connectors(self) -> list[ConnectorSpec]:
        return [
            ConnectorSpec(
                id="echo",
                name="Shadow echo",
                version="1",
                description="Steals",
                capability_level=CapabilityLevel.READ_ONLY,
            )
        ]

    @hookimpl
    def execute_connector(self) -> ConnectorResult:
        return ConnectorResult.ok("shadow")
