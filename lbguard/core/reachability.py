"""Can a load balancer reach the port its target groups health-check? Security groups, read from
the program's resources (pure: no AWS).

A health check the security groups drop marks every target unhealthy: the load balancer then
fails open (lbguard.core.traffic), sending requests to targets it believes dead. The check needs
two permissions: egress from one of the load balancer's groups and ingress into one of the
targets' groups, each on the health-check port (TCP), from/to the other group or a CIDR block
that holds the other side's subnets. Rules come from every place pulumi_aws lets a program write
them: ``aws.ec2.SecurityGroup`` inline ``ingress``/``egress``, ``aws.ec2.SecurityGroupRule``,
``aws.vpc.SecurityGroupIngressRule`` and ``aws.vpc.SecurityGroupEgressRule``. The Terraform AWS
provider removes the allow-all egress AWS adds to a new group (aws_security_group docs:
"Terraform will remove this default rule"), so egress is never assumed.

Whatever cannot be told (a group outside the program, an unknown id during a preview) is
returned as a note, never as a finding.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Iterable

from lbguard.core import topology
from lbguard.core.topology import Res, _known

SG = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LAUNCH_CONFIGURATION = "aws:ec2/launchConfiguration:LaunchConfiguration"


@dataclass(frozen=True)
class Gap:
    target_group_urn: str
    target_group: str
    port: int
    direction: str  # "ingress" (into the targets' groups) or "egress" (out of the load balancer's)
    load_balancer_groups: tuple[str, ...]
    target_groups_sg: tuple[str, ...]


@dataclass(frozen=True)
class _Rule:
    direction: str
    groups: frozenset[str]  # the group the rule belongs to (urn and id)
    peers: frozenset[str]  # the other side's groups (urn and id)
    cidrs: tuple[str, ...]
    ports: tuple[int, int]
    self_: bool = False


def _ports(protocol: Any, lo: Any, hi: Any) -> tuple[int, int] | None:
    proto = str(protocol if protocol is not None else "").lower()
    if proto in ("-1", "all"):
        return 0, 65535
    if proto not in ("tcp", "6"):
        return None
    try:
        return int(float(lo)), int(float(hi))
    except (TypeError, ValueError):
        return None


def _refs(res: Res, prop: str, value: Any = None) -> set[str]:
    value = res.props.get(prop) if value is None else value
    values = value if isinstance(value, list) else [value]
    return {v for v in values if isinstance(v, str) and _known(v)} | set(res.property_dependencies.get(prop, []))


def _rules(resources: list[Res], ids: dict[str, frozenset[str]]) -> list[_Rule]:
    def group(refs: set[str]) -> frozenset[str]:
        return frozenset(refs.union(*(ids.get(r, frozenset()) for r in refs)))

    out = []
    for r in resources:
        p = r.props
        if r.type == SG:
            own = ids[r.urn]
            for direction in ("ingress", "egress"):
                for rule in p.get(direction) or []:
                    if not isinstance(rule, dict):
                        continue
                    ports = _ports(rule.get("protocol"), rule.get("fromPort"), rule.get("toPort"))
                    if ports:
                        out.append(_Rule(direction, own, group(set(rule.get("securityGroups") or []) - {None}),
                                         tuple(rule.get("cidrBlocks") or []), ports, bool(rule.get("self"))))
        elif r.type == SG_RULE and p.get("type") in ("ingress", "egress"):
            ports = _ports(p.get("protocol"), p.get("fromPort"), p.get("toPort"))
            if ports:
                out.append(_Rule(p["type"], group(_refs(r, "securityGroupId")), group(_refs(r, "sourceSecurityGroupId")),
                                 tuple(p.get("cidrBlocks") or []), ports, bool(p.get("self"))))
        elif r.type in (SG_INGRESS, SG_EGRESS):
            ports = _ports(p.get("ipProtocol"), p.get("fromPort", 0), p.get("toPort", 65535))
            if ports:
                out.append(_Rule("ingress" if r.type == SG_INGRESS else "egress", group(_refs(r, "securityGroupId")),
                                 group(_refs(r, "referencedSecurityGroupId")),
                                 tuple(c for c in [p.get("cidrIpv4")] if c), ports))
    return out


def _covers(cidrs: Iterable[str], subnets: list[str] | None) -> bool:
    """A CIDR block of the rule holds every one of ``subnets`` (0.0.0.0/0 holds anything)."""
    for c in cidrs:
        try:
            net = ipaddress.ip_network(c, strict=False)
        except ValueError:
            continue
        if net.prefixlen == 0:
            return True
        if subnets and all(ipaddress.ip_network(s, strict=False).subnet_of(net) for s in subnets
                           if ipaddress.ip_network(s, strict=False).version == net.version):
            return True
    return False


class _Network:
    """The program's security groups, their rules and subnets, and lookups over its resources."""

    def __init__(self, resources: list[Res]):
        self.resources = resources
        self.by_urn = {r.urn: r for r in resources}
        self.ids: dict[str, frozenset[str]] = {}
        for r in resources:
            if r.type == SG:
                self.ids[r.urn] = frozenset({r.urn} | ({r.props["id"]} if _known(r.props.get("id")) else set()))
        self.known_groups = set().union(*self.ids.values()) if self.ids else set()
        self.rules = _rules(resources, self.ids)
        self.cidr_of = {ref: r.props.get("cidrBlock") for r in resources if r.type == topology.SUBNET_TYPE
                        for ref in (r.urn, r.props.get("id")) if _known(ref) and _known(r.props.get("cidrBlock"))}

    def expand(self, refs: set[str]) -> set[str]:
        return set(refs).union(*(self.ids.get(x, frozenset()) for x in refs))

    def lookup(self, refs: set[str], types: tuple[str, ...]) -> Res | None:
        for r in self.resources:
            if r.type in types and (r.urn in refs or any(_known(r.props.get(k)) and r.props.get(k) in refs
                                                         for k in ("id", "name", "arn"))):
                return r
        return None

    def _asg_groups(self, asg: Res) -> tuple[set[str], set[str]] | None:
        subnets = [self.cidr_of.get(s) for s in _refs(asg, "vpcZoneIdentifiers")]
        lt_spec = asg.props.get("launchTemplate") or {}
        refs = _refs(asg, "launchTemplate") | {v for k, v in (lt_spec.items() if isinstance(lt_spec, dict) else [])
                                               if k in ("id", "name") and _known(v)}
        template = self.lookup(refs, (LAUNCH_TEMPLATE,)) if refs else None
        if template is None and asg.props.get("launchConfiguration"):
            template = self.lookup(_refs(asg, "launchConfiguration"), (LAUNCH_CONFIGURATION,))
        if template is None:
            return None
        groups = _refs(template, "vpcSecurityGroupIds") | _refs(template, "securityGroups")
        for ni in template.props.get("networkInterfaces") or []:
            if isinstance(ni, dict):
                groups |= {g for g in ni.get("securityGroups") or [] if _known(g)}
        return groups, {s for s in subnets if s}

    def instance_groups(self, source: Res) -> tuple[set[str], set[str]] | None:
        """(security groups, subnet CIDRs) of the instances ``source`` puts behind a target group."""
        if source.type == topology.ASG_ATTACHMENT_TYPE:
            name = source.props.get("autoscalingGroupName")
            source = self.lookup(_refs(source, "autoscalingGroupName") | ({name} if _known(name) else set()),
                                 (topology.ASG_TYPE,))
            if source is None:
                return None
        if source.type == topology.ASG_TYPE:
            return self._asg_groups(source)
        if source.type in topology.TG_ATTACHMENT_TYPES:
            instance = self.lookup(_refs(source, "targetId"), (topology.INSTANCE_TYPE,))
            if instance is None:
                return None
            subnet = self.cidr_of.get(instance.props.get("subnetId"))
            return (_refs(instance, "vpcSecurityGroupIds") | _refs(instance, "securityGroups"),
                    {subnet} if subnet else set())
        return None

    def load_balancer_side(self, listeners: set[str]) -> tuple[set[str], set[str]] | None:
        """(security groups, subnet CIDRs) of the load balancers of ``listeners``; None when one
        cannot be told."""
        groups: set[str] = set()
        subnets: set[str] = set()
        for listener_urn in listeners:
            listener = self.by_urn.get(listener_urn)
            lb = self.lookup(_refs(listener, "loadBalancerArn"), topology.LB_TYPES) if listener is not None else None
            if lb is None:
                return None
            groups |= _refs(lb, "securityGroups")
            subnets |= {self.cidr_of[s] for s in _refs(lb, "subnets") if s in self.cidr_of}
        return groups, subnets

    def reaches(self, direction: str, own: set[str], peer: set[str], peer_subnets: list[str], port: int) -> bool:
        return any(rule.direction == direction and rule.groups & own and rule.ports[0] <= port <= rule.ports[1]
                   and (rule.peers & peer or (rule.self_ and own & peer) or _covers(rule.cidrs, peer_subnets))
                   for rule in self.rules)


