"""Running the ``jamey`` command of the environment under test in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Final

#: The ``jamey`` console script next to the interpreter running the tests.
JAMEY: Final = str(Path(sys.executable).parent / "jamey")


def clean_env(home: Path, *, plugins: str) -> dict[str, str]:
    """This process's environment with no ``JAMEY_`` variable of its own: only ``plugins``
    loaded, and the state in ``home``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("JAMEY_")}
    environ["JAMEY_LOAD_PLUGINS"] = plugins
    environ["JAMEY_HOME"] = str(home)
    return environ


def jamey(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``jamey ARGS`` run to its end (a minute at most), its output as text."""
    return subprocess.run(
        [JAMEY, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
