"""lbguard.offline.preview: plans and applies base -> head as the engine would, against moto."""

from __future__ import annotations

import pytest

from tests.offline.preview.conftest import elbv2, step

ROUTING = "web-tier:routing"
pytestmark = pytest.mark.stackruns  # two whole program runs per test


def _priorities(result) -> dict[str, str]:
    """Path pattern -> priority of every rule AWS holds on the HTTPS listener."""
    arn = next(r.id for r in result.head.resources if r.type.endswith("listener:Listener") and r.outputs["port"] == 443)
    held = {}
    for rule in elbv2().describe_rules(ListenerArn=arn)["Rules"]:
        if not rule["IsDefault"]:
            path = next(c["PathPatternConfig"]["Values"][0] for c in rule["Conditions"] if c["Field"] == "path-pattern")
            held[path] = rule["Priority"]
    return held


def test_no_change_is_all_same_and_writes_nothing(change):
    change.edit(lambda c: None)
    result = change.preview()
    assert {s.op for s in result.steps} == {"same"}
    assert result.writes == 0 and result.failures == []
    assert result.summary()["same"] == len([s for s in result.steps if s.custom]) > 50


def test_priority_swap_is_refused_and_aws_keeps_the_base(change):
    def swap(c):
        rules = c[ROUTING]["rules"]
        rules["api"]["priority"], rules["maintenance"]["priority"] = 20, 10
    held = {}
    result = change.edit(swap).preview(after=lambda r: held.update(_priorities(r)))
    assert {f.error for f in result.failures} == {"PriorityInUse"}
    assert {f.call for f in result.failures} == {"SetRulePriorities"}
    assert "two steps" in result.failures[0].fix
    assert step(result, "web-routing-rule-api").op == "update"
    assert step(result, "web-routing-rule-api").diffs == ["priority"]
    assert held == {"/api/*": "10", "/maintenance": "20"}  # AWS still holds the base


def test_delete_a_rule_and_move_another_onto_its_priority(change):
    def edit(c):
        rules = c[ROUTING]["rules"]
        del rules["api"]
        rules["maintenance"]["priority"] = 10
    result = change.edit(edit).preview()
    assert step(result, "web-routing-rule-maintenance").op == "update"
    assert [(f.call, f.error) for f in result.failures] == [("SetRulePriorities", "PriorityInUse")]
    # the engine deletes last: the api rule was still deleted, at the end
    assert any(s.op == "delete" and s.name == "web-routing-rule-api" and s.calls == ["DeleteRule"]
               for s in result.steps)


def test_rename_a_rule_key_at_the_same_priority(change):
    def edit(c):
        rules = c[ROUTING]["rules"]
        rules["api-v2"] = rules.pop("api")
    result = change.edit(edit).preview()
    assert step(result, "web-routing-rule-api-v2").op == "create"
    assert [(f.call, f.error) for f in result.failures] == [("CreateRule", "PriorityInUse")]


def test_health_check_edit_updates_in_place(change):
    def edit(c):
        c["web-tier:pools"]["blue"]["healthCheck"]["path"] = "/healthz"
    seen = {}

    def after(result):
        rec = next(r for r in result.head.resources if r.name == "web-pool-blue-tg")
        seen["path"] = elbv2().describe_target_groups(TargetGroupArns=[rec.id])["TargetGroups"][0]["HealthCheckPath"]
        seen["base_id"] = next(r.id for r in result.base_run.resources if r.name == "web-pool-blue-tg")
        seen["head_id"] = rec.id
    result = change.edit(edit).preview(after=after)
    s = step(result, "web-pool-blue-tg")
    assert (s.op, s.diffs, s.calls) == ("update", ["healthCheck.path"], ["ModifyTargetGroup"])
    assert result.failures == []
    assert seen == {"path": "/healthz", "base_id": seen["base_id"], "head_id": seen["base_id"]}


def test_target_group_port_change_replaces_without_collision(change):
    def edit(c):
        c["web-tier:pools"]["green"]["port"] = 8080
    seen = {}

    def after(result):
        old = next(r.id for r in result.base_run.resources if r.name == "web-pool-green-tg")
        new = next(r.id for r in result.head.resources if r.name == "web-pool-green-tg")
        arns = {tg["TargetGroupArn"] for tg in elbv2().describe_target_groups()["TargetGroups"]}
        seen.update(old_gone=old not in arns, new_there=new in arns, differ=old != new)
    result = change.edit(edit).preview(after=after)
    s = step(result, "web-pool-green-tg")
    assert s.op == "replace" and "port" in s.replace_reasons
    assert result.failures == []
    assert seen == {"old_gone": True, "new_there": True, "differ": True}
