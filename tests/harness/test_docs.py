"""The examples of docs/testing-connectors.md run as they are written, in both modes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .samples import BATTERY_SIZE, MODES, run_inner

# Imported at collection, before any pytester snapshot of sys.modules: pytester drops the modules
# first imported during a test, and cryptography's compiled bindings do not survive their Python
# modules being imported a second time in one process.
pytest.importorskip("jamey_agent_orchestration.testing.agents")

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing-connectors.md"
_BLOCK = re.compile(r"```python\n# (test_\w+\.py)\n(.*?)```", re.DOTALL)


def doc_examples() -> dict[str, str]:
    return dict(_BLOCK.findall(DOC.read_text(encoding="utf-8")))


def test_the_doc_has_its_examples() -> None:
    assert sorted(doc_examples()) == ["test_agent_round_trip.py", "test_echo_connector.py"]


@pytest.mark.parametrize("mode", MODES)
def test_the_doc_examples_pass(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(**{name.removesuffix(".py"): body for name, body in doc_examples().items()})
    result = run_inner(pytester, mode, "-W", "error")
    result.assert_outcomes(passed=BATTERY_SIZE + 3, warnings=0)