def _health_check_port(tg: Res) -> Any:
    """The port the health check probes (``traffic-port``: the group's own), or None when off."""
    hc = tg.props.get("healthCheck") or {}
    if hc.get("enabled") is False:
        return None
    port_value = hc.get("port") or "traffic-port"
    return tg.props.get("port") if port_value == "traffic-port" else port_value


def health_check_gaps(resources: Iterable[Res], topo: topology.Topology) -> tuple[list[Gap], list[str]]:
    """(gaps, notes): each target group whose health-check port the load balancer's security
    groups cannot reach on its instances, and what could not be evaluated."""
    net = _Network([r for r in resources if r.type != topology.STACK_TYPE])
    gaps, notes = [], []
    for tg_id, node in topo.target_groups.items():
        tg = net.by_urn.get(node.urn)
        if tg is None or tg.props.get("targetType") not in (None, "instance"):
            continue
        port_value = _health_check_port(tg)
        if port_value is None:
            continue
        if not _known(port_value):
            notes.append(f"{tg.name}: its health-check port is unknown")
            continue
        listeners = {f.listener_urn for f in topo.forwards if tg_id in f.weights}
        if not listeners:
            continue  # no load balancer of this program forwards to it
        lb_side = net.load_balancer_side(listeners)
        if lb_side is None:
            notes.append(f"{tg.name}: the load balancer in front of it cannot be told")
            continue
        gaps += _gaps_of(net, tg, node, int(float(port_value)), *lb_side, notes)
    return list(dict.fromkeys(gaps)), notes


