"""Runtime configuration, from code or from ``JAMEY_*`` environment variables."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import attrs

from jamey_host.capabilities import DEFAULT_CAPABILITIES, CapabilityLevel
from jamey_host.specs import CONNECTOR_ID_PATTERN
from jamey_host.values import parse_flag, split_list

CAPABILITIES_VAR: Final = "JAMEY_CAPABILITIES"
LOAD_PLUGINS_VAR: Final = "JAMEY_LOAD_PLUGINS"
DISABLE_PLUGINS_VAR: Final = "JAMEY_DISABLE_PLUGINS"
STRICT_PLUGINS_VAR: Final = "JAMEY_STRICT_PLUGINS"
HOME_VAR: Final = "JAMEY_HOME"
SECRET_KEY_VAR: Final = "JAMEY_SECRET_KEY"  # noqa: S105 - a variable name
# Variables with a meaning of their own: never read as connector settings.
_OWN_VARS: Final = frozenset(
    {
        CAPABILITIES_VAR,
        LOAD_PLUGINS_VAR,
        DISABLE_PLUGINS_VAR,
        STRICT_PLUGINS_VAR,
        HOME_VAR,
        SECRET_KEY_VAR,
    }
)
_PLUGIN_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_SETTING_KEY = re.compile(r"[a-z0-9_]+")


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the variable or field."""


def _capabilities(value: Iterable[CapabilityLevel | str]) -> frozenset[CapabilityLevel]:
    return frozenset(CapabilityLevel(level) for level in value)


def _names(value: Iterable[str] | None) -> frozenset[str] | None:
    return None if value is None else frozenset(value)


def _settings(value: Mapping[str, Mapping[str, str]]) -> Mapping[str, Mapping[str, str]]:
    frozen = {
        str(connector): MappingProxyType({str(k): str(v) for k, v in settings.items()})
        for connector, settings in value.items()
    }
    return MappingProxyType(frozen)


@attrs.frozen(kw_only=True)
class RuntimeConfig:
    """What a :class:`~jamey_host.Runtime` may do and which plugins it loads.

    The defaults are safe: every capability except ``system_admin``, ``self_modify`` and
    ``full_access``; all installed plugins; failures of plugins logged, not raised.
    """

    #: Capability levels whose connectors may be called.
    granted_capabilities: frozenset[CapabilityLevel] = attrs.field(
        default=DEFAULT_CAPABILITIES, converter=_capabilities
    )
    #: Entry-point names to load; ``None`` loads all, an empty set loads none.
    load_plugins: frozenset[str] | None = attrs.field(default=None, converter=_names)
    #: Entry-point names never loaded (listed with status ``blocked``).
    disabled_plugins: frozenset[str] = attrs.field(factory=frozenset, converter=frozenset)
    #: Raise instead of skipping a plugin that fails to load or start.
    strict_plugins: bool = False
    #: Settings per connector id, e.g. ``{"agent_orchestration": {"timeout": "10"}}``.
    connector_settings: Mapping[str, Mapping[str, str]] = attrs.field(
        factory=dict, converter=_settings
    )
    #: Where plugins may keep state on disk; ``None`` means keep it in memory. ``from_env()``
    #: takes it from ``JAMEY_HOME`` (see :func:`home_dir`).
    state_dir: Path | None = None
    # JAMEY_<ID>_<KEY> variables (one underscore), resolved per connector by settings_for().
    _single_underscore_settings: Mapping[str, str] = attrs.field(
        factory=dict, converter=MappingProxyType, repr=False, alias="single_underscore_settings"
    )

    def settings_for(self, connector_id: str) -> Mapping[str, str]:
        """The settings of one connector, read-only."""
        settings = dict(self._loose_settings(connector_id))
        settings.update(self.connector_settings.get(connector_id, {}))
        return MappingProxyType(settings)

    def _loose_settings(self, connector_id: str) -> Iterable[tuple[str, str]]:
        prefix = connector_id.upper() + "_"
        for name, value in self._single_underscore_settings.items():
            if name.startswith(prefix) and len(name) > len(prefix):
                yield name[len(prefix) :].lower(), value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RuntimeConfig:
        """Read the ``JAMEY_*`` variables of ``environ`` (default ``os.environ``).

        ``state_dir`` is ``JAMEY_HOME`` when that is set (not empty), else ``None``. A bad value
        raises :class:`ConfigError` naming the variable, and so does a ``JAMEY_HOME`` that
        cannot be a directory (a file, or under one).
        """
        env = os.environ if environ is None else environ
        fields: dict[str, Any] = {}
        if CAPABILITIES_VAR in env:
            fields["granted_capabilities"] = parse_capabilities(env[CAPABILITIES_VAR])
        if LOAD_PLUGINS_VAR in env:
            fields["load_plugins"] = _parse_names(LOAD_PLUGINS_VAR, env[LOAD_PLUGINS_VAR])
        if DISABLE_PLUGINS_VAR in env:
            fields["disabled_plugins"] = _parse_names(DISABLE_PLUGINS_VAR, env[DISABLE_PLUGINS_VAR])
        if STRICT_PLUGINS_VAR in env:
            fields["strict_plugins"] = _parse_flag(STRICT_PLUGINS_VAR, env[STRICT_PLUGINS_VAR])
        connector_settings: dict[str, dict[str, str]] = {}
        loose: dict[str, str] = {}
        for name, value in env.items():
            if not name.startswith("JAMEY_") or name in _OWN_VARS:
                continue
            rest = name[len("JAMEY_") :]
            if "__" in rest:
                connector, key = _parse_setting_name(name, rest)
                connector_settings.setdefault(connector, {})[key] = value
            else:
                loose[rest] = value
        fields["connector_settings"] = connector_settings
        fields["single_underscore_settings"] = loose
        state_dir = home_dir(env)
        if state_dir is not None and (problem := state_dir_problem(state_dir)) is not None:
            raise ConfigError(f"{HOME_VAR}: {problem}")
        fields["state_dir"] = state_dir
        return cls(**fields)


