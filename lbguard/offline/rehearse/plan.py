"""The data plane to rehearse, read from the same topology preflight builds.

``build_plan`` turns a :class:`lbguard.core.model.ProgramRun` (the program run in the
emulator) into listeners with their rules in ALB evaluation order, target groups with
their health checks and stickiness, and the instances behind each target group (the
Auto Scaling minimum, spread over the pool's AZs as the ASG spreads them), each with the
pool's ``capacityRps`` times ``scale`` as its limit. Linking comes from
:mod:`lbguard.core.topology`; rule order and terminal actions from the helpers ``lbguard
route`` uses, so the rehearsal and ``route`` read a rule the same way.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from lbguard.core import shapes, topology
from lbguard.offline.route import rule_view as _rule_view, terminal_action as _terminal
from lbguard.core.model import LbguardError

# Instance sizing. A worker's service time targets ~25 ms (a typical small API call), so
# an instance of capacity C runs round(C * 0.025) workers; the queue holds 0.5 s of work:
# past capacity, latency grows towards ~0.5 s, then requests overflow into 503s.
TARGET_SERVICE_S = 0.025
QUEUE_S = 0.5


@dataclass
class Instance:
    name: str
    pool: str
    az: str
    capacity_rps: float
    workers: int
    queue: int

    @property
    def service_ms(self) -> float:
        return 1000.0 * self.workers / self.capacity_rps


@dataclass
class HealthCheck:
    path: str = "/"
    interval_s: float = 30.0
    timeout_s: float = 5.0
    healthy: int = 5
    unhealthy: int = 2
    matcher: str = "200"


@dataclass
class TargetGroup:
    id: str
    pool: str  # label: the pool key
    algorithm: str
    health: HealthCheck
    stickiness_s: int  # lb_cookie duration; 0 = off
    instances: list[Instance] = field(default_factory=list)
    capacity_rps: float | None = None  # per instance, unscaled


@dataclass
class Rule:
    name: str
    priority: int
    conditions: list[dict]  # ELBv2 API shape
    action: dict  # terminal action, ELBv2 API shape


@dataclass
class Listener:
    name: str
    port: int
    protocol: str
    rules: list[Rule]  # in the order ALB evaluates them (lbguard.core.matching.first_match)
    default_action: dict
    urn: str = ""
    rule_views: list[dict] = field(default_factory=list)  # as lbguard.core.matching reads them


@dataclass
class Plan:
    stack: str
    scale: float
    peak_rps: float
    listeners: list[Listener]
    target_groups: dict[str, TargetGroup]
    topology: Any = None
    scenario_kind: str = "all-healthy"  # set by lbguard.offline.rehearse.predict.scenario_for

    def primary(self) -> Listener:
        """The listener the load goes to: the first (by port) whose default action forwards."""
        fwd = [l for l in self.listeners if l.default_action.get("Type") == "forward"]
        chosen = fwd or sorted(self.listeners, key=lambda l: -len(l.rules))
        if not chosen:
            raise LbguardError(f"stack {self.stack}: no listener to rehearse")
        return chosen[0]

    def instances(self) -> list[Instance]:
        return [i for tg in self.target_groups.values() for i in tg.instances]


def size_instance(capacity_rps: float) -> tuple[int, int]:
    """(workers, queue) for an instance serving ``capacity_rps`` (see TARGET_SERVICE_S)."""
    workers = max(1, round(capacity_rps * TARGET_SERVICE_S))
    return workers, max(workers, math.ceil(capacity_rps * QUEUE_S))


def _health(props: dict) -> HealthCheck:
    hc = props.get("healthCheck") or {}
    # ELBv2 defaults for an HTTP target group when a field is absent.
    return HealthCheck(path=hc.get("path") or "/", interval_s=float(hc.get("interval") or 30),
                       timeout_s=float(hc.get("timeout") or 5), healthy=int(hc.get("healthyThreshold") or 5),
                       unhealthy=int(hc.get("unhealthyThreshold") or 2), matcher=str(hc.get("matcher") or "200"))


def _target_group(node: topology.TargetGroupNode, props: dict, scale: float, stack: str) -> TargetGroup:
    st = props.get("stickiness") or {}
    tg = TargetGroup(id=node.id, pool=node.label, algorithm=props.get("loadBalancingAlgorithmType") or "round_robin",
                     health=_health(props),
                     stickiness_s=int(st.get("cookieDuration") or 86400) if st.get("enabled") else 0,
                     capacity_rps=node.rps_per_instance)
    if node.instances and node.rps_per_instance is None:
        raise LbguardError(f"stack {stack}: pool {node.label} has no capacity (lbguard:rps-per-instance tag "
                           f"or capacityRps): the rehearsal cannot size its instances")
    azs = sorted(node.azs) or ["az-1"]
    for i in range(node.instances):
        cap = node.rps_per_instance * scale
        workers, queue = size_instance(cap)
        az = azs[i % len(azs)]  # an ASG balances its instances over its AZs
        tg.instances.append(Instance(name=f"{_safe(node.label)}-{i}", pool=node.label, az=az, capacity_rps=cap,
                                     workers=workers, queue=queue))
    return tg


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _listener(node: topology.ListenerNode) -> Listener:
    views = [_rule_view(r) for r in node.rules]
    ordered = sorted(views, key=lambda r: int(r["priority"]))  # the order matching.first_match uses
    rules = []
    for v in ordered:
        term = _terminal(v["actions"])
        if not term:
            raise LbguardError(f"rule {v['name']}: has no action")
        rules.append(Rule(name=v["name"], priority=v["priority"], conditions=v["conditions"],
                          action=shapes.action_to_api(term)))
    default = _terminal([shapes.action_from_api(a) for a in node.default_actions])
    if not default:
        raise LbguardError(f"listener {node.name}: has no default action")
    return Listener(name=node.name, port=int(node.port or 0), protocol=node.protocol or "HTTP", rules=rules,
                    default_action=shapes.action_to_api(default), urn=node.urn, rule_views=views)


def build_plan(run, stack: str, scale: float, peak_rps: float | None = None) -> Plan:
    topo = topology.from_run(run)
    if topo.unresolved:
        urn, why = topo.unresolved[0]
        raise LbguardError(f"stack {stack}: {urn.rsplit('::', 1)[-1]}: {why}")
    props = {r.urn: (r.outputs or r.inputs) for r in run.resources if r.custom}
    tgs = {k: _target_group(n, props.get(n.urn, {}), scale, stack) for k, n in topo.target_groups.items()}
    listeners = sorted((_listener(n) for n in topo.listeners.values()), key=lambda l: (l.port, l.name))
    peak = peak_rps or topo.peak_rps
    if not peak:
        raise LbguardError(f"stack {stack}: no peak requests/s (web-tier:peakRequestsPerSecond or the "
                           f"lbguard:peak-rps tag): the rehearsal cannot size the load")
    return Plan(stack=stack, scale=scale, peak_rps=float(peak), listeners=listeners, target_groups=tgs, topology=topo)