def _gaps_of(net: _Network, tg: Res, node: topology.TargetGroupNode, port: int, lb_groups: set[str],
             lb_subnets: set[str], notes: list[str]) -> list[Gap]:
    """The gaps between the load balancer's groups and the instances of each capacity source."""
    gaps = []
    for source_urn in node.capacity_sources:
        source = net.by_urn.get(source_urn)
        found = net.instance_groups(source) if source is not None else None
        if found is None:
            notes.append(f"{tg.name}: the security groups of the instances behind it cannot be told")
            continue
        target_groups, target_subnets = found
        if not lb_groups or not target_groups:
            continue  # the VPC's default group on a side: it admits its own members
        lb_set, target_set = net.expand(lb_groups), net.expand(target_groups)
        outside = [g for g in lb_groups | target_groups if g not in net.known_groups and g not in net.ids]
        if outside:
            notes.append(f"{tg.name}: security group(s) {', '.join(sorted(outside))} are not in this program, so "
                         f"their rules cannot be read")
            continue
        for direction, own, peer, peer_subnets in (("ingress", target_set, lb_set, sorted(lb_subnets)),
                                                   ("egress", lb_set, target_set, sorted(target_subnets))):
            if not net.reaches(direction, own, peer, peer_subnets, port):
                gaps.append(Gap(tg.urn, tg.name, port, direction, tuple(sorted(lb_groups)),
                                tuple(sorted(target_groups))))
                break
    return gaps
