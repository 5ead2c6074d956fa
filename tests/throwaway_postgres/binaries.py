"""Where this machine keeps the PostgreSQL server programs, if it has them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

INSTALL_HINT = "PostgreSQL is not installed here: apt-get install -y postgresql (Debian, Ubuntu)"

# Debian and Ubuntu keep each major version's programs here, off $PATH.
DEBIAN_ROOT = Path("/usr/lib/postgresql")

PROGRAMS = ("initdb", "postgres", "psql")


def find_bindir() -> Path | None:
    """The first directory holding initdb, postgres and psql, or None.

    Looked for on $PATH, then in ``pg_config --bindir``, then in Debian's layout (newest first).
    """
    candidates: list[Path] = []
    initdb = shutil.which("initdb")
    if initdb is not None:
        candidates.append(Path(initdb).parent)
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        try:
            reported = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
        else:
            candidates.append(Path(reported))
    candidates.extend(sorted(DEBIAN_ROOT.glob("*/bin"), key=_major_version, reverse=True))
    for directory in candidates:
        if all((directory / program).is_file() for program in PROGRAMS):
            return directory
    return None


def _major_version(bindir: Path) -> tuple[int, ...]:
    """``/usr/lib/postgresql/15/bin`` -> (15,); names that are not versions sort first."""
    try:
        return tuple(int(part) for part in bindir.parent.name.split("."))
    except ValueError:
        return ()
