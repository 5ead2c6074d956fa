"""A plugin that implements a hook no spec declares (a typo of register_connectors)."""

from jamey_host import hookimpl


class Plugin:
    @hookimpl
    def register_connector(self) -> list[object]:
        return []
