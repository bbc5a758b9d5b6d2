"""`lbguard drill`: break a sandbox load balancer on purpose, for game days, and undo it.

Every change a drill makes is recorded in ``.lbguard/drill-<stack>.json`` (lbguard.live.state)
before it is made, so a drill that fails part-way can still be undone: `--undo` puts back
the deregistered targets, deletes the rules the drill created and restores the default
actions it changed, each step checked against AWS first (a step whose goal already holds,
e.g. after `lbguard rollback` deleted the drill's rule, is done whoever did it).
"""

from __future__ import annotations

import time
from pathlib import Path

import click
from botocore.exceptions import ClientError

from lbguard.live import reader, state

from lbguard.core import shapes
from lbguard.cli.commands.common import project_dir_option, stack_option
from lbguard.cli.commands.ops import Context, announce, aws_errors, context, echo, emit, endpoint_option
from lbguard.core.model import LbguardError
from lbguard.core.snapshot import arn_region_account

SCENARIOS = {
    "funnel": "June 1: a new catch-all rule sends all traffic to one pool, left with one instance",
    "uneven": "the serving listener's default forward skewed to 90/10",
}
RECORD_VERSION = 1


def _serving_listener(snapshot: dict) -> dict:
    for lst in snapshot["listeners"]:
        if any(a.get("Type") == "forward" for a in lst["defaultActions"]):
            return lst
    raise LbguardError("the snapshot has no listener whose default action forwards")


def _target(t: dict) -> dict:
    return {"Id": t["Id"], **({"Port": t["Port"]} if t.get("Port") else {})}


def _first_line(ctx: Context, json_path: str | None, what: str, lb_arn: str | None, record: Path) -> None:
    account = arn_region_account(lb_arn)[1] if lb_arn else "?"
    on = f"load balancer {lb_arn} (account {account}) " if lb_arn else ""
    announce(json_path, f"{what}: {ctx.project}/{ctx.stack} {on}at {ctx.short()}; record {record}")


@click.command()
@click.option("--scenario", type=click.Choice(sorted(SCENARIOS)), default="funnel", show_default=True)
@click.option("--undo", is_flag=True, help="put back what the recorded drill changed and remove its record")
@stack_option
@project_dir_option
@click.option("--json", "json_path", default=None, help="write what was done as JSON to FILE ('-' for stdout)")
@endpoint_option
@aws_errors
def drill(scenario: str, undo: bool, stack: str, cwd: Path | None, json_path: str | None, endpoint_url: str | None) -> int:
    """Apply a named misconfiguration to the sandbox (recorded in .lbguard/drill-STACK.json);
    --undo puts it back. Refuses any non-local endpoint, and a second drill before --undo."""
    ctx = context("drill --undo" if undo else f"drill {scenario}", stack, cwd, json_path, endpoint_url, local_only=True)
    path = state.drill_file(ctx.project_dir, stack)
    record = state.load_state_file(path)
    if undo:
        return _undo(ctx, path, record, json_path)
    if record is not None:
        raise LbguardError(f"a {record.get('scenario', '?')} drill on {stack} is still recorded in {path} (since "
                           f"{record.get('startedAt', '?')}): run `lbguard drill --undo --stack {stack}` first")
    snapshot = ctx.current()
    if snapshot is None:
        raise LbguardError(f"no current snapshot for {ctx.project}/{stack}: run `lbguard sandbox --stack {stack}` first")
    lb_arn = snapshot["loadBalancer"]["arn"]
    _first_line(ctx, json_path, f"drill {scenario}", lb_arn, path)
    record = {"version": RECORD_VERSION, "scenario": scenario, "project": ctx.project, "stack": stack,
              "endpoint": ctx.endpoint, "region": ctx.region, "loadBalancerArn": lb_arn,
              "startedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "by": state.who(),
              "deregisteredTargets": [], "createdRules": [], "changedDefaultActions": []}
    elbv2 = ctx.client("elbv2")
    listener = _serving_listener(snapshot)
    done = []
    if scenario == "funnel":
        _funnel(elbv2, snapshot, listener, record, path, done)
    else:
        _uneven(elbv2, listener, record, path, done)
    emit(json_path, {"scenario": scenario, "endpoint": ctx.endpoint, "record": str(path), "changes": done})
    for line in done:
        echo(json_path, f"drill {scenario}: {line}")
    echo(json_path, f"recorded in {path}")
    echo(json_path, f"next: lbguard diagnose --stack {stack}; lbguard rollback --stack {stack}; "
                    f"lbguard drill --undo --stack {stack}")
    return 0


