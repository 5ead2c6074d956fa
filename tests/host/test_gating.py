"""Capability gating and approval before a plugin is called (contract section 3)."""

from __future__ import annotations

import pytest

from jamey_host import ApprovalRequest, CapabilityLevel, Runtime, RuntimeConfig
from jamey_host.testing import AuditEventList, RuntimeFactory

from .plugins import Approver, AsyncApprover, ConnectorPlugin, RaisingApprover, own_class

C = CapabilityLevel


def admin_plugin() -> ConnectorPlugin:
    return ConnectorPlugin("admin", capability=C.SYSTEM_ADMIN)


def guarded_plugin() -> ConnectorPlugin:
    return ConnectorPlugin("guarded", requires_approval=True)


@pytest.mark.parametrize("level", [C.SYSTEM_ADMIN, C.SELF_MODIFY, C.FULL_ACCESS])
async def test_default_config_denies_dangerous_levels(
    level: CapabilityLevel, jamey_runtime: RuntimeFactory, jamey_audit_events: AuditEventList
) -> None:
    plugin = ConnectorPlugin("danger", capability=level)
    runtime = await jamey_runtime(plugin)
    result = await runtime.execute_connector("danger", {"action": "go"})
    assert result.success is False
    assert len(result.errors) == 1
    assert result.errors[0].startswith("Capability denied:")
    assert plugin.calls == []
    (event,) = jamey_audit_events.named("connector.execute")
    assert event.outcome == "denied"
    assert event.connector == "danger"


@pytest.mark.parametrize("level", sorted(RuntimeConfig().granted_capabilities))
async def test_default_config_allows_other_levels(level: CapabilityLevel) -> None:
    plugin = ConnectorPlugin("fine", capability=level)
    async with Runtime(plugins=[plugin], load_entrypoints=False) as runtime:
        assert (await runtime.execute_connector("fine", {})).success


async def test_granted_capabilities_restrict_and_allow() -> None:
    reader = own_class(ConnectorPlugin, "Reader", "reader", capability=C.READ_ONLY)
    writer = own_class(ConnectorPlugin, "Writer", "writer", capability=C.READ_WRITE)
    admin = admin_plugin()
    config = RuntimeConfig(granted_capabilities={C.READ_ONLY, C.SYSTEM_ADMIN})
    async with Runtime(config, plugins=[reader, writer, admin], load_entrypoints=False) as rt:
        assert (await rt.execute_connector("reader", {})).success
        assert (await rt.execute_connector("admin", {})).success
        denied = await rt.execute_connector("writer", {})
    assert denied.errors[0].startswith("Capability denied:")
    assert writer.calls == []


async def test_capability_is_checked_before_approval() -> None:
    plugin = ConnectorPlugin("admin", capability=C.SYSTEM_ADMIN, requires_approval=True)
    approver = Approver(True)
    async with Runtime(plugins=[approver, plugin], load_entrypoints=False) as runtime:
        result = await runtime.execute_connector("admin", {})
    assert result.errors[0].startswith("Capability denied:")
    assert approver.requests == []


async def test_approval_required_with_no_approver(
    jamey_runtime: RuntimeFactory, jamey_audit_events: AuditEventList
) -> None:
    plugin = guarded_plugin()
    runtime = await jamey_runtime(plugin)
    result = await runtime.execute_connector("guarded", {})
    assert result.success is False
    assert result.errors[0].startswith("Approval required:")
    assert plugin.calls == []
    assert [e.outcome for e in jamey_audit_events.named("connector.execute")] == ["denied"]


@pytest.mark.parametrize("approver_type", [Approver, AsyncApprover])
async def test_approval_refused(approver_type: type[Approver]) -> None:
    plugin = guarded_plugin()
    approver = approver_type(False)
    async with Runtime(plugins=[approver, plugin], load_entrypoints=False) as runtime:
        result = await runtime.execute_connector("guarded", {})
    assert result.errors[0].startswith("Approval required:")
    assert plugin.calls == []
    assert len(approver.requests) == 1


