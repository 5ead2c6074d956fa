"""The fenced code blocks of ``docs/*.md`` and ``README.md``, and how the docs test runs each.

The convention every doc follows (issue 13 item 13):

- A block whose opening fence has ``<!-- fragment -->`` on the line just before it is shown only.
- Every other block is run as it is written, by its language:
  ``python`` as a script, ``sh``/``console``/``bash`` by ``bash -e`` (a ``$ `` prompt is
  dropped), ``toml`` and ``json`` parsed. A block in any other language (or none) must be a
  fragment.
- A block whose first line is ``# PATH`` (``# test_echo.py``, ``# jamey-echo/pyproject.toml``)
  is a file: all of a doc's files are written into one directory before any of its blocks runs.
  A file named ``test_*.py`` is run by pytest (strict and auto mode); any other ``.py`` file is
  executed as a module (``runpy``), so that its imports and definitions are checked.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import attrs

ROOT: Final = Path(__file__).resolve().parents[2]
FRAGMENT: Final = "<!-- fragment -->"
RUNNABLE: Final = frozenset({"python", "sh", "console", "bash", "toml", "json"})
_FENCE: Final = re.compile(r"^(?P<indent>[ \t]*)```(?P<language>[^`\s]*)[ \t]*$")
_FILE_NAME: Final = re.compile(r"^# (?P<path>[\w./-]+\.(?:py|toml))$")


@attrs.frozen
class Block:
    """One fenced block of a doc."""

    doc: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    fragment: bool

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"

    @property
    def file_name(self) -> str | None:
        """The ``# PATH`` of a block that is a file, else ``None``."""
        first = self.text.split("\n", 1)[0]
        match = _FILE_NAME.match(first)
        return match["path"] if match else None

    @property
    def is_test_file(self) -> bool:
        name = self.file_name
        return name is not None and Path(name).name.startswith("test_") and name.endswith(".py")


def docs() -> list[Path]:
    """Every doc whose blocks are run: ``README.md`` and each ``docs/*.md``, found anew."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(doc: Path) -> list[Block]:
    lines = doc.read_text(encoding="utf-8").split("\n")
    found: list[Block] = []
    number = 0
    while number < len(lines):
        opening = _FENCE.match(lines[number])
        if opening is None:
            number += 1
            continue
        indent = opening["indent"]
        end = number + 1
        while end < len(lines) and lines[end].rstrip() != f"{indent}```":
            end += 1
        if end == len(lines):
            raise ValueError(f"{doc}:{number + 1}: a code block that is never closed")
        body = [line.removeprefix(indent) for line in lines[number + 1 : end]]
        found.append(
            Block(
                doc=doc,
                line=number + 1,
                language=opening["language"],
                text="\n".join(body) + "\n",
                fragment=number > 0 and lines[number - 1].strip() == FRAGMENT,
            )
        )
        number = end + 1
    return found


def all_blocks() -> list[Block]:
    return [block for doc in docs() for block in blocks(doc)]


def write_files(doc_blocks: list[Block], directory: Path) -> list[Path]:
    """Write the doc's file blocks into ``directory``; returns its ``src`` directories."""
    sources: list[Path] = []
    for block in doc_blocks:
        name = block.file_name
        if name is None or block.fragment:
            continue
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.text, encoding="utf-8")
        for parent in Path(name).parents:
            if parent.name == "src" and directory / parent not in sources:
                sources.append(directory / parent)
    return sources


def shell_script(block: Block) -> str:
    """The block as ``bash`` runs it: a console's ``$ `` prompts dropped."""
    return "".join(
        line.removeprefix("$ ") + "\n" for line in block.text.splitlines() if line.strip()
    )
