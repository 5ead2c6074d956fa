"""The connector's ``jamey`` subcommands (entry-point group ``jamey_host.commands``).

- :mod:`.demo`: ``jamey demo``, the connector end to end, offline;
- :mod:`.rotate_key`: ``jamey agents-rotate-key``, a new master key for the registry's API keys.

Each module imports only jamey-host at its top, so ``jamey --help`` stays fast.
"""
