"""An official-SDK A2A v1.0 peer for interop tests (test-only: needs ``a2a-sdk[http-server]``).

- :class:`A2APeer` (``server.py``): the SDK server over HTTPS on 127.0.0.1, both bindings.
- ``executor.py``: what it does with a message (echo, slow, fail, reject, input, auth, crash,
  message).
- ``gate.py``: the key check the SDK lacks, request recording, injected failures.
- ``fixtures.py``: ``a2a_peer``, ``a2a_peer_factory``, ``a2a_peer_ca``.
- ``sdk_client.py``: the SDK's own client against any agent, verifying TLS.
"""

from .card import JSONRPC, REST
from .executor import FAILURE_TEXT, NEED_INPUT_TEXT, ScriptedExecutor
from .gate import MASK, RecordedRequest
from .sdk_client import sdk_client, send_text
from .server import A2APeer
from .tls import PeerCA

__all__ = [
    "FAILURE_TEXT",
    "JSONRPC",
    "MASK",
    "NEED_INPUT_TEXT",
    "REST",
    "A2APeer",
    "PeerCA",
    "RecordedRequest",
    "ScriptedExecutor",
    "sdk_client",
    "send_text",
]
