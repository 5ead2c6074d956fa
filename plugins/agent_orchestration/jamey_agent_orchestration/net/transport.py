"""The connector's HTTPS: one session per runtime, every dialled address checked, errors made safe.

Every protocol client sends its requests through :meth:`Transport.request`. What it guarantees:

- Every address actually dialled (IP literals, resolved names alike) passes
  :func:`~jamey_agent_orchestration.net.address_policy.check_address` in the session's socket
  factory, so nothing is sent to a refused address, whatever DNS answers.
- TLS is the connector's one verified client context (:mod:`~jamey_agent_orchestration.net.tls`);
  redirects are never followed; no proxy from the environment, no cookies kept.
- A failure never raises: it comes back as an :class:`~jamey_agent_orchestration.net.client.Attempt`
  whose message is built from safe parts only (status codes, errno texts, TLS verify messages,
  exception type names). The ``str`` and ``repr`` of aiohttp's exceptions can carry the request
  headers, hence the bearer key, so they are never shown, logged or chained.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import logging
import os
import socket
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Final, final

import aiohttp
import yarl
from aiohappyeyeballs import AddrInfoType

from jamey_agent_orchestration.model import SecurityViolation
from jamey_agent_orchestration.net.address_policy import check_address, check_port
from jamey_agent_orchestration.net.body import SEND_FAILED
from jamey_agent_orchestration.net.client import Attempt, FailureKind
from jamey_agent_orchestration.net.tls import (
    build_client_context,
    describe_certificate_error,
    describe_ssl_error,
)
from jamey_agent_orchestration.settings import AgentSettings

__all__ = ["SEND_FAILED", "Reader", "Transport"]

logger = logging.getLogger(__name__)

#: Reads the answer of one request into an :class:`Attempt` (the protocol's part of a request).
Reader = Callable[[aiohttp.ClientResponse], Awaitable[Attempt]]


@final
class _DialLog:
    """What the socket factory saw during one request; aiohttp merges its OSErrors into one."""

    __slots__ = ("dialled", "refusals")

    def __init__(self) -> None:
        self.refusals: list[str] = []
        self.dialled = 0

    def refused(self) -> Attempt:
        """The request's outcome: the first refusal; sent only if another address was dialled."""
        return Attempt.failed(FailureKind.SECURITY, self.refusals[0], sent=self.dialled > 0)


_DIAL_LOG: contextvars.ContextVar[_DialLog | None] = contextvars.ContextVar(
    "jamey_agent_dial_log", default=None
)


class _AddressRefused(OSError):
    """Raised by the socket factory; an OSError so aiohttp tries the name's other addresses."""