def parse_capabilities(raw: str, variable: str = CAPABILITIES_VAR) -> frozenset[CapabilityLevel]:
    """``all``, or comma-separated level values such as ``read_only,web_access``."""
    if raw.strip().lower() == "all":
        return frozenset(CapabilityLevel)
    levels: set[CapabilityLevel] = set()
    for item in _split(variable, raw):
        try:
            levels.add(CapabilityLevel(item.lower()))
        except ValueError:
            known = ", ".join(level.value for level in CapabilityLevel)
            raise ConfigError(
                f"{variable}: unknown capability {item!r} (known: {known}, or 'all')"
            ) from None
    return frozenset(levels)


def _split(variable: str, raw: str) -> list[str]:
    try:
        return split_list(raw)
    except ValueError as exc:
        raise ConfigError(f"{variable}: {exc}") from None


def _parse_names(variable: str, raw: str) -> frozenset[str]:
    names = _split(variable, raw)
    for name in names:
        if not _PLUGIN_NAME.fullmatch(name):
            raise ConfigError(f"{variable}: {name!r} is not a plugin entry-point name")
    return frozenset(names)


def _parse_flag(variable: str, raw: str) -> bool:
    try:
        return parse_flag(raw)
    except ValueError as exc:
        raise ConfigError(f"{variable}: {exc}") from None


def _parse_setting_name(variable: str, rest: str) -> tuple[str, str]:
    connector, _, key = rest.partition("__")
    connector, key = connector.lower(), key.lower()
    if not CONNECTOR_ID_PATTERN.fullmatch(connector) or not _SETTING_KEY.fullmatch(key):
        raise ConfigError(
            f"{variable}: connector settings are named JAMEY_<CONNECTOR_ID>__<KEY>, "
            "e.g. JAMEY_AGENT_ORCHESTRATION__TIMEOUT"
        )
    return connector, key


def setting_variable(connector_id: str, key: str) -> str:
    """The environment variable of one connector setting: ``JAMEY_<CONNECTOR_ID>__<KEY>``."""
    return f"JAMEY_{connector_id.upper()}__{key.upper()}"


def home_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """``JAMEY_HOME`` as a path, or ``None`` when it is unset or empty.

    The one rule for the state directory (docs/configuration.md): ``RuntimeConfig.from_env()``
    uses this; ``jamey run``, which always keeps state, falls back to :func:`default_state_dir`.
    """
    env = os.environ if environ is None else environ
    home = env.get(HOME_VAR)
    return Path(home).expanduser() if home else None


def state_dir_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a state directory (a file is there, or above it), or ``None``.

    A directory that does not exist yet is fine: the plugins that keep state create it.
    """
    for place in (path, *path.parents):
        try:
            if place.is_dir():
                return None
            exists = place.exists()
        except OSError as exc:  # a path too long, or a component that cannot be searched
            return f"{path} cannot be used: {exc.strerror or exc}"
        if exists:
            if place == path:
                return f"{path} is a file, not a directory: point it at a directory"
            return f"{path} cannot be created: {place} is a file, not a directory"
    return None


def default_state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``JAMEY_HOME``, else the platform's per-user data directory for jamey."""
    env = os.environ if environ is None else environ
    home = home_dir(env)
    if home is not None:
        return home
    if sys.platform == "win32":
        base = Path(env.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "jamey"
