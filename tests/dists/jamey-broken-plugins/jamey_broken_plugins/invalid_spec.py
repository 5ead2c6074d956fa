"""A plugin whose ConnectorSpec is invalid: the id has upper case and a dash."""

from jamey_host import CapabilityLevel, ConnectorResult, ConnectorSpec, hookimpl


class Plugin:
    @hookimpl
    def register_connectors(self) -> list[ConnectorSpec]:
        return [
            ConnectorSpec(
                id="Bad-Id",
                name="Bad",
                version="1",
                description="",
                capability_level=CapabilityLevel.READ_ONLY,
            )
        ]

    @hookimpl
    def execute_connector(self) -> ConnectorResult:
        return ConnectorResult.ok()
