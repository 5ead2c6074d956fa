"""The connector's settings, parsed once from the runtime's ``connector_settings``.

A setting whose value is empty (or blank) is unset and keeps its default, as an environment
variable set to nothing; a value that is present but invalid raises ``ValueError`` naming the
setting, which fails the plugin's startup.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

import attrs

from jamey_agent_orchestration.database_url import DatabaseUrl, looks_like_url
from jamey_host import split_list

__all__ = ["CONNECTOR_ID", "AgentSettings", "Network"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

CONNECTOR_ID: Final = "agent_orchestration"


def _positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"expected a number of seconds, got {raw!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"must be a positive number, got {raw!r}")
    return value


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"expected a whole number, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"must be at least 1, got {raw!r}")
    return value


def _networks(raw: str) -> tuple[Network, ...]:
    networks: list[Network] = []
    for item in split_list(raw):
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
        except ValueError as exc:
            raise ValueError(f"{item!r} is not a network ({exc})") from None
    return tuple(networks)


def _path(raw: str) -> Path:
    return Path(raw).expanduser()


def _registry(raw: str) -> Path | DatabaseUrl:
    """A file path (SQLite), or a ``postgresql://`` URL (the shared registry)."""
    return DatabaseUrl(raw) if looks_like_url(raw) else _path(raw)


_PARSERS: Final[Mapping[str, Callable[[str], object]]] = {
    "timeout": _positive_float,
    "retries": _positive_int,
    "ca_bundle": _path,
    "allow_networks": _networks,
    "max_concurrency": _positive_int,
    "max_response_bytes": _positive_int,
    "registry": _registry,
    "breaker_threshold": _positive_int,
    "breaker_cooldown": _positive_float,
    "health_interval": _positive_float,
}


@attrs.frozen(kw_only=True)
class AgentSettings:
    """Settings of the ``agent_orchestration`` connector, with the contract's defaults."""

    timeout: float = 30.0
    retries: int = 3
    ca_bundle: Path | None = None
    allow_networks: tuple[Network, ...] = ()
    max_concurrency: int = 64
    max_response_bytes: int = 10 * 1024 * 1024
    #: A SQLite file, or a PostgreSQL URL (never shown with its user-info).
    registry: Path | DatabaseUrl | None = None
    breaker_threshold: int = 5
    breaker_cooldown: float = 30.0
    health_interval: float | None = None

    @classmethod
    def from_mapping(cls, settings: Mapping[str, str]) -> AgentSettings:
        """Parse string settings; a bad value raises ``ValueError`` naming the setting."""
        unknown = sorted(set(settings) - _PARSERS.keys())
        if unknown:
            raise ValueError(
                f"Unknown setting(s) for {CONNECTOR_ID}: {', '.join(unknown)} "
                f"(known: {', '.join(sorted(_PARSERS))})"
            )
        values: dict[str, object] = {}
        for key, raw in settings.items():
            text = raw.strip()
            if not text:
                continue  # empty means unset: the default applies
            try:
                values[key] = _PARSERS[key](text)
            except ValueError as exc:
                raise ValueError(f"Invalid setting {key}: {exc}") from None
        return cls(**values)  # type: ignore[arg-type]