def _funnel(elbv2, snapshot: dict, listener: dict, record: dict, path: Path, done: list[str]) -> None:
    pool, tg = next(iter(snapshot["targetGroups"].items()))
    targets = elbv2.describe_target_health(TargetGroupArn=tg["arn"])["TargetHealthDescriptions"]
    extra = [_target(t["Target"]) for t in targets[1:]]
    if extra:
        record["deregisteredTargets"] = [{"targetGroupArn": tg["arn"], "pool": pool, **{k.lower(): v for k, v in t.items()}}
                                         for t in extra]
        state.save_state_file(path, record)  # recorded before it is done: a failure part-way can still be undone
        elbv2.deregister_targets(TargetGroupArn=tg["arn"], Targets=extra)
        done.append(f"deregistered {len(extra)} of {len(targets)} targets from pool {pool}")
    used = {int(r["Priority"]) for r in reader.describe_rules(elbv2, listener["arn"]) if not r.get("IsDefault")}
    priority = next(p for p in range(1, 50001) if p not in used)
    rule = {"listenerArn": listener["arn"], "priority": priority, "ruleArn": None,
            "conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}],
            "actions": [{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": tg["arn"], "Weight": 1}]}}]}
    record["createdRules"].append(rule)
    state.save_state_file(path, record)
    rule["ruleArn"] = elbv2.create_rule(ListenerArn=listener["arn"], Priority=priority, Conditions=rule["conditions"],
                                        Actions=rule["actions"])["Rules"][0]["RuleArn"]
    state.save_state_file(path, record)
    done.append(f"created catch-all rule priority {priority} ({rule['ruleArn']}) forwarding 100% to pool {pool}")


def _uneven(elbv2, listener: dict, record: dict, path: Path, done: list[str]) -> None:
    before = elbv2.describe_listeners(ListenerArns=[listener["arn"]])["Listeners"][0]["DefaultActions"]
    action = shapes.canonical_actions(listener["defaultActions"])[0]
    groups = action["ForwardConfig"]["TargetGroups"]
    if len(groups) < 2:
        raise LbguardError("scenario 'uneven' needs a default forward to two or more pools")
    for i, g in enumerate(groups):
        g["Weight"] = 90 if i == 0 else 10
    record["changedDefaultActions"].append({"listenerArn": listener["arn"], "listenerKey": listener.get("key"),
                                            "before": before, "after": [action]})
    state.save_state_file(path, record)
    elbv2.modify_listener(ListenerArn=listener["arn"], DefaultActions=[action])
    done.append(f"listener {listener.get('key') or listener['arn']}: default forward set to 90/10")


def _code(err: ClientError) -> str:
    return err.response.get("Error", {}).get("Code", "")


def _error(err: ClientError) -> str:
    e = err.response.get("Error", {})
    return f"{err.operation_name}: {e.get('Code')}: {e.get('Message')}"


class _Undo:
    """The steps of one --undo: what was put back, what already was, what could not be."""

    def __init__(self, elbv2):
        self.elbv2 = elbv2
        self.restored: list[str] = []
        self.already: list[str] = []
        self.left: list[str] = []   # changed by someone else since the drill: not ours to overwrite
        self.failed: list[str] = []  # AWS refused: the record stays, --undo again

    def targets(self, entries: list[dict]) -> None:
        by_group: dict[str, list[dict]] = {}
        for t in entries:
            by_group.setdefault(t["targetGroupArn"], []).append(t)
        for arn, wanted in by_group.items():
            pool = wanted[0].get("pool") or arn
            try:
                held = {(h["Target"]["Id"], h["Target"].get("Port"))
                        for h in self.elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]}
                missing = [t for t in wanted if (t["id"], t.get("port")) not in held
                           and not (t.get("port") is None and any(i == t["id"] for i, _ in held))]
                if missing:
                    self.elbv2.register_targets(TargetGroupArn=arn, Targets=[_target({"Id": t["id"], "Port": t.get("port")})
                                                                             for t in missing])
            except ClientError as err:
                self.failed.append(f"re-register {len(wanted)} target(s) in pool {pool}: {_error(err)}")
                continue
            if missing:
                self.restored.append(f"re-registered {len(missing)} target(s) in pool {pool}: "
                                     + ", ".join(t["id"] for t in missing))
            else:
                self.already.append(f"pool {pool}: its {len(wanted)} target(s) are registered")

    def default_actions(self, entries: list[dict]) -> None:
        for entry in entries:
            name = entry.get("listenerKey") or entry["listenerArn"]
            try:
                live = self.elbv2.describe_listeners(ListenerArns=[entry["listenerArn"]])["Listeners"][0]["DefaultActions"]
                now = shapes.canonical_actions(live)
                if now == shapes.canonical_actions(entry["before"]):
                    self.already.append(f"listener {name}: default action is as before the drill")
                    continue
                if now != shapes.canonical_actions(entry["after"]):
                    self.left.append(f"listener {name}: default action changed since the drill; left as it is "
                                     f"(lbguard rollback restores known-good)")
                    continue
                self.elbv2.modify_listener(ListenerArn=entry["listenerArn"], DefaultActions=entry["before"])
            except ClientError as err:
                if _code(err) == "ListenerNotFound":
                    self.left.append(f"listener {name} is gone: its default action cannot be restored")
                else:
                    self.failed.append(f"restore listener {name}'s default action: {_error(err)}")
                continue
            self.restored.append(f"listener {name}: default action restored")

    def rules(self, entries: list[dict]) -> None:
        for entry in entries:
            label = f"rule priority {entry['priority']}" + (f" ({entry['ruleArn']})" if entry.get("ruleArn") else "")
            try:
                arn = self._find_rule(entry)
                if arn is None:
                    self.already.append(f"{label}: already deleted (or never created)")
                    continue
                self.elbv2.delete_rule(RuleArn=arn)
            except ClientError as err:
                if _code(err) in ("RuleNotFound", "ListenerNotFound"):
                    self.already.append(f"{label}: already deleted")
                else:
                    self.failed.append(f"delete {label}: {_error(err)}")
                continue
            self.restored.append(f"deleted the drill's {label}")

    def _find_rule(self, entry: dict) -> str | None:
        """The drill's rule if it is still on the listener (checked: DeleteRule of a rule that
        is gone is not an error everywhere); by its recorded priority, conditions and actions
        when the create's answer was lost."""
        for r in reader.describe_rules(self.elbv2, entry["listenerArn"]):
            if r.get("IsDefault"):
                continue
            if entry.get("ruleArn"):
                if r["RuleArn"] == entry["ruleArn"]:
                    return r["RuleArn"]
            elif (int(r["Priority"]) == entry["priority"]
                  and shapes.canonical_conditions(r["Conditions"]) == shapes.canonical_conditions(entry["conditions"])
                  and shapes.canonical_actions(r["Actions"]) == shapes.canonical_actions(entry["actions"])):
                return r["RuleArn"]
        return None


def _undo(ctx: Context, path: Path, record: dict | None, json_path: str | None) -> int:
    stack = ctx.stack
    if record is None:
        _first_line(ctx, json_path, "drill --undo", None, path)
        emit(json_path, {"undo": True, "endpoint": ctx.endpoint, "record": str(path), "nothingToUndo": True,
                         "restored": [], "already": [], "left": [], "failed": [], "recordRemoved": False})
        echo(json_path, f"drill --undo: nothing to undo for {stack} (no drill recorded in {path})")
        return 0
    if record.get("endpoint") != ctx.endpoint:
        raise LbguardError(f"{path} records a drill against {record.get('endpoint')}, not {ctx.endpoint}: point "
                           f"AWS_ENDPOINT_URL at that emulator, or delete the file if it is gone")
    _first_line(ctx, json_path, "drill --undo", record.get("loadBalancerArn"), path)
    steps = _Undo(ctx.client("elbv2"))
    steps.targets(record.get("deregisteredTargets") or [])  # capacity back first, then the routing
    steps.default_actions(record.get("changedDefaultActions") or [])
    steps.rules(record.get("createdRules") or [])
    removed = not steps.failed
    if removed:
        path.unlink(missing_ok=True)
    emit(json_path, {"undo": True, "scenario": record.get("scenario"), "endpoint": ctx.endpoint, "record": str(path),
                     "nothingToUndo": False, "restored": steps.restored, "already": steps.already,
                     "left": steps.left, "failed": steps.failed, "recordRemoved": removed})
    for line in steps.restored:
        echo(json_path, f"drill --undo: {line}")
    for line in steps.already:
        echo(json_path, f"drill --undo: done already: {line}")
    for line in steps.left:
        echo(json_path, f"drill --undo: left: {line}")
    for line in steps.failed:
        echo(json_path, f"drill --undo: FAILED: {line}")
    if removed:
        echo(json_path, f"drill --undo: {record.get('scenario')} drill undone; removed {path}")
        echo(json_path, f"next: lbguard diagnose --stack {stack}")
        return 0
    echo(json_path, f"drill --undo: {len(steps.failed)} step(s) failed; {path} kept: run "
                    f"`lbguard drill --undo --stack {stack}` again")
    return 1
