"""The connector's one TLS client context: verified, TLS 1.2+, platform store plus ``ca_bundle``.

Building it reads certificate files, so callers on an event loop run :func:`build_client_context`
in a thread (``asyncio.to_thread``), once per runtime.
"""

from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["build_client_context", "describe_certificate_error", "describe_ssl_error"]


def build_client_context(ca_bundle: Path | None = None) -> ssl.SSLContext:
    """Return a client context that verifies certificates and host names, with TLS 1.2 or newer.

    Trust is the platform's default store (as OpenSSL locates it, so ``SSL_CERT_FILE`` and
    ``SSL_CERT_DIR`` apply) plus the CAs in ``ca_bundle``, which are added to it, never put in its
    place. ``SSLKEYLOGFILE`` is ignored: the context is built by hand, not with
    ``ssl.create_default_context``, which would open that file and log every connection's secrets.

    Raises ``ValueError`` naming the ``ca_bundle`` setting and the path when that file cannot be
    read or holds no certificate.
    """
    # PROTOCOL_TLS_CLIENT defaults to CERT_REQUIRED and check_hostname=True; they are checked
    # below, and no parameter of this function can change them.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if ca_bundle is not None:
        _add_ca_bundle(context, ca_bundle)
    # The agent protocol is HTTP/1.1 (SSLContext already sets OP_NO_COMPRESSION and no SSLv3).
    context.set_alpn_protocols(["http/1.1"])
    # Never inherit a key log file, whatever the environment says.
    context.keylog_filename = None  # type: ignore[assignment]
    if context.verify_mode != ssl.CERT_REQUIRED or not context.check_hostname:
        raise RuntimeError("TLS client context lost certificate or host name verification")
    return context


def _add_ca_bundle(context: ssl.SSLContext, ca_bundle: Path) -> None:
    """Add the CAs of the ``ca_bundle`` PEM file to the context's trust store."""
    try:
        context.load_verify_locations(cafile=ca_bundle)
    except FileNotFoundError:
        raise ValueError(f"Invalid setting ca_bundle: file not found: {ca_bundle}") from None
    except (OSError, ssl.SSLError) as exc:
        # ssl.SSLError subclasses OSError; its reason ("NO_CERTIFICATE_OR_CRL_FOUND") is enough.
        reason = getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
        raise ValueError(
            f"Invalid setting ca_bundle: cannot load CA certificates from {ca_bundle} ({reason})"
        ) from None


def describe_certificate_error(error: BaseException) -> str:
    """A verification failure as OpenSSL words it (untrusted, expired, host name mismatch).

    Only ``verify_message`` or the reason code is used: safe to show, unlike some exceptions' text.
    """
    message = getattr(error, "verify_message", None)
    return str(message) if message else describe_ssl_error(error)


def describe_ssl_error(error: BaseException) -> str:
    """OpenSSL's reason code (e.g. ``TLSV1_ALERT_PROTOCOL_VERSION``), else the type name."""
    reason = getattr(error, "reason", None)
    return str(reason) if reason else type(error).__name__
