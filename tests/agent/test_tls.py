"""The TLS matrix: what the connector trusts, what it refuses; it never logs TLS secrets."""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trustme
import yarl
from https_servers import (
    blocking_tls_server,
    https_server,
    issue,
    json_handler,
    server_context,
    write_ca,
)

from jamey_agent_orchestration.api_key import ApiKey
from jamey_agent_orchestration.retries import FailureKind, RetryPolicy
from jamey_agent_orchestration.settings import AgentSettings
from jamey_agent_orchestration.tls import build_client_context
from jamey_agent_orchestration.transport import AgentTransport, Delivery

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
CERT_FAILED = "Certificate validation failed: "


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_path(ca: trustme.CA, tmp_path: Path) -> Path:
    return write_ca(ca, tmp_path)


@asynccontextmanager
async def client(ca_bundle: Path | None, **overrides: Any) -> AsyncIterator[AgentTransport]:
    """A started transport (3 attempts, tiny backoff) trusting ``ca_bundle`` besides the system."""
    settings = AgentSettings(ca_bundle=ca_bundle, allow_networks=LOOPBACK, timeout=5.0, **overrides)
    transport = AgentTransport(
        settings, retry_policy=RetryPolicy(attempts=settings.retries, backoff_initial=0.001)
    )
    await transport.start()
    try:
        yield transport
    finally:
        await transport.close()


async def send(transport: AgentTransport, url: yarl.URL) -> Delivery:
    return await transport.deliver(
        url=url, api_key=ApiKey("k"), task="t", params={}, idempotency_key="i"
    )


# -- the context itself ---------------------------------------------------------------------------


def test_context_is_verified_tls12_plus(ca_path: Path) -> None:
    context = build_client_context(ca_path)
    assert context.protocol == ssl.PROTOCOL_TLS_CLIENT
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.keylog_filename is None


def test_ca_bundle_adds_to_the_system_store(ca: trustme.CA, ca_path: Path) -> None:
    system_only = build_client_context()
    combined = build_client_context(ca_path)
    system_count = system_only.cert_store_stats()["x509_ca"]
    assert combined.cert_store_stats()["x509_ca"] == system_count + 1
    trustme_der = ssl.PEM_cert_to_DER_cert(ca.cert_pem.bytes().decode())
    system = set(system_only.get_ca_certs(binary_form=True))
    combined_certs = set(combined.get_ca_certs(binary_form=True))
    assert combined_certs == system | {trustme_der}
    if not system:
        pytest.skip("no system CA file here; see test_platform_store_and_bundle_both_trusted")
    assert len(system) == system_count  # the platform's CAs, all still trusted


@pytest.mark.parametrize(
    ("content", "reason"), [(None, "file not found"), (b"not a pem\n", "cannot load")]
)
def test_bad_ca_bundle_names_the_setting(
    tmp_path: Path, content: bytes | None, reason: str
) -> None:
    path = tmp_path / "bundle.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match="ca_bundle") as info:
        build_client_context(path)
    assert str(path) in str(info.value)
    assert reason in str(info.value)


async def test_bad_ca_bundle_fails_start(tmp_path: Path) -> None:
    transport = AgentTransport(AgentSettings(ca_bundle=tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="Invalid setting ca_bundle"):
        await transport.start()
    await transport.close()


async def test_sslkeylogfile_is_never_written(
    ca: trustme.CA, ca_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keylog = tmp_path / "keys.log"
    monkeypatch.setenv("SSLKEYLOGFILE", str(keylog))
    assert build_client_context(ca_path).keylog_filename is None
    assert not keylog.exists()
    async with https_server(json_handler(), issue(ca)) as server, client(ca_path) as transport:
        assert (await send(transport, server.url())).ok
    assert not keylog.exists()


# -- real handshakes ------------------------------------------------------------------------------


@pytest.mark.parametrize("maximum", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_trusted_through_ca_bundle(
    ca: trustme.CA, ca_path: Path, maximum: ssl.TLSVersion
) -> None:
    async with (
        https_server(json_handler(), issue(ca), maximum_version=maximum) as server,
        client(ca_path) as transport,
    ):
        delivery = await send(transport, server.url())
    assert (delivery.ok, delivery.attempts) == (True, 1)


async def test_platform_store_and_bundle_both_trusted(
    ca: trustme.CA, ca_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stand in for the platform store with another CA, found the way OpenSSL finds it.
    platform_ca = trustme.CA()
    monkeypatch.setenv("SSL_CERT_FILE", str(write_ca(platform_ca, tmp_path, "platform.pem")))
    async with client(ca_path) as transport:
        for issuer in (platform_ca, ca):
            async with https_server(json_handler(), issue(issuer)) as server:
                assert (await send(transport, server.url())).ok


def _expect_refused(delivery: Delivery, requests: list[Any], error: str) -> None:
    assert delivery.error == error
    assert (delivery.failure, delivery.attempts, delivery.status) == (FailureKind.TLS, 1, None)
    assert requests == []  # nothing reached the handler


async def test_untrusted_ca(ca_path: Path) -> None:
    async with (
        https_server(json_handler(), issue(trustme.CA())) as server,
        client(ca_path) as transport,
    ):
        delivery = await send(transport, server.url())
    _expect_refused(
        delivery, server.requests, CERT_FAILED + "unable to get local issuer certificate"
    )


async def test_no_ca_bundle_means_system_store_only(ca: trustme.CA) -> None:
    async with https_server(json_handler(), issue(ca)) as server, client(None) as transport:
        delivery = await send(transport, server.url())
    _expect_refused(
        delivery, server.requests, CERT_FAILED + "unable to get local issuer certificate"
    )


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("localhost", "Hostname mismatch, certificate is not valid for 'localhost'."),
        ("127.0.0.1", "IP address mismatch, certificate is not valid for '127.0.0.1'."),
    ],
)
async def test_host_name_mismatch(ca: trustme.CA, ca_path: Path, host: str, message: str) -> None:
    async with (
        https_server(json_handler(), issue(ca, "agent.example")) as server,
        client(ca_path) as transport,
    ):
        delivery = await send(transport, server.url(host))
    _expect_refused(delivery, server.requests, CERT_FAILED + message)


async def test_expired_certificate(ca: trustme.CA, ca_path: Path) -> None:
    async with (
        https_server(json_handler(), issue(ca, expired=True)) as server,
        client(ca_path) as transport,
    ):
        delivery = await send(transport, server.url())
    _expect_refused(delivery, server.requests, CERT_FAILED + "certificate has expired")


async def test_server_offering_only_tls11_is_refused(ca: trustme.CA, ca_path: Path) -> None:
    context = server_context(issue(ca), maximum_version=ssl.TLSVersion.TLSv1_1)
    with blocking_tls_server(context) as server:
        async with client(ca_path) as transport:
            delivery = await send(transport, server.url())
    assert delivery.error == "Failed to send task to agent: TLS handshake failed " + (
        "(TLSV1_ALERT_PROTOCOL_VERSION)"
    )
    assert (delivery.failure, delivery.attempts) == (FailureKind.TLS, 1)
    assert (server.handshakes, server.completed) == (1, 0)  # tried once, never retried
