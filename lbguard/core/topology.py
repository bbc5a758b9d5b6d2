"""From Pulumi resources to routing topology: listeners, forwards and the pools behind them.

The policy pack (stack policies), preflight, diff and route all need the same picture
of "which listener forwards what share to which target group, and how much capacity
stands behind each target group". This module builds it once from resource
properties (inputs or outputs, camelCase as the engine sends them) and hands the
numbers to :mod:`lbguard.core.traffic`.

Links are made by ARN where ARNs are known. During a real ``pulumi preview`` of new
resources ARNs are unknown; then a link is taken from ``propertyDependencies`` when it
is unambiguous, and otherwise recorded in ``Topology.unresolved`` so callers can say
"could not be evaluated" instead of passing silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from lbguard.core import names, shapes, traffic

LB_TYPES = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
TG_TYPES = ("aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup")
LISTENER_TYPES = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
RULE_TYPES = ("aws:lb/listenerRule:ListenerRule", "aws:alb/listenerRule:ListenerRule")
TG_ATTACHMENT_TYPES = ("aws:lb/targetGroupAttachment:TargetGroupAttachment",
                       "aws:alb/targetGroupAttachment:TargetGroupAttachment")
ASG_TYPE = "aws:autoscaling/group:Group"
ASG_ATTACHMENT_TYPE = "aws:autoscaling/attachment:Attachment"
ASG_TRAFFIC_SOURCE_ATTACHMENT_TYPE = "aws:autoscaling/trafficSourceAttachment:TrafficSourceAttachment"
SUBNET_TYPE = "aws:ec2/subnet:Subnet"
INSTANCE_TYPE = "aws:ec2/instance:Instance"
CERTIFICATE_TYPE = "aws:acm/certificate:Certificate"
CERTIFICATE_VALIDATION_TYPE = "aws:acm/certificateValidation:CertificateValidation"
LISTENER_CERTIFICATE_TYPES = ("aws:lb/listenerCertificate:ListenerCertificate",
                              "aws:alb/listenerCertificate:ListenerCertificate")

TAG_POOL = "lbguard:pool"
TAG_RPS = "lbguard:rps-per-instance"
TAG_PEAK = "lbguard:peak-rps"
TAG_FRACTION = "lbguard:traffic-fraction"
STACK_TYPE = "pulumi:pulumi:Stack"
PROFILE_OUTPUT = "trafficProfile"  # the stack output holding the stack's traffic profile (lbguard.core.profile)

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's unknown-value sentinel


@dataclass
class Res:
    """A resource as seen by the engine: urn, type, name, props, property dependencies."""

    urn: str
    type: str
    name: str
    props: Mapping[str, Any]
    property_dependencies: Mapping[str, list[str]] = field(default_factory=dict)


@dataclass
class TargetGroupNode:
    id: str  # ARN when known, else URN
    urn: str
    name: str  # logical name
    physical_name: str | None
    pool_key: str | None
    instances: int = 0
    rps_per_instance: float | None = None
    azs: set[str] = field(default_factory=set)
    capacity_sources: list[str] = field(default_factory=list)  # urns of ASGs / attachments

    def pool(self) -> traffic.Pool:
        return traffic.Pool(instances=self.instances, rps_per_instance=self.rps_per_instance,
                            azs=max(1, len(self.azs)))

    @property
    def label(self) -> str:
        return self.pool_key or self.physical_name or self.name


@dataclass
class Forward:
    """One forwarding action: a listener's default action or a rule's action."""

    id: str  # "<listener name>/default" or "<listener name>/<rule name>"
    listener_urn: str
    rule_urn: str | None
    priority: int | None
    conditions: list[dict]  # API shape; [] for a default action
    weights: dict[str, float]  # target-group node id -> weight
    traffic_fraction: float = 1.0  # its reach: the share of the listener it receives (see ``reach``)
    resource_urn: str = ""  # the listener or rule that holds it
    reach: traffic.Reach | None = None  # how ``traffic_fraction`` was obtained (lbguard.core.traffic.listener_reach)

    @property
    def share_known(self) -> bool:
        return self.reach is None or self.reach.known

    def route(self) -> traffic.Route:
        return traffic.Route(self.id, self.weights, self.traffic_fraction)


@dataclass
class ListenerNode:
    urn: str
    name: str
    arn: str | None
    port: int | None
    protocol: str | None
    load_balancer: str | None  # LB arn or urn
    default_actions: list[dict] = field(default_factory=list)  # API shape
    rules: list[Res] = field(default_factory=list)
    reach: dict[str, traffic.Reach] = field(default_factory=dict)  # "<listener>/<rule>" or "<listener>/default"
    key: str = ""  # the stack's key for it (lbguard.core.names), else its Pulumi name


@dataclass
class Topology:
    listeners: dict[str, ListenerNode]
    target_groups: dict[str, TargetGroupNode]
    forwards: list[Forward]
    peak_rps: float | None
    unresolved: list[tuple[str, str]] = field(default_factory=list)  # (urn, why)
    profile: Any = None  # the lbguard.core.profile.Profile the reaches were computed from, or None

    def pools(self) -> dict[str, traffic.Pool]:
        return {k: tg.pool() for k, tg in self.target_groups.items()}

    def label(self, tg_id: str) -> str:
        tg = self.target_groups.get(tg_id)
        return tg.label if tg else tg_id

    def route_label(self, listener_urn: str, rule: Res | None) -> str:
        """A forward as every command names it: ``rule api``, ``default action of https``."""
        lst = self.listeners.get(listener_urn)
        return names.route_label(lst.key if lst else listener_urn, rule_key(rule) if rule is not None else None)


def rule_key(rule: Res) -> str:
    """A listener rule's key in the stack settings (lbguard.core.names), else its Pulumi name."""
    return names.of(rule.type, rule.name).short


