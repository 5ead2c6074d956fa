"""Benchmarks of jamey-host and the agent connector against raw pluggy and raw aiohttp.

Run with ``tox -e bench`` (or ``python -m benchmarks [--quick]`` from the repository root).
Not part of the test run. See ``docs/performance.md`` for what each figure means.
"""
