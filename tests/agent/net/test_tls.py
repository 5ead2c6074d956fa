"""The TLS matrix: what the connector trusts, what it refuses; it never logs TLS secrets."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest

from jamey_agent_orchestration.net.client import Delivery, FailureKind
from jamey_agent_orchestration.net.tls import build_client_context
from jamey_agent_orchestration.net.transport import Transport
from jamey_agent_orchestration.settings import AgentSettings
from jamey_agent_orchestration.testing import AgentServerFactory, RecordingAgent, ThrowawayCA

from .clients import MakeClient, send
from .servers import blocking_tls_server, json_answer, only_tls

CERT_FAILED = "Certificate validation failed: "


async def serving(
    factory: AgentServerFactory, context: ssl.SSLContext | None = None
) -> RecordingAgent:
    agent = await factory(ssl_context=context)
    agent.serve_with(json_answer())
    return agent


# -- the context itself ---------------------------------------------------------------------------


def test_context_is_verified_tls12_plus(jamey_agent_ca: ThrowawayCA) -> None:
    context = build_client_context(jamey_agent_ca.ca_path)
    assert context.protocol == ssl.PROTOCOL_TLS_CLIENT
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.keylog_filename is None


def test_ca_bundle_adds_to_the_system_store(jamey_agent_ca: ThrowawayCA) -> None:
    system_only = build_client_context()
    combined = build_client_context(jamey_agent_ca.ca_path)
    system_count = system_only.cert_store_stats()["x509_ca"]
    assert combined.cert_store_stats()["x509_ca"] == system_count + 1
    test_ca_der = ssl.PEM_cert_to_DER_cert(jamey_agent_ca.ca_path.read_text())
    system = set(system_only.get_ca_certs(binary_form=True))
    combined_certs = set(combined.get_ca_certs(binary_form=True))
    assert combined_certs == system | {test_ca_der}
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
    transport = Transport(AgentSettings(ca_bundle=tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="Invalid setting ca_bundle"):
        await transport.start()
    await transport.close()


async def test_sslkeylogfile_is_never_written(
    make_client: MakeClient,
    jamey_agent_server: AgentServerFactory,
    jamey_agent_ca: ThrowawayCA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keylog = tmp_path / "keys.log"
    monkeypatch.setenv("SSLKEYLOGFILE", str(keylog))
    assert build_client_context(jamey_agent_ca.ca_path).keylog_filename is None
    assert not keylog.exists()
    agent = await serving(jamey_agent_server)
    assert (await send(await make_client(), agent.url)).ok
    assert not keylog.exists()


# -- real handshakes ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_trusted_through_ca_bundle(
    make_client: MakeClient,
    jamey_agent_server: AgentServerFactory,
    jamey_agent_ca: ThrowawayCA,
    version: ssl.TLSVersion,
) -> None:
    agent = await serving(jamey_agent_server, only_tls(version, jamey_agent_ca.server_context()))
    delivery = await send(await make_client(), agent.url)
    assert (delivery.ok, delivery.attempts) == (True, 1)


async def test_platform_store_and_bundle_both_trusted(
    make_client: MakeClient,
    jamey_agent_server: AgentServerFactory,
    jamey_agent_ca: ThrowawayCA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Stand in for the platform store with another CA, found the way OpenSSL finds it.
    with ThrowawayCA(tmp_path) as platform_ca:
        monkeypatch.setenv("SSL_CERT_FILE", str(platform_ca.ca_path))
        client = await make_client()
        for issuer in (platform_ca, jamey_agent_ca):
            agent = await serving(jamey_agent_server, issuer.server_context())
            assert (await send(client, agent.url)).ok


def _expect_refused(delivery: Delivery, requests: list[Any], error: str) -> None:
    assert delivery.error == error
    assert (delivery.failure, delivery.attempts, delivery.status) == (FailureKind.TLS, 1, None)
    assert requests == []  # nothing reached the agent


async def test_untrusted_ca(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory
) -> None:
    with ThrowawayCA() as other_ca:
        agent = await serving(jamey_agent_server, other_ca.server_context())
        delivery = await send(await make_client(), agent.url)
    _expect_refused(
        delivery, agent.requests, CERT_FAILED + "unable to get local issuer certificate"
    )


async def test_no_ca_bundle_means_system_store_only(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory
) -> None:
    agent = await serving(jamey_agent_server)
    delivery = await send(await make_client(ca_bundle=None), agent.url)
    _expect_refused(
        delivery, agent.requests, CERT_FAILED + "unable to get local issuer certificate"
    )


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("localhost", "Hostname mismatch, certificate is not valid for 'localhost'."),
        ("127.0.0.1", "IP address mismatch, certificate is not valid for '127.0.0.1'."),
    ],
)
async def test_host_name_mismatch(
    make_client: MakeClient,
    jamey_agent_server: AgentServerFactory,
    jamey_agent_ca: ThrowawayCA,
    host: str,
    message: str,
) -> None:
    agent = await serving(jamey_agent_server, jamey_agent_ca.server_context("agent.example"))
    delivery = await send(await make_client(), f"https://{host}:{agent.port}")
    _expect_refused(delivery, agent.requests, CERT_FAILED + message)


async def test_expired_certificate(
    make_client: MakeClient, jamey_agent_server: AgentServerFactory, jamey_agent_ca: ThrowawayCA
) -> None:
    agent = await serving(jamey_agent_server, jamey_agent_ca.server_context(expired=True))
    delivery = await send(await make_client(), agent.url)
    _expect_refused(delivery, agent.requests, CERT_FAILED + "certificate has expired")


async def test_server_offering_only_tls11_is_refused(
    make_client: MakeClient, jamey_agent_ca: ThrowawayCA
) -> None:
    context = only_tls(ssl.TLSVersion.TLSv1_1, jamey_agent_ca.server_context())
    with blocking_tls_server(context) as server:
        delivery = await send(await make_client(), server.url())
    assert delivery.error == "Failed to send task to agent: TLS handshake failed " + (
        "(TLSV1_ALERT_PROTOCOL_VERSION)"
    )
    assert (delivery.failure, delivery.attempts) == (FailureKind.TLS, 1)
    assert (server.handshakes, server.completed) == (1, 0)  # tried once, never retried
