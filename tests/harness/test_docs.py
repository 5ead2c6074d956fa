"""Every code block of ``README.md`` and ``docs/*.md`` runs as it is written, unless it is marked
as a fragment (issue 13 item 13; the convention is in :mod:`.doc_blocks`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from .doc_blocks import (
    FRAGMENT,
    ROOT,
    RUNNABLE,
    Block,
    all_blocks,
    blocks,
    docs,
    shell_script,
    write_files,
)
from .samples import BATTERY_SIZE, MODES, inner_args

# Imported at collection, before any pytester snapshot of sys.modules: pytester drops the modules
# first imported during a test, and cryptography's compiled bindings do not survive their Python
# modules being imported a second time in one process.
pytest.importorskip("jamey_agent_orchestration.testing.agents")

BLOCKS = all_blocks()
RUN = [block for block in BLOCKS if not block.fragment and block.language in RUNNABLE]
TEST_FILES = [block for block in RUN if block.is_test_file]
OTHERS = [block for block in RUN if not block.is_test_file]


def where(block: Block) -> str:
    return block.where


def test_every_block_runs_or_is_marked_as_a_fragment() -> None:
    unknown = [
        f"{block.where} (```{block.language or ' with no language'})"
        for block in BLOCKS
        if not block.fragment and block.language not in RUNNABLE
    ]
    assert not unknown, (
        f"blocks in no language the docs test runs ({', '.join(sorted(RUNNABLE))}): put "
        f"{FRAGMENT} on the line before the fence of a block that is shown only: "
        + ", ".join(unknown)
    )


def test_every_doc_is_read_and_the_guides_examples_run() -> None:
    assert {path.name for path in docs()} == {
        "README.md",
        *(path.name for path in (ROOT / "docs").glob("*.md")),
    }
    guides = {
        "README.md",
        "host-guide.md",
        "writing-connectors.md",
        "testing-connectors.md",
        "testing-host-apps.md",
    }
    assert guides <= {block.doc.name for block in RUN}


def run_env(directory: Path, sources: list[Path]) -> dict[str, str]:
    """A user's environment: this venv's commands, the agent connector, state in ``directory``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("JAMEY_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(str(path) for path in [directory, *sources])
    env["JAMEY_HOME"] = str(directory / "jamey-home")
    env["JAMEY_LOAD_PLUGINS"] = "agent_orchestration"
    return env


@pytest.mark.parametrize("block", OTHERS, ids=where)
def test_the_block_runs_as_written(block: Block, tmp_path: Path) -> None:
    sources = write_files(blocks(block.doc), tmp_path)
    if block.language == "toml":
        tomllib.loads(block.text)
        return
    if block.language == "json":
        json.loads(block.text)
        return
    if block.language == "python":
        if block.file_name is not None:  # a module: its imports and definitions run
            runner = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='doc_module')"
            command = [sys.executable, "-c", runner, str(tmp_path / block.file_name)]
        else:
            script = tmp_path / "doc_block.py"
            script.write_text(block.text, encoding="utf-8")
            command = [sys.executable, str(script)]
    else:
        command = ["bash", "-e", "-o", "pipefail", "-c", shell_script(block)]
    done = subprocess.run(
        command,
        cwd=tmp_path,
        env=run_env(tmp_path, sources),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (
        f"{block.where} fails as written (exit status {done.returncode}); fix it, or put "
        f"{FRAGMENT} before its fence if it is shown only:\n{done.stdout}\n{done.stderr}"
    )
    assert "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("block", TEST_FILES, ids=where)
def test_the_test_file_passes_as_written(
    pytester: pytest.Pytester, block: Block, mode: str
) -> None:
    for source in write_files(blocks(block.doc), pytester.path):
        pytester.syspathinsert(source)
    assert block.file_name is not None
    result = pytester.runpytest(*inner_args(mode), "-W", "error", block.file_name)
    outcomes = result.parseoutcomes()
    assert result.ret == pytest.ExitCode.OK, "\n".join(result.outlines)
    assert outcomes.get("passed", 0) > 0
    assert set(outcomes) <= {"passed"}, outcomes


def test_the_testing_guide_runs_the_battery_and_its_own_tests(pytester: pytest.Pytester) -> None:
    """docs/testing-connectors.md says what its complete example runs: hold it to that."""
    doc = ROOT / "docs" / "testing-connectors.md"
    write_files(blocks(doc), pytester.path)
    result = pytester.runpytest(*inner_args("strict"), "-W", "error", "test_echo_connector.py")
    result.assert_outcomes(passed=BATTERY_SIZE + 2)
    assert f"runs the {BATTERY_SIZE} battery tests plus the two of your own" in doc.read_text()


# -- the extraction itself -----------------------------------------------------------------


SAMPLE = """# A doc

```python
print("runs")
```

<!-- fragment -->
```python
await shown_only()
```

- a list item:

  ```sh
  echo indented
  ```

```python
# pkg/src/mod/thing.py
VALUE = 1
```

```
no language
```
"""


def test_blocks_are_found_with_their_language_place_and_marks(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(SAMPLE)
    found = blocks(doc)
    assert [(b.line, b.language, b.fragment) for b in found] == [
        (3, "python", False),
        (8, "python", True),
        (14, "sh", False),
        (18, "python", False),
        (23, "", False),
    ]
    assert found[0].text == 'print("runs")\n'
    assert found[2].text == "echo indented\n"
    assert [b.file_name for b in found] == [None, None, None, "pkg/src/mod/thing.py", None]
    assert write_files(found, tmp_path / "out") == [tmp_path / "out" / "pkg" / "src"]
    assert (
        (tmp_path / "out" / "pkg" / "src" / "mod" / "thing.py").read_text().endswith("VALUE = 1\n")
    )


def test_a_console_prompt_is_dropped_and_an_unclosed_block_is_an_error(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("```console\n$ jamey plugins\n\n$ jamey connectors\n```\n")
    assert shell_script(blocks(doc)[0]) == "jamey plugins\njamey connectors\n"
    doc.write_text("```python\nprint(1)\n")
    with pytest.raises(ValueError, match="never closed"):
        blocks(doc)
