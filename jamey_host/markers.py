"""The pluggy markers of the ``jamey_host`` project."""

from __future__ import annotations

from typing import Final

import pluggy

PROJECT_NAME: Final = "jamey_host"
#: The entry-point group from which connector plugins are loaded.
ENTRY_POINT_GROUP: Final = "jamey_host"
#: The entry-point group from which plugins add subcommands to ``jamey``.
COMMANDS_ENTRY_POINT_GROUP: Final = "jamey_host.commands"

hookspec: Final = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl: Final = pluggy.HookimplMarker(PROJECT_NAME)
