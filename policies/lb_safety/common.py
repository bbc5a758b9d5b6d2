"""Helpers shared by the policies: type tokens, plain props, the stack topology."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyConfigSchema, StackValidationArgs

from lbguard import topology, traffic


def tokens(kind: str) -> tuple[str, ...]:
    """Both tokens pulumi_aws registers for an ELBv2 type, e.g. 'listener/Listener'."""
    module, cls = kind.split("/")
    return (f"aws:lb/{module}:{cls}", f"aws:alb/{module}:{cls}")


LB = tokens("loadBalancer/LoadBalancer")
TARGET_GROUP = tokens("targetGroup/TargetGroup")
LISTENER = tokens("listener/Listener")
LISTENER_RULE = tokens("listenerRule/ListenerRule")


def plain(value: Any) -> Any:
    """The engine's props as plain dicts/lists (unknown values raise, as they should)."""
    if isinstance(value, Mapping):
        return {k: plain(value[k]) for k in value}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [plain(v) for v in value]
    return value


def num(value: Any, default: float | None = None) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def schema(**props: dict) -> PolicyConfigSchema:
    return PolicyConfigSchema(properties=props)


def forward_actions(props: Mapping[str, Any], key: str) -> list[dict]:
    return [a for a in plain(props.get(key) or []) if a.get("type") == "forward"]


def forward_weights(action: Mapping[str, Any]) -> list[tuple[str, float | None]]:
    """(target-group arn, weight) pairs of a pulumi-shaped forward action."""
    fwd = action.get("forward") or {}
    if fwd.get("targetGroups"):
        return [(t.get("arn"), num(t.get("weight"), 1.0) if t.get("weight") is not None else 1.0)
                for t in fwd["targetGroups"]]
    return [(action.get("targetGroupArn"), 1.0)]


def stack_topology(args: StackValidationArgs, **kw) -> topology.Topology:
    """The routing topology of the stack, built by lbguard's one linker."""
    return topology.build(
        (topology.Res(r.urn, r.resource_type, r.name, plain(r.props),
                      {k: [d.urn for d in v] for k, v in (r.property_dependencies or {}).items()})
         for r in args.resources if r.resource_type != "pulumi:pulumi:Stack"),
        **kw)


def valid_forwards(topo: topology.Topology) -> list[topology.Forward]:
    """Forwards whose weights ALB would accept (even-target-weights reports the others)."""
    out = []
    for fwd in topo.forwards:
        try:
            traffic.validate_weights(fwd.weights)
        except traffic.WeightError:
            continue
        out.append(fwd)
    return out


def scenario_label(topo: topology.Topology, scenario: str) -> str:
    """'instance-lost:<target-group arn>' -> 'instance-lost:<pool>'."""
    kind, _, tg = scenario.partition(":")
    return f"{kind}:{topo.label(tg)}" if tg else kind


def stack_outputs(args: StackValidationArgs) -> tuple[str, dict] | None:
    for r in args.resources:
        if r.resource_type == "pulumi:pulumi:Stack":
            return r.urn, plain(r.props)
    return None


def pct(x: float) -> str:
    if x == float("inf"):
        return "unbounded"
    return f"{x * 100:.0f}%" if x * 100 == round(x * 100) else f"{x * 100:.1f}%"
