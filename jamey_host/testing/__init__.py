"""pytest support for connector authors (``pip install 'jamey-host[testing]'``).

The fixtures ``jamey_runtime`` and ``jamey_audit_events`` come from the ``pytest11`` plugin
:mod:`jamey_host.testing.plugin`; :class:`ConnectorContract` is the battery of tests that every
connector must pass. See ``docs/testing-connectors.md``.
"""

from __future__ import annotations

from jamey_host.testing.contract import ConnectorContract, ConnectorContractWarning
from jamey_host.testing.plugin import AuditEventList, JameyTestingAuditRecorder, RuntimeFactory

__all__ = [
    "AuditEventList",
    "ConnectorContract",
    "ConnectorContractWarning",
    "JameyTestingAuditRecorder",
    "RuntimeFactory",
]
