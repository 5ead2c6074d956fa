"""A typed facade over pluggy's ``PluginManager``: the rest of the host never calls ``pm.hook``."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import Any, final

import pluggy

from jamey_host.hookspecs import JameyHostSpec
from jamey_host.markers import PROJECT_NAME
from jamey_host.specs import ConnectorSpec

#: ``(plugin name, implementation)``; the implementation takes the hook's arguments positionally.
NamedImpl = tuple[str, Callable[..., Any]]


class PluginError(Exception):
    """A plugin that cannot be used; the message says why, for ``PluginInfo.error``."""


def _positional(impl: pluggy.HookImpl, argnames: tuple[str, ...]) -> Callable[..., Any]:
    """Adapt an implementation taking any subset of ``argnames`` to take all of them in order."""
    if tuple(impl.argnames) == argnames:
        return impl.function
    function = impl.function
    if not impl.argnames:
        return lambda *args: function()
    # itemgetter rather than a comprehension: this adapter sits between every call and its plugin.
    pick = operator.itemgetter(*(argnames.index(name) for name in impl.argnames))
    if len(impl.argnames) == 1:
        return lambda *args: function(pick(args))
    return lambda *args: function(*pick(args))


@final
class PluginHooks:
    """The plugins of one runtime, and typed access to their hook implementations."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(PROJECT_NAME)
        self._pm.add_hookspecs(JameyHostSpec)

    def register(self, plugin: object, name: str) -> None:
        """Register ``plugin``; raise :class:`PluginError` if pluggy refuses any of its hooks."""
        if self._pm.has_plugin(name):
            raise PluginError(f"a plugin named {name!r} is already registered")
        try:
            self._pm.register(plugin, name=name)
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.unregister(name)
            raise PluginError(str(exc)) from None
        except ValueError as exc:  # the same object registered twice under another name
            raise PluginError(str(exc)) from None
        wrappers = self._wrapper_hooks(name)
        if wrappers:
            self.unregister(name)
            raise PluginError(
                f"hook wrappers are not supported ({', '.join(wrappers)}): the runtime calls "
                "each implementation itself, so that async ones are awaited, and would never "
                "enter one marked wrapper=True or hookwrapper=True; implement the hook plainly"
            )

    def unregister(self, name: str) -> None:
        if self._pm.has_plugin(name):
            self._pm.unregister(name=name)

    def has_plugin(self, name: str) -> bool:
        return self._pm.has_plugin(name)

    def plugin_names(self) -> list[str]:
        """Names of the registered plugins, in registration order."""
        return [name for name, _ in self._pm.list_name_plugin()]

    def connector_specs(self, plugin_name: str) -> list[ConnectorSpec]:
        """Call one plugin's ``register_connectors`` and check what it returned."""
        impl = self._impl("register_connectors", plugin_name)
        if impl is None:
            return []
        specs = impl.function()
        if specs is None:
            return []
        if isinstance(specs, ConnectorSpec) or not isinstance(specs, Iterable):
            raise PluginError("register_connectors must return an iterable of ConnectorSpec")
        checked = list(specs)
        for spec in checked:
            if not isinstance(spec, ConnectorSpec):
                raise PluginError(
                    f"register_connectors returned {type(spec).__name__}, not ConnectorSpec"
                )
        return checked

    def executor(self, plugin_name: str) -> Callable[..., Any] | None:
        """One plugin's ``execute_connector``, taking ``(name, params, context)``."""
        impl = self._impl("execute_connector", plugin_name)
        return None if impl is None else _positional(impl, ("name", "params", "context"))

    def lifecycle(self, hook: str, plugin_name: str) -> Callable[..., Any] | None:
        """One plugin's ``runtime_startup`` or ``runtime_shutdown``, taking ``(runtime,)``."""
        impl = self._impl(hook, plugin_name)
        return None if impl is None else _positional(impl, ("runtime",))

    def audit_sinks(self) -> list[NamedImpl]:
        """Every ``audit_event`` implementation, taking ``(event,)``."""
        return self._all("audit_event", ("event",))

    def approvers(self) -> list[NamedImpl]:
        """Every ``approve_execution`` implementation in pluggy's call order."""
        return self._all("approve_execution", ("request",))

    def _all(self, hook: str, argnames: tuple[str, ...]) -> list[NamedImpl]:
        impls = getattr(self._pm.hook, hook).get_hookimpls()
        # pluggy calls the last registered first; keep that order for first-answer hooks.
        return [(impl.plugin_name, _positional(impl, argnames)) for impl in reversed(impls)]

    def _wrapper_hooks(self, plugin_name: str) -> list[str]:
        """The hooks that one plugin implements as a pluggy wrapper."""
        plugin = self._pm.get_plugin(plugin_name)
        return sorted(
            caller.name
            for caller in self._pm.get_hookcallers(plugin) or ()
            for impl in caller.get_hookimpls()
            if impl.plugin_name == plugin_name and (impl.wrapper or impl.hookwrapper)
        )

    def _impl(self, hook: str, plugin_name: str) -> pluggy.HookImpl | None:
        for impl in getattr(self._pm.hook, hook).get_hookimpls():
            if impl.plugin_name == plugin_name:
                return impl  # type: ignore[no-any-return]
        return None
