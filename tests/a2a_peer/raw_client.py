"""Raw aiohttp calls to an A2A agent on both bindings, verifying its certificate against a CA file.

Nothing here interprets A2A: tests use it to look at the wire as it is.
"""

from __future__ import annotations

import itertools
import ssl
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, final

import aiohttp
import attrs

if TYPE_CHECKING:
    from .server import A2APeer

__all__ = ["RawA2A", "RawAnswer", "raw_client_for"]


@attrs.frozen
class RawAnswer:
    status: int
    content_type: str
    headers: Mapping[str, str]
    body: bytes
    document: Any  # the body parsed as JSON, else None


@final
class RawA2A:
    """One aiohttp session to one agent: ``rpc`` for JSON-RPC, ``rest`` for HTTP+JSON.

    ``version=False`` leaves out ``A2A-Version``; ``key=False`` leaves out the key; ``headers``
    adds or overrides headers.
    """

    def __init__(
        self,
        *,
        jsonrpc_url: str,
        rest_url: str,
        ca_path: Path | str,
        api_key: str,
        key_header: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.jsonrpc_url = jsonrpc_url
        self.rest_url = rest_url
        self._api_key = api_key
        self._key_header = key_header
        self._ssl = ssl.create_default_context(cafile=str(ca_path))
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _headers(
        self, *, version: bool, key: bool, extra: Mapping[str, str] | None
    ) -> dict[str, str]:
        headers = {}
        if version:
            headers["A2A-Version"] = "1.0"
        if key:
            if self._key_header is None:
                headers["Authorization"] = f"Bearer {self._api_key}"
            else:
                headers[self._key_header] = self._api_key
        headers.update(extra or {})
        return headers

    async def request(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        version: bool = True,
        key: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> RawAnswer:
        assert self._session is not None, "use RawA2A as an async context manager"
        sent = self._headers(version=version, key=key, extra=headers)
        async with self._session.request(
            method,
            url,
            json=json_body,
            data=data,
            headers=sent,
            ssl=self._ssl,
            allow_redirects=False,
        ) as response:
            body = await response.read()
            try:
                document = await response.json(content_type=None)
            except ValueError:
                document = None
            return RawAnswer(
                status=response.status,
                content_type=response.content_type,
                headers=dict(response.headers),
                body=body,
                document=document,
            )

    async def rpc(self, method: str, params: Any, **options: Any) -> RawAnswer:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        return await self.request("POST", self.jsonrpc_url, json_body=body, **options)

    async def rest(self, method: str, path: str, body: Any = None, **options: Any) -> RawAnswer:
        return await self.request(method, f"{self.rest_url}{path}", json_body=body, **options)

    async def card(self, base_url: str) -> RawAnswer:
        return await self.request("GET", f"{base_url}/.well-known/agent-card.json", key=False)


def raw_client_for(peer: A2APeer) -> RawA2A:
    """A raw client sending ``peer``'s key the way its card asks."""
    return RawA2A(
        jsonrpc_url=peer.jsonrpc_url,
        rest_url=peer.rest_url,
        ca_path=peer.ca_path,
        api_key=peer.api_key,
        key_header=peer.key_header if peer.key_scheme == "api-key-header" else None,
    )
