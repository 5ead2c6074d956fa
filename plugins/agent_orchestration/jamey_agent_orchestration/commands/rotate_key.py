"""``jamey agents-rotate-key``: re-encrypt the agent registry's API keys under a new master key.

Stop every runtime using the registry first (a running one is refused from then on: it can no
longer read the keys, and it writes nothing). The registry is a SQLite file or, given as a
``postgresql://`` URL (``--registry`` or the ``registry`` setting), the shared PostgreSQL registry,
rotated in one transaction there too.

- Master key in the key file (``JAMEY_SECRET_KEY`` unset): a new key is generated and written to
  ``secret.key.new`` (mode 0600), every stored key is re-encrypted in one transaction, then the
  new file replaces ``secret.key``. Interrupted between the two, the registry's error says which
  file to move.
- Master key in ``JAMEY_SECRET_KEY``: put the new key in another variable and name it with
  ``--new-key-env`` (make one with the command in the error message), then set
  ``JAMEY_SECRET_KEY`` to it.

Entry point (in the connector's ``pyproject.toml``)::

    [project.entry-points."jamey_host.commands"]
    agents-rotate-key = "jamey_agent_orchestration.commands.rotate_key:ROTATE_KEY_COMMAND"

The registry and its key file are found as a runtime finds them
(:func:`~jamey_agent_orchestration.store.base.registry_path`,
:func:`~jamey_agent_orchestration.store.keys.key_directory`). The store and the cipher are imported
when the command runs, not when ``jamey`` lists its commands.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from jamey_host import SECRET_KEY_VAR, CliCommand, ConfigError, RuntimeConfig, default_state_dir

if TYPE_CHECKING:
    from jamey_agent_orchestration.database_url import DatabaseUrl

__all__ = ["ROTATE_KEY_COMMAND", "rotate_key"]


def _registry_argument(text: str) -> Path | DatabaseUrl:
    from jamey_agent_orchestration.database_url import DatabaseUrl, looks_like_url

    if looks_like_url(text):
        try:
            return DatabaseUrl(text)
        except ValueError as exc:  # its message never quotes the URL
            raise argparse.ArgumentTypeError(str(exc)) from None
    return Path(text).expanduser()


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--registry",
        type=_registry_argument,
        help="registry file or postgresql:// URL (default: the registry setting, else agents.db "
        "in the state directory)",
    )
    parser.add_argument(
        "--new-key-env",
        metavar="VAR",
        help=f"environment variable holding the new master key (required when {SECRET_KEY_VAR} "
        "is set; otherwise a new key file is generated)",
    )


def rotate_key(
    registry: Path | DatabaseUrl | None,
    new_key_env: str | None,
    *,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """The command's work; returns the exit status (0 done, 1 failed, 2 bad usage)."""
    from jamey_agent_orchestration.database_url import DatabaseUrl
    from jamey_agent_orchestration.settings import CONNECTOR_ID, AgentSettings
    from jamey_agent_orchestration.store.base import (
        POSTGRES_EXTRA_HINT,
        RegistryError,
        registry_path,
    )
    from jamey_agent_orchestration.store.keys import (
        KEY_FILE_NAME,
        MAKE_KEY_HINT,
        KeyCipher,
        generate_master_key,
        key_directory,
        load_master_key,
        pending_key_file,
        write_key_file,
    )
    from jamey_agent_orchestration.store.sqlite import (
        rotate_master_key as rotate_sqlite_master_key,
    )

    env = os.environ if environ is None else environ
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        state_dir = default_state_dir(env)
        if registry is None:
            settings = AgentSettings.from_mapping(
                RuntimeConfig.from_env(env).settings_for(CONNECTOR_ID)
            )
            registry = registry_path(settings.registry, state_dir)
        assert registry is not None
        if isinstance(registry, DatabaseUrl):
            try:
                from jamey_agent_orchestration.store.postgres import (
                    rotate_postgres_master_key,
                    shared_master_key,
                )
            except ImportError as exc:
                if exc.name != "asyncpg":
                    raise
                print(
                    f"jamey: error: the registry is on PostgreSQL: {POSTGRES_EXTRA_HINT}", file=err
                )
                return 1
            url = registry
            keys = state_dir
            old = shared_master_key(state_dir, env)

            def rotate(old: KeyCipher, new: KeyCipher) -> int:
                return asyncio.run(rotate_postgres_master_key(url, old, new))

        else:
            path = registry
            if not path.exists():
                print(f"jamey: error: there is no agent registry at {path}", file=err)
                return 1
            keys = key_directory(path, state_dir)
            old, _ = load_master_key(keys, env, create=False)

            def rotate(old: KeyCipher, new: KeyCipher) -> int:
                return rotate_sqlite_master_key(path, old, new)

        if new_key_env is not None:
            text = env.get(new_key_env, "")
            if not text.strip():
                print(
                    f"jamey: error: {new_key_env} is not set; put the new master key in it "
                    f"(make one with: {MAKE_KEY_HINT})",
                    file=err,
                )
                return 2
            new = KeyCipher.from_text(text, source=new_key_env)
            count = rotate(old, new)
            print(
                f"Re-encrypted {count} agent key(s) in {registry}. "
                f"Now set {SECRET_KEY_VAR} to the value of {new_key_env}.",
                file=out,
            )
            return 0
        if old.source == SECRET_KEY_VAR:
            print(
                f"jamey: error: the master key comes from {SECRET_KEY_VAR}: put the new key in "
                f"another variable and pass --new-key-env VAR (make one with: {MAKE_KEY_HINT})",
                file=err,
            )
            return 2
        assert keys is not None  # the key came from a key file, so there is a directory
        key_file = keys / KEY_FILE_NAME
        pending = pending_key_file(key_file)
        text = generate_master_key()
        write_key_file(pending, text, exclusive=False)
        try:
            count = rotate(old, KeyCipher.from_text(text, source="new key"))
        except BaseException:
            with contextlib.suppress(OSError):
                pending.unlink()
            raise
        os.replace(pending, key_file)  # atomic: the old key is gone only now
        print(
            f"Re-encrypted {count} agent key(s) in {registry}; the new master key is in "
            f"{key_file}.",
            file=out,
        )
    except (RegistryError, ConfigError, ValueError) as exc:
        print(f"jamey: error: {exc}", file=err)
        return 1
    return 0


def _run(args: argparse.Namespace) -> int:
    return rotate_key(args.registry, args.new_key_env)


ROTATE_KEY_COMMAND = CliCommand(
    help="re-encrypt the agent registry's API keys under a new master key",
    description=(
        "Re-encrypt every API key stored in the agent registry under a new master key, in one "
        "transaction. Stop the runtimes using the registry first. With the key file, a new key "
        f"is generated and replaces it; with {SECRET_KEY_VAR}, pass --new-key-env VAR naming a "
        f"variable that holds the new key, then set {SECRET_KEY_VAR} to it."
    ),
    run=_run,
    configure=_configure,
)
