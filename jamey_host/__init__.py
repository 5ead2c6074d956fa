"""jamey-host: a small runtime in which connectors are pluggy plugins.

Host applications use :class:`Runtime` and :class:`RuntimeConfig`; connector plugins use
:data:`hookimpl` and the result and spec types. Everything public is re-exported here; the
``jamey`` command itself (:mod:`jamey_host.cli`) is not imported by ``import jamey_host``.
"""

from __future__ import annotations

from jamey_host.action_specs import ActionSpec, ParamSpec
from jamey_host.audit import AUDIT_LOGGER_NAME, AuditEvent
from jamey_host.capabilities import DEFAULT_CAPABILITIES, CapabilityLevel
from jamey_host.commands import CliCommand
from jamey_host.config import (
    HOME_VAR,
    SECRET_KEY_VAR,
    ConfigError,
    RuntimeConfig,
    default_state_dir,
    setting_variable,
)
from jamey_host.context import ExecutionContext
from jamey_host.durations import elapsed_ms
from jamey_host.gating import ApprovalRequest
from jamey_host.hooks import PluginError
from jamey_host.markers import hookimpl, hookspec
from jamey_host.redaction import REDACTED, redact
from jamey_host.results import ConnectorResult
from jamey_host.runtime import Runtime
from jamey_host.specs import ConnectorSpec, PluginInfo
from jamey_host.telemetry import tracing_active
from jamey_host.values import parse_flag, split_list

__all__ = [
    "AUDIT_LOGGER_NAME",
    "DEFAULT_CAPABILITIES",
    "HOME_VAR",
    "REDACTED",
    "SECRET_KEY_VAR",
    "ActionSpec",
    "ApprovalRequest",
    "AuditEvent",
    "CapabilityLevel",
    "CliCommand",
    "ConfigError",
    "ConnectorResult",
    "ConnectorSpec",
    "ExecutionContext",
    "ParamSpec",
    "PluginError",
    "PluginInfo",
    "Runtime",
    "RuntimeConfig",
    "default_state_dir",
    "elapsed_ms",
    "hookimpl",
    "hookspec",
    "parse_flag",
    "redact",
    "setting_variable",
    "split_list",
    "tracing_active",
]
