"""A throwaway trustme CA for the peer, on trustme directly (not on the connector's test helpers).

Clients trust the peer only through ``ca_path`` (or :meth:`PeerCA.client_context`); nothing here
turns certificate verification off.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Final, final

import trustme

__all__ = ["IDENTITIES", "PeerCA"]

IDENTITIES: Final = ("127.0.0.1", "localhost", "::1")


@final
class PeerCA:
    """A CA whose certificate is written to ``directory/ca.pem``, and one server certificate."""

    def __init__(self, directory: Path, *, identities: tuple[str, ...] = IDENTITIES) -> None:
        self._ca = trustme.CA(organization_name="jamey-host A2A peer CA")
        self._leaf = self._ca.issue_cert(*identities)
        self.ca_path = directory / "a2a-peer-ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_path))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._leaf.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context (certificate and host name) that trusts only this CA."""
        context = ssl.create_default_context(cafile=str(self.ca_path))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context