@pytest.mark.parametrize("approver_type", [Approver, AsyncApprover])
async def test_approval_granted(approver_type: type[Approver]) -> None:
    plugin = guarded_plugin()
    approver = approver_type(True)
    async with Runtime(plugins=[approver, plugin], load_entrypoints=False) as runtime:
        result = await runtime.execute_connector("guarded", {"action": "go"}, user_id="root")
    assert result.success
    assert len(plugin.calls) == 1
    (request,) = approver.requests
    assert isinstance(request, ApprovalRequest)
    assert request.connector == "guarded"
    assert request.action == "go"
    assert request.user_id == "root"


async def test_only_none_answers_refuse() -> None:
    plugin = guarded_plugin()
    approvers = [Approver(None), AsyncApprover(None)]
    async with Runtime(plugins=[*approvers, plugin], load_entrypoints=False) as runtime:
        result = await runtime.execute_connector("guarded", {})
    assert result.errors[0].startswith("Approval required:")
    assert all(len(a.requests) == 1 for a in approvers)


async def test_raising_approver_refuses() -> None:
    plugin = guarded_plugin()
    async with Runtime(plugins=[RaisingApprover(), plugin], load_entrypoints=False) as runtime:
        result = await runtime.execute_connector("guarded", {})
    assert result.success is False
    assert result.errors[0].startswith("Approval required:")
    assert plugin.calls == []


async def test_approver_not_asked_for_connector_without_requires_approval() -> None:
    approver = Approver(False)
    async with Runtime(plugins=[approver, ConnectorPlugin()], load_entrypoints=False) as runtime:
        assert (await runtime.execute_connector("thing", {})).success
    assert approver.requests == []


async def test_async_none_does_not_win_over_a_later_false() -> None:
    """pluggy asks the last registered first: sync None, async None, async False, then True."""
    plugin = guarded_plugin()
    approve = Approver(True)
    refuse = AsyncApprover(False)
    async_none = AsyncApprover(None)
    sync_none = Approver(None)
    async with Runtime(plugins=[plugin], load_entrypoints=False) as runtime:
        for index, approver in enumerate([approve, refuse, async_none, sync_none]):
            runtime.register_plugin(approver, name=f"approver_{index}")
        result = await runtime.execute_connector("guarded", {})
    assert result.errors[0].startswith("Approval required:")
    assert plugin.calls == []
    assert len(sync_none.requests) == 1
    assert len(async_none.requests) == 1
    assert len(refuse.requests) == 1
    assert approve.requests == []  # the decision was made before it


async def test_async_none_then_async_true_approves() -> None:
    plugin = guarded_plugin()
    refuse, approve, async_none, sync_none = (
        AsyncApprover(False),
        AsyncApprover(True),
        AsyncApprover(None),
        Approver(None),
    )
    async with Runtime(plugins=[plugin], load_entrypoints=False) as runtime:
        for index, approver in enumerate([refuse, approve, async_none, sync_none]):
            runtime.register_plugin(approver, name=f"approver_{index}")
        result = await runtime.execute_connector("guarded", {})
    assert result.success, result.errors
    assert len(plugin.calls) == 1
    assert refuse.requests == []


async def test_approval_request_params_are_redacted() -> None:
    plugin = guarded_plugin()
    approver = Approver(True)
    params = {"action": "go", "api_key": "k-1", "Password": "pw", "user": "bob"}
    async with Runtime(plugins=[approver, plugin], load_entrypoints=False) as runtime:
        result = await runtime.execute_connector("guarded", params, session_id="s-9")
    assert result.success
    (request,) = approver.requests
    assert dict(request.params) == {
        "action": "go",
        "api_key": "***",
        "Password": "***",
        "user": "bob",
    }
    assert request.session_id == "s-9"
    assert "k-1" not in repr(request)
    # the plugin itself still receives the real params
    assert plugin.calls[0][1]["api_key"] == "k-1"
