"""`lbguard drill`: break a sandbox load balancer on purpose, for game days."""

from __future__ import annotations

from pathlib import Path

import click

from lbguard import shapes, state
from lbguard.commands.common import project_dir_option, stack_option
from lbguard.commands.ops import aws_errors, context, echo, emit
from lbguard.model import LbguardError

SCENARIOS = {
    "funnel": "June 1: a new catch-all rule sends all traffic to one pool, left with one instance",
    "uneven": "the serving listener's default forward skewed to 90/10",
}


def _serving_listener(snapshot: dict) -> dict:
    for lst in snapshot["listeners"]:
        if any(a.get("Type") == "forward" for a in lst["defaultActions"]):
            return lst
    raise LbguardError("the snapshot has no listener whose default action forwards")


@click.command()
@click.option("--scenario", type=click.Choice(sorted(SCENARIOS)), default="funnel", show_default=True)
@stack_option
@project_dir_option
@click.option("--json", "json_path", default=None, help="write what was done as JSON to FILE ('-' for stdout)")
@aws_errors
def drill(scenario: str, stack: str, cwd: Path | None, json_path: str | None) -> int:
    """Apply a named misconfiguration to the sandbox; refuses any non-local endpoint."""
    ctx = context(stack, cwd)
    state.require_local_endpoint(ctx.endpoint)
    snapshot = ctx.current()
    if snapshot is None:
        raise LbguardError(f"no current snapshot for {ctx.project}/{stack}: run `lbguard sandbox --stack {stack}` first")
    elbv2 = ctx.client("elbv2")
    listener = _serving_listener(snapshot)
    done = []
    if scenario == "funnel":
        pool, tg = next(iter(snapshot["targetGroups"].items()))
        targets = elbv2.describe_target_health(TargetGroupArn=tg["arn"])["TargetHealthDescriptions"]
        extra = [{"Id": t["Target"]["Id"], **({"Port": t["Target"]["Port"]} if t["Target"].get("Port") else {})}
                 for t in targets[1:]]
        if extra:
            elbv2.deregister_targets(TargetGroupArn=tg["arn"], Targets=extra)
            done.append(f"deregistered {len(extra)} of {len(targets)} targets from pool {pool}")
        used = {int(r["Priority"]) for r in elbv2.describe_rules(ListenerArn=listener["arn"])["Rules"]
                if not r.get("IsDefault")}
        priority = next(p for p in range(1, 50001) if p not in used)
        rule = elbv2.create_rule(
            ListenerArn=listener["arn"], Priority=priority,
            Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}],
            Actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": tg["arn"], "Weight": 1}]}}],
        )["Rules"][0]
        done.append(f"created catch-all rule priority {priority} ({rule['RuleArn']}) forwarding 100% to pool {pool}")
    else:
        action = shapes.canonical_actions(listener["defaultActions"])[0]
        groups = action["ForwardConfig"]["TargetGroups"]
        if len(groups) < 2:
            raise LbguardError("scenario 'uneven' needs a default forward to two or more pools")
        for i, g in enumerate(groups):
            g["Weight"] = 90 if i == 0 else 10
        elbv2.modify_listener(ListenerArn=listener["arn"], DefaultActions=[action])
        done.append(f"listener {listener['key']}: default forward set to 90/10")
    emit(json_path, {"scenario": scenario, "endpoint": ctx.endpoint, "changes": done})
    for line in done:
        echo(json_path, f"drill {scenario}: {line}")
    echo(json_path, f"now: lbguard diagnose --stack {stack}   then: lbguard rollback --stack {stack}")
    return 0
