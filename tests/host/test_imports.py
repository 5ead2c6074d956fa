"""What ``import jamey_host`` costs: the library, not the command line."""

from __future__ import annotations

import subprocess
import sys

import jamey_host


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return set(done.stdout.split())


def test_import_jamey_host_does_not_import_the_command_line() -> None:
    modules = _modules_after("import jamey_host")
    assert "jamey_host.cli" not in modules
    assert "argparse" not in modules


def test_cli_command_is_still_exported() -> None:
    from jamey_host.commands import CliCommand

    assert jamey_host.CliCommand is CliCommand
    assert "CliCommand" in jamey_host.__all__


def test_every_exported_name_exists() -> None:
    for name in jamey_host.__all__:
        assert getattr(jamey_host, name) is not None, name