def _known_value(value: Any) -> Any:
    """``value`` when known, else None (a preview's unknown is not a value to count)."""
    return value if _known(value) else None


def known_list(value: Any) -> bool:
    """A list whose items are known objects (their own fields may still be unknown)."""
    return isinstance(value, (list, tuple)) and all(isinstance(v, Mapping) for v in value)


def _known(value: Any) -> bool:
    if value is None or value == UNKNOWN:
        return False
    if isinstance(value, Mapping):
        return all(_known(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_known(v) for v in value)
    return True


def _tags(props: Mapping[str, Any]) -> dict[str, str]:
    tags = props.get("tags") or {}
    if isinstance(tags, list):  # Auto Scaling groups: [{key, value, propagateAtLaunch}]
        return {t.get("key"): t.get("value") for t in tags if isinstance(t, Mapping)}
    return dict(tags) if isinstance(tags, Mapping) else {}


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def listed(value: Any) -> list:
    """A list-valued property as a list: empty when absent, and when unknown (a preview's
    sentinel string), which callers check with :func:`_known` where it matters."""
    return list(value) if isinstance(value, (list, tuple)) else []


def forward_pairs(action: Mapping[str, Any]) -> list[tuple[Any, Any]] | None:
    """(target group reference, weight) of a pulumi-shaped forward action, the one reading of
    its two shapes (``forward.targetGroups`` or ``targetGroupArn``). An absent weight is ALB's
    1; an unknown one stays :data:`UNKNOWN`; None when the target groups themselves are unknown."""
    fwd = action.get("forward")
    if fwd is not None and not isinstance(fwd, Mapping):
        return None
    groups = (fwd or {}).get("targetGroups")
    if not groups:
        return [(action.get("targetGroupArn"), 1.0)]
    if not isinstance(groups, (list, tuple)) or not all(isinstance(t, Mapping) for t in groups):
        return None
    return [(t.get("arn"), 1.0 if t.get("weight") is None else UNKNOWN if t.get("weight") == UNKNOWN
             else _float(t.get("weight"))) for t in groups]


_DISCOVER = object()


def _profile_of(value: Any):
    """A Profile from a Profile, its JSON form (a stack output) or a JSON string; None if absent.
    A malformed profile raises LbguardError (it names the bad field)."""
    from lbguard.core import profile as profile_mod

    if value is None or isinstance(value, profile_mod.Profile):
        return value
    if isinstance(value, str):
        import json

        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            from lbguard.core.model import LbguardError

            raise LbguardError(f"{PROFILE_OUTPUT}: not valid JSON ({err.msg})") from None
    return profile_mod.parse_profile(value, PROFILE_OUTPUT)


def subnet_zones(resources: Iterable[Res]) -> dict[str, str]:
    """Subnet id and URN -> its availability zone, for the subnets among ``resources``."""
    out: dict[str, str] = {}
    for r in resources:
        if r.type != SUBNET_TYPE:
            continue
        az = r.props.get("availabilityZone")
        for ref in (r.props.get("id"), r.urn):
            if _known(ref) and _known(az):
                out[ref] = az
    return out


def zones_of(res: Res, prop: str, subnet_ids: list, subnet_az: Mapping[str, str]) -> tuple[set[str], int]:
    """The availability zones of the subnets ``subnet_ids`` that ``res`` names in ``prop``
    (by id, else through its property dependencies), and how many of them have no known AZ
    (subnets outside the stack, or unknown during a preview). AZs are counted, not subnets:
    two subnets in one AZ are one AZ."""
    azs = {subnet_az[v] for v in subnet_ids if _known(v) and v in subnet_az}
    missing = sum(1 for v in subnet_ids if not (_known(v) and v in subnet_az))
    if missing:
        deps = [subnet_az[u] for u in res.property_dependencies.get(prop, []) if u in subnet_az]
        azs |= set(deps)
        missing = max(0, missing - len(deps))
    return azs, missing


def build(resources: Iterable[Res], *, peak_rps: float | None = None,
          default_rps_per_instance: float | None = None, profile: Any = _DISCOVER) -> Topology:
    """``profile``: a traffic profile (``lbguard.core.profile.Profile`` or its JSON form); by default
    the stack's ``trafficProfile`` output when the stack resource is among ``resources``;
    None: no profile (deterministic facts only).

    In phases: target groups; their capacity (Auto Scaling groups, attachments, registered
    targets); the peak; listeners, rules and their forwards; every rule's reach."""
    resources = list(resources)
    if profile is _DISCOVER:
        stack = next((r for r in resources if r.type == STACK_TYPE), None)
        found = (stack.props or {}).get(PROFILE_OUTPUT) if stack is not None else None
        profile = found if _known(found) else None
    b = _Builder(resources, _profile_of(profile), default_rps_per_instance)
    b.target_groups()
    b.asg_capacity()
    b.attachment_capacity()
    b.target_capacity()
    b.listeners_and_rules()
    b.reach()
    return Topology(listeners=b.listeners, target_groups=b.tgs, forwards=b.forwards, peak_rps=b.peak(peak_rps),
                    unresolved=b.unresolved, profile=b.profile)


class _Builder:
    """The state of one :func:`build`: resources by type and URN, what is linked so far, and
    what could not be resolved."""

    def __init__(self, resources: list[Res], profile: Any, default_rps_per_instance: float | None):
        self.resources, self.profile, self.default_rps = resources, profile, default_rps_per_instance
        self.by_type: dict[str, list[Res]] = {}
        self.by_urn: dict[str, Res] = {}
        for r in resources:
            self.by_type.setdefault(r.type, []).append(r)
            self.by_urn[r.urn] = r
        self.unresolved: list[tuple[str, str]] = []
        self.tgs: dict[str, TargetGroupNode] = {}
        self.tg_by_ref: dict[str, TargetGroupNode] = {}
        self.subnet_az = subnet_zones(self.of(SUBNET_TYPE))
        self.asg_by_name: dict[str, Res] = {}
        self.asg_azs: dict[str, set] = {}  # Auto Scaling group URN -> its AZs (also for Attachment wiring)
        self.listeners: dict[str, ListenerNode] = {}
        self.listener_by_ref: dict[str, ListenerNode] = {}
        self.forwards: list[Forward] = []

    def of(self, *types: str) -> list[Res]:
        return [r for t in types for r in self.by_type.get(t, [])]

    def target_groups(self) -> None:
        """Target groups, addressable by ARN and by URN."""
        for r in self.of(*TG_TYPES):
            arn = r.props.get("arn")
            node = TargetGroupNode(id=arn if _known(arn) else r.urn, urn=r.urn, name=r.name,
                                   physical_name=r.props.get("name") if _known(r.props.get("name")) else None,
                                   pool_key=_tags(r.props).get(TAG_POOL))
            self.tgs[node.id] = node
            self.tg_by_ref[node.id] = self.tg_by_ref[r.urn] = node
            if _known(arn):
                self.tg_by_ref[arn] = node

    def tg_refs(self, res: Res, prop: str, values: list) -> list[TargetGroupNode]:
        """Target groups named by ``prop``: by ARN, else by property dependency."""
        found = [self.tg_by_ref[v] for v in values if _known(v) and v in self.tg_by_ref]
        if len(found) == len(values) and values:
            return found
        # A property dependency says which resources a property uses, not in which
        # position: it identifies the target group only when there is one.
        deps = [self.tg_by_ref[u] for u in res.property_dependencies.get(prop, []) if u in self.tg_by_ref]
        if len(deps) == 1 and len(values) == 1:
            return deps
        if values:
            self.unresolved.append((res.urn, f"{prop} names target groups that cannot be resolved"))
        return found

    def asg_capacity(self) -> None:
        """Auto Scaling groups: their minimum size behind each target group they name."""
        for r in self.of(ASG_TYPE):
            if _known(r.props.get("name")):
                self.asg_by_name[r.props["name"]] = r
            rps = _float(_tags(r.props).get(TAG_RPS)) or self.default_rps
            azs, _ = zones_of(r, "vpcZoneIdentifiers", list(r.props.get("vpcZoneIdentifiers") or []), self.subnet_az)
            azs |= {a for a in (r.props.get("availabilityZones") or []) if _known(a)}
            if not azs:
                # Subnets outside the stack (an existing VPC): count one AZ per subnet, as
                # subnets for an ASG are laid out one per AZ.
                azs = {f"subnet:{s}" for s in (r.props.get("vpcZoneIdentifiers") or []) if _known(s)}
            self.asg_azs[r.urn] = azs
            # Inline traffic sources of type elbv2 name target groups as targetGroupArns does.
            # (by ARN, else, in a preview, through the property dependency, else unresolved).
            sources = [s.get("identifier") for s in listed(r.props.get("trafficSources"))
                       if isinstance(s, Mapping) and s.get("type", "elbv2") == "elbv2"]
            for tg in self.tg_refs(r, "targetGroupArns", list(r.props.get("targetGroupArns") or [])) + \
                    self.tg_refs(r, "trafficSources", sources):
                tg.instances += int(_float(r.props.get("minSize")) or 0)
                tg.rps_per_instance = tg.rps_per_instance if rps is None else rps
                tg.azs |= azs
                tg.capacity_sources.append(r.urn)

    def attachment_capacity(self) -> None:
        """Auto Scaling groups wired through Attachment / TrafficSourceAttachment resources."""
        for r in self.of(ASG_ATTACHMENT_TYPE, ASG_TRAFFIC_SOURCE_ATTACHMENT_TYPE):
            name = r.props.get("autoscalingGroupName")
            asg = self.asg_by_name.get(name) if _known(name) else None
            if asg is None:  # a preview: the name is unknown, the dependency says which group
                deps = [self.by_urn[u] for u in r.property_dependencies.get("autoscalingGroupName", [])
                        if u in self.by_urn and self.by_urn[u].type == ASG_TYPE]
                asg = deps[0] if len(deps) == 1 else None
            if r.type == ASG_TRAFFIC_SOURCE_ATTACHMENT_TYPE:  # trafficSource: {identifier, type}
                source = r.props.get("trafficSource") or {}
                if not isinstance(source, Mapping) or source.get("type", "elbv2") != "elbv2":
                    continue
                linked = self.tg_refs(r, "trafficSource", [source.get("identifier")])
            else:
                linked = self.tg_refs(r, "lbTargetGroupArn", [r.props.get("lbTargetGroupArn")])
            for tg in linked:
                if asg is not None:
                    tg.instances += int(_float(asg.props.get("minSize")) or 0)
                    tg.rps_per_instance = (_float(_tags(asg.props).get(TAG_RPS)) or tg.rps_per_instance
                                           or self.default_rps)
                    tg.azs |= self.asg_azs.get(asg.urn, set())
                tg.capacity_sources.append(r.urn)

    def target_capacity(self) -> None:
        """Registered targets (TargetGroupAttachment): one instance each, in its AZ."""
        instance_az = {}
        for r in self.of(INSTANCE_TYPE):
            az = _known_value(r.props.get("availabilityZone")) or self.subnet_az.get(r.props.get("subnetId"))
            for ref in (r.props.get("id"), r.urn):
                if _known(ref):
                    instance_az[ref] = az
        for r in self.of(*TG_ATTACHMENT_TYPES):
            for tg in self.tg_refs(r, "targetGroupArn", [r.props.get("targetGroupArn")]):
                tg.instances += 1
                tg.rps_per_instance = tg.rps_per_instance or self.default_rps
                az = _known_value(r.props.get("availabilityZone")) or instance_az.get(r.props.get("targetId"))
                if not az:
                    deps = r.property_dependencies.get("targetId", [])
                    az = next((instance_az[u] for u in deps if u in instance_az), None)
                if az:
                    tg.azs.add(az)
                tg.capacity_sources.append(r.urn)

    def peak(self, explicit: float | None) -> float | None:
        """Peak requests/s: explicit, else the load balancer's tag, else the profile's."""
        peak_rps = explicit
        if peak_rps is None:
            for r in self.of(*LB_TYPES):
                peak_rps = _float(_tags(r.props).get(TAG_PEAK)) or peak_rps
        if peak_rps is None and self.profile is not None:
            peak_rps = self.profile.peak_requests_per_second
        return peak_rps

    def forward_of(self, res: Res, prop: str, actions: list, listener: ListenerNode, rule: Res | None) -> None:
        if not known_list(actions):
            self.unresolved.append((res.urn, f"its {prop} are unknown, so the target groups it forwards to cannot "
                                             f"be resolved"))
            return
        for a in actions:
            if a.get("type") != "forward":
                continue
            pairs = forward_pairs(a)
            if pairs is None:
                self.unresolved.append((res.urn, f"its {prop} forward to target groups that are unknown"))
                return
            nodes = self.tg_refs(res, prop, [p[0] for p in pairs])
            if len(nodes) != len(pairs):
                return
            weights: dict[str, float] = {}
            for node, (_, w) in zip(nodes, pairs):
                weights[node.id] = weights.get(node.id, 0.0) + (_float(w) or 0.0)
            conditions = []
            if rule is not None:
                try:
                    conditions = [shapes.condition_to_api(c) for c in listed(rule.props.get("conditions"))]
                except (ValueError, KeyError, TypeError, AttributeError):
                    conditions = []
            fraction = _float(_tags(rule.props).get(TAG_FRACTION)) if rule is not None else None
            self.forwards.append(Forward(
                id=f"{listener.name}/{rule.name if rule else 'default'}", listener_urn=listener.urn,
                rule_urn=rule.urn if rule else None,
                priority=int(_float(rule.props.get("priority")) or 0) if rule is not None else None,
                conditions=conditions, weights=weights, traffic_fraction=fraction or 1.0, resource_urn=res.urn))

    def listeners_and_rules(self) -> None:
        """Listeners, the rules on each, and the forwards of both."""
        for r in self.of(*LISTENER_TYPES):
            arn = r.props.get("arn")
            node = ListenerNode(urn=r.urn, name=r.name, arn=arn if _known(arn) else None,
                                port=int(_float(r.props.get("port")) or 0) or None, protocol=r.props.get("protocol"),
                                load_balancer=r.props.get("loadBalancerArn"), key=names.of(r.type, r.name).short)
            try:
                node.default_actions = [shapes.action_to_api(a) for a in listed(r.props.get("defaultActions"))]
            except (ValueError, KeyError, TypeError, AttributeError):
                node.default_actions = []
            self.listeners[r.urn] = node
            self.listener_by_ref[r.urn] = node
            if node.arn:
                self.listener_by_ref[node.arn] = node
            self.forward_of(r, "defaultActions", r.props.get("defaultActions") or [], node, None)
        for r in self.of(*RULE_TYPES):
            ref = r.props.get("listenerArn")
            node = self.listener_by_ref.get(ref) if _known(ref) else None
            if node is None:
                deps = [self.listener_by_ref[u] for u in r.property_dependencies.get("listenerArn", [])
                        if u in self.listener_by_ref]
                node = deps[0] if len(deps) == 1 else None
            if node is None:
                self.unresolved.append((r.urn, "listenerArn names a listener that cannot be resolved"))
                continue
            node.rules.append(r)
            self.forward_of(r, "actions", r.props.get("actions") or [], node, r)

    def _rule_views(self, node: ListenerNode) -> tuple[list[dict], dict[str, float]] | None:
        """The listener's rules as the traffic model reads them, and their declared shares;
        None when a rule's priority or conditions are not known."""
        rules, declared = [], {}
        for r in node.rules:
            try:
                conditions = [shapes.condition_to_api(c) for c in listed(r.props.get("conditions"))]
            except (ValueError, KeyError, TypeError, AttributeError):
                conditions = None
            priority = _float(r.props.get("priority"))
            if conditions is None or priority is None or not _known(r.props.get("conditions")):
                self.unresolved.append((r.urn, "its priority or conditions are not known, so no rule's share of "
                                               f"listener {node.name} can be computed"))
                return None
            rid = f"{node.name}/{r.name}"
            rules.append({"id": rid, "priority": int(priority), "conditions": conditions})
            fraction = _float(_tags(r.props).get(TAG_FRACTION))
            if fraction is not None:
                declared[rid] = fraction
        return rules, declared

    def reach(self) -> None:
        """Every rule's share of its listener, whatever its action, from the profile or facts."""
        served = served_names(self.resources, self.listener_by_ref)
        by_id = {f.id: f for f in self.forwards}
        for node in self.listeners.values():
            views = self._rule_views(node)
            if views is None:
                continue
            rules, declared = views
            if self.profile is not None:
                chosen = self.profile.for_port(node.port)
                reach = traffic.listener_reach(rules, [(c.request, w) for c, w in chosen], declared,
                                               class_names=[c.name for c, _ in chosen])
            else:
                reach = traffic.listener_reach(rules, None, declared, hosts=served.get(node.urn))
            node.reach = {(f"{node.name}/default" if k == traffic.DEFAULT else k): v for k, v in reach.items()}
            for key, value in node.reach.items():
                fwd = by_id.get(key)
                if fwd is not None:
                    fwd.reach = value
                    fwd.traffic_fraction = value.share


def asg_load_balancer_wiring(resources: Iterable[Res]) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """Auto Scaling group URN -> how it is wired to a load balancer (``targetGroupArns``,
    ``loadBalancers``, ``trafficSources``, or the ``Attachment`` / ``TrafficSourceAttachment``
    resources naming it), and (urn, why) for attachments whose group cannot be told. Every way
    pulumi_aws offers counts: an ``aws.autoscaling.Attachment`` serves a load balancer as much as
    ``targetGroupArns`` does."""
    resources = list(resources)
    groups = [r for r in resources if r.type == ASG_TYPE]
    by_name = {r.props["name"]: r for r in groups if _known(r.props.get("name"))}
    by_urn = {r.urn: r for r in groups}
    wiring: dict[str, list[str]] = {r.urn: [p for p in ("targetGroupArns", "loadBalancers", "trafficSources")
                                            if r.props.get(p)] for r in groups}
    unresolved = []
    for r in resources:
        if r.type not in (ASG_ATTACHMENT_TYPE, ASG_TRAFFIC_SOURCE_ATTACHMENT_TYPE):
            continue
        name = r.props.get("autoscalingGroupName")
        group = by_name.get(name) if _known(name) else None
        if group is None:
            deps = [by_urn[u] for u in r.property_dependencies.get("autoscalingGroupName", []) if u in by_urn]
            group = deps[0] if len(deps) == 1 else None
        if group is None:
            if not _known(name):  # a known name of no group here: a group outside this stack
                unresolved.append((r.urn, "autoscalingGroupName names a group that cannot be resolved"))
            continue
        wiring[group.urn].append(f"{r.type.rsplit(':', 1)[1]} {r.name}")
    return wiring, unresolved


def served_names(resources: Iterable[Res], listener_by_ref: Mapping[str, ListenerNode]) -> dict[str, list[str]]:
    """Listener URN -> every name its certificates serve (domain names and SANs, wildcards as
    written), for HTTPS listeners whose certificates are all ``aws.acm.Certificate`` resources of
    this program, named by ARN, through a ``CertificateValidation``, or by property dependency;
    its own ``certificateArn`` and every ``ListenerCertificate`` count. A listener with any
    certificate whose names cannot be told is left out (its names are not known)."""
    resources = list(resources)
    names_by_ref: dict[str, list[str]] = {}
    for r in resources:
        if r.type != CERTIFICATE_TYPE:
            continue
        names = [r.props.get("domainName"), *(r.props.get("subjectAlternativeNames") or [])]
        if not names[0] or not all(_known(n) for n in names):
            continue
        for ref in (r.props.get("arn"), r.props.get("id"), r.urn):
            if _known(ref):
                names_by_ref[ref] = sorted(set(names))

    def resolve(res: Res, prop: str) -> list[str] | None:
        value = res.props.get(prop)
        if _known(value) and value in names_by_ref:
            return names_by_ref[value]
        found = [names_by_ref[u] for u in res.property_dependencies.get(prop, []) if u in names_by_ref]
        return found[0] if len(found) == 1 else None

    for r in resources:
        if r.type == CERTIFICATE_VALIDATION_TYPE:
            names = resolve(r, "certificateArn")
            if names is not None:
                names_by_ref[r.urn] = names
    certs: dict[str, list[list[str] | None]] = {}
    for r in resources:
        if r.type in LISTENER_TYPES and str(r.props.get("protocol") or "").upper() == "HTTPS":
            certs.setdefault(r.urn, []).append(resolve(r, "certificateArn"))
        elif r.type in LISTENER_CERTIFICATE_TYPES:
            ref = r.props.get("listenerArn")
            node = listener_by_ref.get(ref) if _known(ref) else None
            if node is None:
                deps = [listener_by_ref[u] for u in r.property_dependencies.get("listenerArn", []) if u in listener_by_ref]
                node = deps[0] if len(deps) == 1 else None
            if node is not None:
                certs.setdefault(node.urn, []).append(resolve(r, "certificateArn"))
    return {urn: sorted({n for names in found for n in names}) for urn, found in certs.items()
            if found and all(names is not None for names in found)}


def from_run(run, *, use_outputs: bool = True, **kw) -> Topology:
    """Topology of a :class:`lbguard.core.model.ProgramRun` (outputs; inputs where empty)."""
    kw.setdefault("profile", (run.outputs or {}).get(PROFILE_OUTPUT))
    return build(
        (Res(r.urn, r.type, r.name, (r.outputs or r.inputs) if use_outputs else r.inputs, r.property_dependencies)
         for r in run.resources if r.custom),
        **kw,
    )


def from_preflight(doc: Mapping[str, Any], **kw) -> Topology:
    """Topology of a preflight JSON document (resources carry their inputs)."""
    def props(r: Mapping[str, Any]) -> dict:
        extra = {k: r[k] for k in ("arn", "id") if r.get(k)}
        return {**(r.get("inputs") or {}), **extra}

    kw.setdefault("profile", (doc.get("outputs") or {}).get(PROFILE_OUTPUT))
    return build((Res(r["urn"], r["type"], r["name"], props(r), r.get("propertyDependencies") or {})
                  for r in doc.get("resources", [])), **kw)
