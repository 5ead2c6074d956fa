"""Sending one task to one agent over verified HTTPS, with retries: the connector's network code.

Every address actually dialled (IP literals, resolved names alike) passes ``check_address`` in the
connector's socket factory, so nothing is sent to a refused address. Messages are built from safe
parts only (status codes, errno texts, TLS verify messages, exception type names): the ``str`` and
``repr`` of aiohttp's exceptions can carry the request headers, hence the bearer key.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import functools
import json
import logging
import math
import os
import socket
import ssl
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii as _quote
from typing import Final

import aiohttp
import attrs
import yarl
from aiohappyeyeballs import AddrInfoType

from .address_policy import check_address
from .api_key import ApiKey
from .errors import SecurityViolation
from .retries import (
    RETRYABLE_STATUSES,
    FailureKind,
    RetryPolicy,
    call_with_retries,
    failure_for_status,
    is_retryable,
    parse_retry_after,
)
from .settings import AgentSettings
from .tls import build_client_context, describe_certificate_error, describe_ssl_error

__all__ = ["AgentTransport", "Delivery", "FailureKind"]

logger = logging.getLogger(__name__)

_SEND_FAILED = "Failed to send task to agent"
_CHUNK = 64 * 1024


# Delivery and _Attempt are built for every request: plain slotted classes, not frozen ones, whose
# __init__ would pay an object.__setattr__ call per field. Nothing changes them once built.
@attrs.define
class Delivery:
    """The outcome of delivering one task to one agent, after any retries."""

    ok: bool
    response: object = None  # the parsed JSON body when ok
    text: str | None = None  # the JSON body as the agent sent it, when ok
    error: str | None = None  # a safe message in the contract's wording when not ok
    status: int | None = None  # the last HTTP status seen, if any
    attempts: int = 0  # requests actually sent (or at least dialled)
    failure: FailureKind | None = None


@attrs.define
class _Attempt:
    """One attempt's outcome, as the retry loop sees it."""

    delivery: Delivery
    sent: bool = True  # False when nothing was dialled (address refused before any socket)
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return is_retryable(self.delivery.failure, self.delivery.status)


class _DialLog:
    """What the socket factory saw during one attempt; aiohttp merges its OSErrors into one."""

    __slots__ = ("dialled", "refusals")

    def __init__(self) -> None:
        self.refusals: list[str] = []
        self.dialled = 0

    def refused(self) -> _Attempt:
        """The attempt's outcome: the first refusal; sent only if another address was dialled."""
        return _Attempt(_fail(FailureKind.SECURITY, self.refusals[0]), sent=self.dialled > 0)


_DIAL_LOG: contextvars.ContextVar[_DialLog | None] = contextvars.ContextVar(
    "jamey_agent_dial_log", default=None
)


class _AddressRefused(OSError):
    """Raised by the socket factory; an OSError so aiohttp tries the name's other addresses."""


@functools.lru_cache(maxsize=4096)  # one parse per agent, not per request
def _tasks_endpoint(url: yarl.URL) -> yarl.URL:
    return url.with_path(url.raw_path.rstrip("/") + "/api/v1/tasks", encoded=True)


def _task_body(task: str, params: Mapping[str, str]) -> bytes:
    """``{"task": ..., "params": {...}}`` as compact JSON.

    Every value is a string (the runtime checks params), so the standard library's string
    escaper is all it takes, at a third of ``json.dumps``'s cost on this per-request path.
    """
    fields = ",".join([f"{_quote(key)}:{_quote(value)}" for key, value in params.items()])
    return f'{{"task":{_quote(task)},"params":{{{fields}}}}}'.encode()


def _log_failure(url: yarl.URL, tries: int, delivery: Delivery) -> None:
    logger.debug("Task delivery to %s failed (try %d): %s", url.host, tries, delivery.error)


def _not_json(constant: str) -> object:
    raise ValueError(f"{constant} is not JSON")


# One decoder for every response: json.loads with an option builds a new one on each call.
_STRICT_JSON: Final = json.JSONDecoder(parse_constant=_not_json)


def _too_large(limit: int, status: int) -> _Attempt:
    error = f"{_SEND_FAILED}: response larger than {limit} bytes"
    return _Attempt(_fail(FailureKind.BAD_RESPONSE, error, status))


def _fail(kind: FailureKind, error: str, status: int | None = None) -> Delivery:
    return Delivery(ok=False, error=error, status=status, failure=kind)


