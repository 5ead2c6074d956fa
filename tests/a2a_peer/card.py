"""The peer's agent card: its interfaces in a chosen order and how it wants the key."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentProvider,
    AgentSkill,
    APIKeySecurityScheme,
    HTTPAuthSecurityScheme,
    SecurityRequirement,
    SecurityScheme,
)

__all__ = ["JSONRPC", "JSONRPC_PATH", "REST", "REST_PATH", "Binding", "KeyScheme", "build_card"]

Binding = Literal["JSONRPC", "HTTP+JSON"]
KeyScheme = Literal["bearer", "api-key-header"]

JSONRPC: Final = "JSONRPC"
REST: Final = "HTTP+JSON"
JSONRPC_PATH: Final = "/a2a/jsonrpc"
REST_PATH: Final = "/a2a/rest"
SCHEME_NAME: Final = "peerKey"
MODES: Final = ["text/plain", "application/json"]


def interface_path(binding: Binding) -> str:
    return JSONRPC_PATH if binding == JSONRPC else REST_PATH


def build_card(
    *,
    base_url: str,
    bindings: Sequence[Binding],
    key_scheme: KeyScheme,
    key_header: str,
    streaming: bool,
    name: str,
) -> AgentCard:
    """A card listing one interface per binding, in the order of ``bindings``."""
    if key_scheme == "bearer":
        scheme = SecurityScheme(
            http_auth_security_scheme=HTTPAuthSecurityScheme(
                description="Authorization: Bearer <api key>",
                scheme="Bearer",
                bearer_format="opaque",
            )
        )
    else:
        scheme = SecurityScheme(
            api_key_security_scheme=APIKeySecurityScheme(
                description=f"{key_header}: <api key>", location="header", name=key_header
            )
        )
    return AgentCard(
        name=name,
        description="Scripted A2A v1.0 peer (official SDK) for the jamey-host interop tests.",
        supported_interfaces=[
            AgentInterface(
                url=f"{base_url}{interface_path(binding)}",
                protocol_binding=binding,
                protocol_version="1.0",
            )
            for binding in bindings
        ],
        provider=AgentProvider(url=base_url, organization="jamey-host tests"),
        version="1.0.0",
        capabilities=AgentCapabilities(
            streaming=streaming, push_notifications=False, extended_agent_card=False
        ),
        security_schemes={SCHEME_NAME: scheme},
        security_requirements=[SecurityRequirement(schemes={SCHEME_NAME: {}})],
        default_input_modes=MODES,
        default_output_modes=MODES,
        skills=[
            AgentSkill(
                id="echo",
                name="Echo",
                description="Echoes the text and data parts of the message back as an artifact.",
                tags=["echo", "test", "text"],
                examples=["hello"],
                input_modes=MODES,
                output_modes=MODES,
            ),
            AgentSkill(
                id="task-lifecycle",
                name="Task lifecycle",
                description="slow, fail, reject, input, auth, crash and message behaviours.",
                tags=["lifecycle", "polling", "cancel", "test", "echo"],
                examples=["slow", "fail", "input"],
            ),
        ],
    )
