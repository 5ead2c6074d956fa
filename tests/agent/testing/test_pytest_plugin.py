"""The connector's pytest plugin: loaded in every pytest run where the package is installed."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from jamey_agent_orchestration.testing import ThrowawayCA


def test_the_pytest_plugin_imports_nothing_heavy() -> None:
    # pytest imports the pytest11 module at start-up in every run: it must not pull in aiohttp,
    # trustme or cryptography (slow, and a crash where they are missing), nor the connector.
    code = textwrap.dedent(
        """
        import json, sys
        import jamey_agent_orchestration.testing.fixtures
        print(json.dumps(sorted(sys.modules)))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = {name.split(".")[0] for name in json.loads(done.stdout)}
    assert loaded.isdisjoint({"aiohttp", "trustme", "cryptography", "yarl", "attrs"})
    connector = {name for name in json.loads(done.stdout) if name.startswith("jamey_agent")}
    assert connector == {
        "jamey_agent_orchestration",
        "jamey_agent_orchestration.lazy_names",  # stdlib only: the packages' lazy names
        "jamey_agent_orchestration.testing",
        "jamey_agent_orchestration.testing.fixtures",
    }


def test_the_testing_package_loads_its_names_when_asked() -> None:
    import jamey_agent_orchestration.testing as testing

    assert testing.ThrowawayCA is ThrowawayCA
    assert "start_test_agent" in dir(testing)