class AgentTransport:
    """One aiohttp session per runtime; :meth:`deliver` sends a task, never raising for failures."""

    def __init__(self, settings: AgentSettings, *, retry_policy: RetryPolicy | None = None) -> None:
        """``retry_policy`` defaults to ``settings.retries`` attempts with the default backoff."""
        self._settings = settings
        self._policy = retry_policy or RetryPolicy(attempts=settings.retries)
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._starting = asyncio.Lock()

    async def start(self) -> None:
        """Build the TLS context (in a thread: it reads files) and open the session."""
        async with self._starting:  # two concurrent starts must not open two sessions
            if self._closed:
                raise RuntimeError("AgentTransport was closed")
            if self._session is None:
                context = await asyncio.to_thread(build_client_context, self._settings.ca_bundle)
                if self._closed:  # close() ran while the context was being built
                    raise RuntimeError("AgentTransport was closed")
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
        except SecurityViolation as exc:
            if log is not None:
                log.refusals.append(str(exc))
            raise _AddressRefused(errno.EACCES, str(exc)) from None
        if log is not None:
            log.dialled += 1
        return socket.socket(family=family, type=type_, proto=proto)

    async def deliver(
        self,
        *,
        url: yarl.URL,
        api_key: ApiKey,
        task: str,
        params: Mapping[str, str],
        idempotency_key: str,
        timeout: float | None = None,
    ) -> Delivery:
        """POST the task to ``{url}/api/v1/tasks`` with retries; never raises for failures.

        The same ``Idempotency-Key`` goes with every attempt. ``timeout`` (default: the ``timeout``
        setting) bounds each attempt, not the whole delivery.
        """
        session = self._session
        if session is None:
            raise RuntimeError("AgentTransport.start() was not awaited")
        if url.scheme != "https":
            error = f"Security violation: Agent URLs must use HTTPS. Got: {url.scheme}"
            return _fail(FailureKind.SECURITY, error)
        endpoint = _tasks_endpoint(url)
        body = _task_body(task, params)
        headers = {
            "Authorization": f"Bearer {api_key.reveal()}",
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key,
        }
        seconds = self._settings.timeout if timeout is None else timeout
        if not 0 < seconds < math.inf:  # aiohttp reads a total of 0 as "no timeout at all"
            raise ValueError(f"timeout must be a positive number of seconds, got {seconds!r}")
        request_timeout = (
            self._timeout if seconds == self._settings.timeout else aiohttp.ClientTimeout(seconds)
        )
        first = await self._attempt(session, endpoint, headers, body, request_timeout)
        if first.delivery.ok:  # the common case: one attempt, its delivery as it is
            return first.delivery
        attempts, tries, last_status = int(first.sent), 1, first.delivery.status
        _log_failure(url, tries, first.delivery)

        async def attempt() -> _Attempt:
            nonlocal attempts, tries, last_status
            tries += 1
            outcome = await self._attempt(session, endpoint, headers, body, request_timeout)
            attempts += outcome.sent
            if outcome.delivery.status is not None:
                last_status = outcome.delivery.status
            if not outcome.delivery.ok:
                _log_failure(url, tries, outcome.delivery)
            return outcome

        final = (await call_with_retries(attempt, self._policy, first=first)).delivery
        return Delivery(
            ok=final.ok,
            response=final.response,
            text=final.text,
            error=final.error,
            status=last_status,
            attempts=attempts,
            failure=final.failure,
        )

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        endpoint: yarl.URL,
        headers: Mapping[str, str],
        body: bytes,
        timeout: aiohttp.ClientTimeout,
    ) -> _Attempt:
        """One request; every failure is mapped to a safe message here and nothing is raised."""
        log = _DialLog()
        token = _DIAL_LOG.set(log)
        try:
            async with session.post(
                endpoint,
                data=body,
                headers=headers,
                allow_redirects=False,  # a redirect is a failure (and could downgrade to http)
                timeout=timeout,
            ) as response:
                return await self._read(response)
        except aiohttp.ClientConnectorCertificateError as exc:
            reason = describe_certificate_error(exc.certificate_error)
            return _Attempt(_fail(FailureKind.TLS, f"Certificate validation failed: {reason}"))
        except (aiohttp.ClientSSLError, ssl.SSLError) as exc:
            reason = describe_ssl_error(getattr(exc, "os_error", exc))
            error = f"{_SEND_FAILED}: TLS handshake failed ({reason})"
            return _Attempt(_fail(FailureKind.TLS, error))
        except TimeoutError:
            if log.refusals:  # some addresses refused, the others unreachable: say why
                return log.refused()
            error = f"{_SEND_FAILED}: timed out after {timeout.total:g}s"
            return _Attempt(_fail(FailureKind.TIMEOUT, error))
        except aiohttp.ClientConnectorError as exc:
            if log.refusals:  # aiohttp merged our refusals into one plain OSError
                return log.refused()
            cause = _os_cause(exc.os_error)
            if isinstance(exc, aiohttp.ClientConnectorDNSError):
                cause = f"cannot resolve host ({cause})"
            # Nothing dialled (a name that does not resolve): no request went to the agent.
            failure = _fail(FailureKind.CONNECTION, f"{_SEND_FAILED}: {cause}")
            return _Attempt(failure, sent=log.dialled > 0)
        except aiohttp.ServerDisconnectedError:
            return _Attempt(_fail(FailureKind.CONNECTION, f"{_SEND_FAILED}: server disconnected"))
        except aiohttp.ClientPayloadError:
            error = f"{_SEND_FAILED}: response body incomplete"
            return _Attempt(_fail(FailureKind.CONNECTION, error))
        except aiohttp.ClientResponseError:
            error = f"{_SEND_FAILED}: invalid HTTP response"
            return _Attempt(_fail(FailureKind.BAD_RESPONSE, error))
        except (aiohttp.ClientError, OSError) as exc:
            cause = _os_cause(exc) if isinstance(exc, OSError) else type(exc).__name__
            return _Attempt(_fail(FailureKind.CONNECTION, f"{_SEND_FAILED}: {cause}"))
        except Exception as exc:  # never let an unforeseen error (or its repr) escape deliver()
            logger.warning("Unexpected %s while sending a task to an agent", type(exc).__name__)
            error = f"{_SEND_FAILED}: unexpected error ({type(exc).__name__})"
            return _Attempt(_fail(FailureKind.BAD_RESPONSE, error))
        finally:
            _DIAL_LOG.reset(token)

    async def _read(self, response: aiohttp.ClientResponse) -> _Attempt:
        """Judge the status, then read at most ``max_response_bytes`` (decoded) and parse JSON."""
        status = response.status
        if not 200 <= status < 300:
            kind = failure_for_status(status)
            retry_after = None
            if status in RETRYABLE_STATUSES:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            error = f"Agent returned error status: {status}"
            return _Attempt(_fail(kind, error, status), retry_after=retry_after)

        limit = self._settings.max_response_bytes
        # Content-Length counts encoded bytes: it bounds the decoded size only without an encoding.
        identity = response.headers.get("Content-Encoding", "identity").lower() == "identity"
        length = response.content_length if identity else None
        if length is not None and length > limit:
            return _too_large(limit, status)
        if length is not None:  # framed by Content-Length, already within the limit
            data: bytes | bytearray = await response.read()
        else:
            data = await self._read_at_most(response, limit)
            if len(data) > limit:
                return _too_large(limit, status)
        try:
            text = data.decode()  # JSON exchanged between systems is UTF-8 (RFC 8259)
            # NaN and Infinity are not JSON; Python would accept them and pass them on.
            parsed: object = _STRICT_JSON.decode(text)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            error = f"{_SEND_FAILED}: response is not JSON"
            return _Attempt(_fail(FailureKind.BAD_RESPONSE, error, status))
        # Positional (ok, response, text, error, status, attempts): this is every success.
        return _Attempt(Delivery(True, parsed, text, None, status, 1))

    @staticmethod
    async def _read_at_most(response: aiohttp.ClientResponse, limit: int) -> bytearray:
        """The decoded body, or its first ``limit + 1`` bytes if it is longer."""
        data = bytearray()
        while True:
            # resp.content yields decompressed bytes; stop as soon as one byte too many has arrived.
            chunk = await response.content.read(min(_CHUNK, limit + 1 - len(data)))
            if not chunk:
                break
            data += chunk
            if len(data) > limit:
                return data
        return data


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


_CAUSES: tuple[tuple[type[OSError], str], ...] = (
    (ConnectionRefusedError, "connection refused"),
    (ConnectionResetError, "connection reset"),
    (ConnectionAbortedError, "connection aborted"),
    (BrokenPipeError, "connection closed"),
)
