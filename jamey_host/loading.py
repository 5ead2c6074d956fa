"""Finding plugins: entry points filtered by the configuration, loaded one at a time."""

from __future__ import annotations

import importlib.metadata
import traceback
from collections.abc import Iterator
from types import ModuleType

import attrs

from jamey_host.config import RuntimeConfig
from jamey_host.hooks import PluginError
from jamey_host.markers import ENTRY_POINT_GROUP


@attrs.frozen
class PluginCandidate:
    """An installed entry point, with the configuration's verdict on it."""

    name: str
    version: str | None
    entry_point: importlib.metadata.EntryPoint = attrs.field(repr=False)
    blocked_reason: str | None = None


def entry_point_candidates(
    config: RuntimeConfig, group: str = ENTRY_POINT_GROUP
) -> Iterator[PluginCandidate]:
    """The installed plugins of ``group`` in a stable order, marked if the config blocks them."""
    seen: set[str] = set()
    for entry_point in sorted(importlib.metadata.entry_points(group=group), key=_sort_key):
        if entry_point.name in seen:  # the same distribution found twice on sys.path
            continue
        seen.add(entry_point.name)
        yield PluginCandidate(
            name=entry_point.name,
            version=entry_point.dist.version if entry_point.dist else None,
            entry_point=entry_point,
            blocked_reason=_blocked_reason(config, entry_point.name),
        )


def _sort_key(entry_point: importlib.metadata.EntryPoint) -> tuple[str, str]:
    return entry_point.name, entry_point.value


def _blocked_reason(config: RuntimeConfig, name: str) -> str | None:
    if name in config.disabled_plugins:
        return "disabled by JAMEY_DISABLE_PLUGINS"
    if config.load_plugins is not None and name not in config.load_plugins:
        return "not in JAMEY_LOAD_PLUGINS"
    return None


def load_plugin_object(candidate: PluginCandidate) -> object:
    """Import an entry point's target and make a plugin of it.

    A module is used as it is; a class is instantiated with no arguments, so every runtime gets
    its own instance (and its own state). Any failure raises :class:`PluginError` with the reason.
    """
    try:
        target = candidate.entry_point.load()
    except Exception as exc:
        raise PluginError(f"import failed: {_describe(exc)}") from exc
    return instantiate(target)


def instantiate(target: object) -> object:
    """A class becomes an instance of it; anything else (a module, an object) is kept."""
    if isinstance(target, type):
        try:
            return target()
        except Exception as exc:
            raise PluginError(f"{target.__qualname__}() failed: {_describe(exc)}") from exc
    return target


def plugin_version(plugin: object) -> str | None:
    """The ``__version__`` of a plugin object given in code (an entry point's comes from its
    distribution)."""
    version = getattr(plugin, "__version__", None)
    return version if isinstance(version, str) else None


def default_plugin_name(plugin: object) -> str:
    """The name a plugin object is registered under when none is given."""
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    if isinstance(plugin, type):
        return plugin.__qualname__
    return type(plugin).__qualname__


def _describe(exc: BaseException) -> str:
    # The innermost frame of the plugin's own code tells its author where to look.
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<")]
    location = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{location}"
