"""Subcommands that plugins add to the ``jamey`` command."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    import argparse


@attrs.frozen
class CliCommand:
    """A subcommand that a plugin adds to ``jamey`` through the ``jamey_host.commands`` group.

    The entry point's name is the subcommand's name; its target is a ``CliCommand``::

        [project.entry-points."jamey_host.commands"]
        demo = "my_plugin.demo:DEMO_COMMAND"

    ``run`` receives the parsed arguments and returns the exit status (or an awaitable of it,
    run with ``asyncio.run``). ``configure`` adds the subcommand's own arguments. ``jamey --help``
    imports every command's module to show its ``help``, so keep those modules' imports light.
    """

    help: str
    run: Callable[[argparse.Namespace], int | Awaitable[int]]
    configure: Callable[[argparse.ArgumentParser], None] | None = None
    description: str | None = None
