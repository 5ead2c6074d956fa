"""The connector's settings, parsed once from the runtime's ``connector_settings``."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path

import attrs

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

CONNECTOR_ID = "agent_orchestration"


def _positive_float(key: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(
            f"Invalid setting {key}: expected a number of seconds, got {raw!r}"
        ) from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"Invalid setting {key}: must be a positive number, got {raw!r}")
    return value


def _positive_int(key: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"Invalid setting {key}: expected a whole number, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"Invalid setting {key}: must be at least 1, got {raw!r}")
    return value


def _networks(key: str, raw: str) -> tuple[Network, ...]:
    networks: list[Network] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
        except ValueError as exc:
            raise ValueError(f"Invalid setting {key}: {item!r} is not a network ({exc})") from None
    return tuple(networks)


@attrs.frozen(kw_only=True)
class AgentSettings:
    """Settings of the ``agent_orchestration`` connector, with the contract's defaults."""

    timeout: float = 30.0
    retries: int = 3
    ca_bundle: Path | None = None
    allow_networks: tuple[Network, ...] = ()
    max_concurrency: int = 64
    max_response_bytes: int = 10 * 1024 * 1024
    registry: Path | None = None
    breaker_threshold: int = 5
    breaker_cooldown: float = 30.0
    health_interval: float | None = None

    @classmethod
    def from_mapping(cls, settings: Mapping[str, str]) -> AgentSettings:
        """Parse string settings; a bad value raises ``ValueError`` naming the setting."""
        known = {field.name for field in attrs.fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(
                f"Unknown setting(s) for {CONNECTOR_ID}: {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
        values: dict[str, object] = {}
        for key, raw in settings.items():
            raw = raw.strip()
            if key in ("timeout", "breaker_cooldown", "health_interval"):
                values[key] = _positive_float(key, raw)
            elif key in ("retries", "max_concurrency", "max_response_bytes", "breaker_threshold"):
                values[key] = _positive_int(key, raw)
            elif key == "allow_networks":
                values[key] = _networks(key, raw)
            elif key in ("ca_bundle", "registry"):
                if not raw:
                    raise ValueError(f"Invalid setting {key}: empty path")
                values[key] = Path(raw).expanduser()
        return cls(**values)  # type: ignore[arg-type]
