"""Helpers shared by the policies: type tokens, props as plain data, the stack topology,
and the one way a policy says "could not be evaluated".

Unknown values: during a real ``pulumi preview`` of new resources, ARNs, ids and other
computed outputs are unknown. ``pulumi_policy`` wraps props so that touching an unknown
raises ``UnknownValueError``, which it turns into an *advisory* "can't run policy"
diagnostic. Stack policies here instead read props with :func:`plain`, which keeps an
unknown as :data:`UNKNOWN`, so the topology can still link resources through
``propertyDependencies``. Whatever then cannot be determined is collected and handed to
:func:`cannot_evaluate`, which raises the same ``UnknownValueError``: the engine shows
an advisory "can't run policy '<name>' ... : <reason>", never a silent pass and never a
mandatory failure for something that is merely unknown.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Mapping, Sequence
from typing import Any, Iterable

from pulumi_policy import PolicyConfigSchema, StackValidationArgs
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UnknownValueError

from lbguard.core import topology, traffic
from lbguard.core.memo import ByIdentity

UNKNOWN = topology.UNKNOWN  # the engine's unknown-string sentinel
STACK = "pulumi:pulumi:Stack"


def tokens(kind: str) -> tuple[str, ...]:
    """Both tokens pulumi_aws registers for an ELBv2 type, e.g. 'listener/Listener'."""
    module, cls = kind.split("/")
    return (f"aws:lb/{module}:{cls}", f"aws:alb/{module}:{cls}")


LB = tokens("loadBalancer/LoadBalancer")
TARGET_GROUP = tokens("targetGroup/TargetGroup")
LISTENER = tokens("listener/Listener")
LISTENER_RULE = tokens("listenerRule/ListenerRule")
TG_ATTACHMENT = tokens("targetGroupAttachment/TargetGroupAttachment")
ASG = "aws:autoscaling/group:Group"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LAUNCH_CONFIGURATION = "aws:ec2/launchConfiguration:LaunchConfiguration"
INSTANCE = "aws:ec2/instance:Instance"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"


class CannotEvaluate(UnknownValueError):
    """Raised to report, at advisory level, what a policy could not evaluate."""

    def __init__(self, message: str):
        Exception.__init__(self, message)
        self.unknown_type_sentinel = UNKNOWN
        self.props: list[str] = []
        self.message = message


def cannot_evaluate(reasons: Iterable[str]) -> None:
    """Raise :class:`CannotEvaluate` with every reason, if there is any. Call it last:
    violations reported before it stand (at the policy's level)."""
    reasons = list(dict.fromkeys(reasons))
    if reasons:
        shown = reasons[:5] + ([f"and {len(reasons) - 5} more"] if len(reasons) > 5 else [])
        raise CannotEvaluate("could not be evaluated: " + "; ".join(shown))


_SCALARS = frozenset({str, int, float, bool, type(None), bytes})


def plain(value: Any) -> Any:
    """Props as plain dicts/lists; an unknown stays ``UNKNOWN`` (an unknown list: ``[UNKNOWN]``)."""
    if type(value) in _SCALARS:  # most leaves: skips two ABC checks each (a pack run makes ~10^5)
        return value
    if isinstance(value, Mapping):
        out = {}
        for k in value:
            try:
                out[k] = plain(value[k])
            except UnknownValueError as err:
                out[k] = [UNKNOWN] if err.unknown_type_sentinel == UNKNOWN_ARRAY_VALUE else UNKNOWN
        return out
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        out_list = []
        for i in range(len(value)):
            try:
                out_list.append(plain(value[i]))
            except UnknownValueError:
                out_list.append(UNKNOWN)
        return out_list
    return value


def strict(value: Any) -> Any:
    """Props as plain dicts/lists; touching an unknown raises (advisory "can't run")."""
    if isinstance(value, Mapping):
        return {k: strict(value[k]) for k in value}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [strict(v) for v in value]
    return value


def known(value: Any) -> bool:
    return topology._known(value)  # noqa: SLF001 - the linker's own definition of "known"


def num(value: Any, default: float | None = None) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def schema(**props: dict) -> PolicyConfigSchema:
    return PolicyConfigSchema(properties=props)


def tags_of(props: Mapping[str, Any]) -> dict[str, str]:
    return topology._tags(props)  # noqa: SLF001 - one reading of both tag shapes


def forward_actions(props: Mapping[str, Any], key: str) -> list[dict]:
    return [a for a in (props.get(key) or []) if isinstance(a, Mapping) and a.get("type") == "forward"]


def forward_weights(action: Mapping[str, Any]) -> list[tuple[Any, Any]] | None:
    """(target-group arn, weight) pairs of a pulumi-shaped forward action, an unknown weight
    as ``UNKNOWN``; None when its target groups are unknown (topology's one reading)."""
    return topology.forward_pairs(action)


# ``plain(props)``, once per props object: a host that hands every stack policy the same
# (read-only) proxies, as lbguard's in-process pack does, has each resource made plain once
# instead of once per policy; under the engine every policy's proxies are new and this is a
# cache miss.
plain_props = ByIdentity(plain, limit=50_000)


def stack_resources(args: StackValidationArgs) -> list[topology.Res]:
    """Every resource except the root stack, props plain (unknowns kept), dependencies as URNs."""
    return [topology.Res(r.urn, r.resource_type, r.name, plain_props(r.props),
                         {k: [d.urn for d in v] for k, v in (r.property_dependencies or {}).items()})
            for r in args.resources if r.resource_type != STACK]


PROFILE_CONFIG = "trafficProfile"  # pack config key: a profile for a stack that does not export one

PROFILE_SCHEMA = {"type": "object",
                  "description": "a traffic profile (lbguard.core.profile format: version, peakRequestsPerSecond, "
                                 "classes) used when the stack exports no 'trafficProfile' output"}


def stack_profile(args: StackValidationArgs) -> Any:
    """The traffic profile the shares come from: the stack's ``trafficProfile`` output (what
    the program exports from stacks/traffic.<stack>.yaml), else the policy's
    ``trafficProfile`` config, else None (shares from catch-alls and expectedShare only)."""
    outputs = stack_outputs(args)
    found = (outputs[1] if outputs else {}).get(topology.PROFILE_OUTPUT)
    if found is not None and known(found):
        return found
    return args.get_config().get(PROFILE_CONFIG)


def stack_topology(args: StackValidationArgs, resources: list[topology.Res] | None = None,
                   **kw) -> topology.Topology:
    """The routing topology of the stack, built by lbguard's one linker, with its profile."""
    kw.setdefault("profile", stack_profile(args))
    return topology.build(resources if resources is not None else stack_resources(args), **kw)


def share_unknown(fwd: topology.Forward) -> str | None:
    """Why a forward's share of its listener is not known (a narrow rule, no profile, no
    expectedShare), or None. Policies report it as advisory instead of assuming 100%."""
    if fwd.share_known:
        return None
    return (f"{fwd.id}: share unknown (a rule that matches only some requests, no traffic profile and no "
            f"expectedShare): add stacks/traffic.<stack>.yaml (lbguard profile --from-logs) or set the rule's "
            f"expectedShare")


def unresolved_reasons(topo: topology.Topology) -> list[str]:
    return [f"{urn.rsplit('::', 1)[-1]}: {why}" for urn, why in topo.unresolved]


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


def capacity_unknown(topo: topology.Topology, fwd: topology.Forward) -> list[str]:
    """Why the capacity behind ``fwd`` is not known: target groups it sends traffic to that
    have nothing in this stack registering targets (capacity outside the stack, or links
    that could not be made during a preview)."""
    return [f"{fwd.id}: no Auto Scaling group or registered target in this stack is linked to target group "
            f"{topo.label(k)}, so its instances are unknown"
            for k, w in fwd.weights.items()
            if w > 0 and not topo.target_groups[k].capacity_sources]


def scenario_label(topo: topology.Topology, scenario: str) -> str:
    """'instance-lost:<target-group arn>' -> 'instance-lost:<pool>'."""
    kind, _, tg = scenario.partition(":")
    return f"{kind}:{topo.label(tg)}" if tg else kind


def stack_outputs(args: StackValidationArgs) -> tuple[str, dict] | None:
    for r in args.resources:
        if r.resource_type == STACK:
            return r.urn, plain(r.props)
    return None


def single_az(res: topology.Res, prop: str, subnet_ids: list, subnet_az: dict, listed=()) -> tuple[set, str | None]:
    """(AZs, None) when ``res``'s subnets (and ``listed`` AZs) span fewer than two AZs, (set(), note)
    when that cannot be told (subnets outside the stack or unknown), (None, None) when they span two."""
    azs, missing = topology.zones_of(res, prop, subnet_ids, subnet_az)
    azs |= set(listed)
    if len(azs) >= 2:
        return None, None
    if missing:
        return set(), f"{res.name}: {missing} of its subnets are outside this stack or unknown, so their AZs cannot " \
                      f"be counted"
    return azs, None


def pct(x: float) -> str:
    if x == float("inf"):
        return "unbounded"
    return f"{x * 100:.0f}%" if abs(x * 100 - round(x * 100)) < 1e-9 else f"{x * 100:.1f}%"


def guard(policies: list) -> list:
    """Make a policy that crashes print its traceback to stderr (gRPC swallows it: the
    engine would only show the exception's message), then fail as before."""
    for policy in policies:
        def validate(args, report, _inner=policy.validate, _name=policy.name):
            try:
                return _inner(args, report)
            except UnknownValueError:
                raise
            except Exception:
                print(f"policy {_name} raised:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
                raise
        policy.validate = validate
    return policies