@final
class Transport:
    """One aiohttp session per runtime, opened by :meth:`start` and closed by :meth:`close`."""

    def __init__(self, settings: AgentSettings) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._starting = asyncio.Lock()

    async def start(self) -> None:
        """Build the TLS context (in a thread: it reads files) and open the session."""
        async with self._starting:  # two concurrent starts must not open two sessions
            if self._closed:
                raise RuntimeError("Transport was closed")
            if self._session is None:
                context = await asyncio.to_thread(build_client_context, self._settings.ca_bundle)
                if self._closed:  # close() ran while the context was being built
                    raise RuntimeError("Transport was closed")
                self._session = self._open_session(context)

    def _open_session(self, context: ssl.SSLContext) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            ssl=context,
            socket_factory=self._open_socket,
            limit=0,  # broadcast is bounded by max_concurrency; a pool limit would only queue
            ttl_dns_cache=10,  # a stale entry is harmless: each dialled address is checked anyway
        )
        return aiohttp.ClientSession(
            connector=connector,
            trust_env=False,  # a proxy from the environment would bypass the address check
            cookie_jar=aiohttp.DummyCookieJar(),  # no agent's cookies may reach another agent
            timeout=aiohttp.ClientTimeout(total=self._settings.timeout),
            raise_for_status=False,
        )

    async def close(self) -> None:
        """Close the session and its connections; safe to call more than once."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _open_socket(self, addr_info: AddrInfoType) -> socket.socket:
        """aiohttp's socket factory: refuse a forbidden address before any socket exists."""
        family, type_, proto, _, sockaddr = addr_info
        log = _DIAL_LOG.get()
        try:
            check_address(str(sockaddr[0]), self._settings.allow_networks)
            check_port(int(sockaddr[1]))
        except SecurityViolation as exc:
            if log is not None:
                log.refusals.append(str(exc))
            raise _AddressRefused(errno.EACCES, str(exc)) from None
        if log is not None:
            log.dialled += 1
        return socket.socket(family=family, type=type_, proto=proto)

    async def request(
        self,
        method: str,
        url: yarl.URL,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: aiohttp.ClientTimeout,
        read: Reader,
    ) -> Attempt:
        """Send one request and let ``read`` judge the answer; every failure is an Attempt.

        Raises only :class:`RuntimeError` when :meth:`start` was not awaited.
        """
        session = self._session
        if session is None:
            raise RuntimeError("Transport.start() was not awaited")
        log = _DialLog()
        token = _DIAL_LOG.set(log)
        try:
            async with session.request(
                method,
                url,
                data=body,
                headers=headers,
                allow_redirects=False,  # a redirect is a failure (and could downgrade to http)
                timeout=timeout,
            ) as response:
                return await read(response)
        except aiohttp.ClientConnectorCertificateError as exc:
            reason = describe_certificate_error(exc.certificate_error)
            return Attempt.failed(FailureKind.TLS, f"Certificate validation failed: {reason}")
        except (aiohttp.ClientSSLError, ssl.SSLError) as exc:
            reason = describe_ssl_error(getattr(exc, "os_error", exc))
            error = f"{SEND_FAILED}: TLS handshake failed ({reason})"
            return Attempt.failed(FailureKind.TLS, error)
        except TimeoutError:
            if log.refusals:  # some addresses refused, the others unreachable: say why
                return log.refused()
            error = f"{SEND_FAILED}: timed out after {timeout.total:g}s"
            return Attempt.failed(FailureKind.TIMEOUT, error)
        except aiohttp.ClientConnectorError as exc:
            if log.refusals:  # aiohttp merged our refusals into one plain OSError
                return log.refused()
            cause = _os_cause(exc.os_error)
            if isinstance(exc, aiohttp.ClientConnectorDNSError):
                cause = f"cannot resolve host ({cause})"
            # Nothing dialled (a name that does not resolve): no request went to the agent.
            error = f"{SEND_FAILED}: {cause}"
            return Attempt.failed(FailureKind.CONNECTION, error, sent=log.dialled > 0)
        except aiohttp.ServerDisconnectedError:
            error = f"{SEND_FAILED}: server disconnected"
            return Attempt.failed(FailureKind.CONNECTION, error)
        except aiohttp.ClientPayloadError:
            error = f"{SEND_FAILED}: response body incomplete"
            return Attempt.failed(FailureKind.CONNECTION, error)
        except aiohttp.ClientResponseError:
            error = f"{SEND_FAILED}: invalid HTTP response"
            return Attempt.failed(FailureKind.BAD_RESPONSE, error)
        except (aiohttp.ClientError, OSError) as exc:
            cause = _os_cause(exc) if isinstance(exc, OSError) else type(exc).__name__
            return Attempt.failed(FailureKind.CONNECTION, f"{SEND_FAILED}: {cause}")
        except Exception as exc:  # never let an unforeseen error (or its repr) escape
            logger.warning("Unexpected %s while sending a task to an agent", type(exc).__name__)
            error = f"{SEND_FAILED}: unexpected error ({type(exc).__name__})"
            return Attempt.failed(FailureKind.BAD_RESPONSE, error)
        finally:
            _DIAL_LOG.reset(token)


def _os_cause(error: OSError) -> str:
    """A short cause such as ``connection refused``, from the errno only (never the full text)."""
    if isinstance(error, socket.gaierror) and error.strerror:
        return error.strerror.lower()
    if isinstance(error.errno, int) and error.errno > 0:
        return os.strerror(error.errno).lower()
    # asyncio raises some of these without an errno (e.g. ConnectionResetError("Connection lost")).
    for kind, cause in _CAUSES:
        if isinstance(error, kind):
            return cause
    return type(error).__name__


_CAUSES: Final[tuple[tuple[type[OSError], str], ...]] = (
    (ConnectionRefusedError, "connection refused"),
    (ConnectionResetError, "connection reset"),
    (ConnectionAbortedError, "connection aborted"),
    (BrokenPipeError, "connection closed"),
)
