"""The traffic during an apply: walk the applied steps one by one, keep the live routing
picture (which target groups each listener and rule forwards to, what is registered in each
and whether it is healthy yet) and report every window in which a share of a listener's
requests has no healthy target or no listener at all.

What decides a window (AWS Elastic Load Balancing, Application Load Balancers guide, "Health
checks for your target groups" and "Target group health"): a newly registered target is
``initial`` until it passes a health check (one interval, when the check passes); a target
group with no registered target answers 503; fail-open (all registered targets unhealthy:
requests go to all of them) covers only registered targets that are all unhealthy, not an
empty group nor ``initial`` ones. The provider's waits (terraform-provider-aws,
internal/service/autoscaling/group.go, read at commit 00a919d1548e): ``resourceGroupUpdate``
detaches removed target groups before attaching added ones and waits only until none is
``Adding`` (``waitLoadBalancerTargetGroupsAdded``), not until targets are healthy; it waits for
capacity only when min/desired size change (``shouldWaitForCapacity``); ``resourceGroupCreate``
waits for ``wait_for_elb_capacity``/``min_elb_capacity`` healthy targets when set. A listener
rule does not depend on the Auto Scaling group, so the engine may move traffic before, while
or after the targets register.

Shares come from the one traffic model: lbguard.core.topology (reach of each rule and the
default action) and lbguard.core.traffic (weights). Lengths are estimates from the durations
below, stated as such in the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from lbguard.core import topology, traffic

ASG_TYPE = topology.ASG_TYPE
# Estimated durations (seconds): an ordinary API step, a load balancer becoming active (the
# provider waits for it: elbv2 load_balancer.go waitLoadBalancerActive; typically minutes), an
# instance launched and booted before its first health check.
API_SECONDS = 2.0
LOAD_BALANCER_SECONDS = 180.0
LAUNCH_SECONDS = 60.0


@dataclass
class Window:
    listener: str
    share: float
    seconds: float
    cause: str
    fix: str
    target: str = ""
    accepted: bool = False  # the settings accept it (an explicit downtime acknowledgement)

    def to_json(self) -> dict[str, Any]:
        return {"listener": self.listener, "share": round(self.share, 4), "seconds": round(self.seconds, 1),
                "cause": self.cause, "fix": self.fix, "target": self.target, "accepted": self.accepted}


@dataclass
class Event:
    """One applied step: ``kind`` create | update | delete, the resource's properties after
    (outputs) and before, and the resources it waits for in this deployment."""

    kind: str
    urn: str
    type: str
    name: str
    after: Mapping[str, Any] | None
    before: Mapping[str, Any] | None = None
    waits_for: frozenset = frozenset()
    label: str = ""


@dataclass
class _Group:
    registered: int = 0
    initial: int = 0  # registered, not yet passed a health check
    interval: float = 30.0  # health-check interval (the provider's default)
    registered_by: str = ""  # the step that registered the targets still initial


def _tg_interval(props: Mapping) -> float:
    hc = props.get("healthCheck") or {}
    try:
        return float(hc.get("interval") or 30)
    except (TypeError, ValueError):
        return 30.0


def _desired(props: Mapping) -> int:
    for key in ("desiredCapacity", "minSize"):
        try:
            if props.get(key) is not None:
                return int(props[key])
        except (TypeError, ValueError):
            pass
    return 0


def _waits_healthy(props: Mapping) -> bool:
    for key in ("waitForElbCapacity", "minElbCapacity"):
        try:
            if int(props.get(key) or 0) > 0:
                return True
        except (TypeError, ValueError):
            pass
    return False


class Picture:
    """The live routing and target state during the apply."""

    def __init__(self, resources: Iterable[tuple[str, str, str, Mapping]], profile: Any = None):
        self.profile = profile
        self.res: dict[tuple, topology.Res] = {}
        self.groups: dict[str, _Group] = {}
        for urn, type_token, name, props in resources:
            self.res[_key(urn, props)] = topology.Res(urn, type_token, name, dict(props or {}))
        for r in self.res.values():
            if r.type in topology.TG_TYPES and r.props.get("arn"):
                self.groups[r.props["arn"]] = _Group(interval=_tg_interval(r.props))
        for r in self.res.values():
            if r.type == ASG_TYPE:
                for arn in r.props.get("targetGroupArns") or []:
                    self.groups.setdefault(arn, _Group()).registered += _desired(r.props)

    def apply(self, e: Event, healthy_after: bool) -> None:
        before = self.res.get(_key(e.urn, e.before)) if e.before is not None else None
        if e.type in topology.TG_TYPES:
            if e.kind == "delete":
                self.groups.pop((e.before or {}).get("arn"), None)
            elif e.after and e.after.get("arn"):
                g = self.groups.setdefault(e.after["arn"], _Group())
                g.interval = _tg_interval(e.after)
        if e.type == ASG_TYPE:
            old = set((before.props if before else e.before or {}).get("targetGroupArns") or []) if e.kind != "create" else set()
            new = set((e.after or {}).get("targetGroupArns") or []) if e.kind != "delete" else set()
            n_old = _desired(before.props if before else e.before or {})
            n_new = _desired(e.after or {})
            for arn in old - new:
                g = self.groups.get(arn)
                if g:
                    g.registered = max(0, g.registered - n_old)
                    g.initial = min(g.initial, g.registered)
            for arn in new - old:
                g = self.groups.setdefault(arn, _Group())
                g.registered += n_new
                if not healthy_after:
                    g.initial += n_new
                    g.registered_by = e.urn
        if e.kind == "delete":
            self.res.pop(_key(e.urn, e.before), None)
            if e.type in topology.LB_TYPES:
                arn = (e.before or {}).get("arn")
                for u in [u for u, r in self.res.items() if r.type in topology.LISTENER_TYPES
                          and r.props.get("loadBalancerArn") == arn]:
                    self.res.pop(u)
        elif e.after is not None:
            if e.kind == "update":
                self.res.pop(_key(e.urn, e.before), None)
            self.res[_key(e.urn, e.after)] = topology.Res(e.urn, e.type, e.name, dict(e.after))

    def healthy_now(self) -> None:
        for g in self.groups.values():
            g.initial = 0
            g.registered_by = ""

    def shares(self) -> dict[tuple[str, str], float]:
        """(listener label, target-group ARN) -> share of that listener's requests."""
        relevant = [r for r in self.res.values() if r.type in
                    topology.LB_TYPES + topology.TG_TYPES + topology.LISTENER_TYPES + topology.RULE_TYPES]
        topo = topology.build(relevant, profile=self.profile)
        out: dict[tuple[str, str], float] = {}
        for f in topo.forwards:
            listener = topo.listeners.get(f.listener_urn)
            label = listener_label(listener.name if listener else f.listener_urn, listener.port if listener else None)
            for tg, share in traffic.shares(f.weights).items() if f.weights and sum(f.weights.values()) > 0 else []:
                # a rule whose reach is unknown counts at its upper bound: the sum is capped at the listener
                out[(label, tg)] = min(1.0, out.get((label, tg), 0.0) + f.traffic_fraction * share)
        return out

    def listeners(self) -> dict[str, str]:
        """listener label -> URN of the listeners alive."""
        return {listener_label(r.name, r.props.get("port")): r.urn for r in self.res.values()
                if r.type in topology.LISTENER_TYPES}


def _key(urn: str, props: Mapping | None) -> tuple:
    """A resource in the picture: its URN and its ARN (or id), so a replacement created before
    the old one is deleted stands beside it."""
    props = props or {}
    return urn, props.get("arn") or props.get("id") or ""


def listener_label(name: str, port: Any) -> str:
    return f"{name}:{port}" if port is not None else name


def walk(base: Iterable[tuple[str, str, str, Mapping]], events: Sequence[Event], *,
         tg_labels: Mapping[str, str] | None = None, profile: Any = None) -> list[Window]:
    """Every window of the apply ``events`` starting from ``base`` (urn, type, name, outputs).
    ``profile``: the stack's traffic profile (lbguard.core.profile), for the rules' reach."""
    labels = dict(tg_labels or {})
    pic = Picture(base, profile)
    start_listeners = pic.listeners()
    windows: dict[tuple, Window] = {}

    def add(key: tuple, w: Window) -> None:
        if key not in windows or windows[key].seconds < w.seconds or windows[key].share < w.share:
            windows[key] = w

    durations = [_duration(e) for e in events]
    for n, e in enumerate(events):
        healthy_after = e.type == ASG_TYPE and e.kind == "create" and _waits_healthy(e.after or {})
        pic.apply(e, healthy_after)
        later = events[n + 1:]
        for (listener, tg), share in pic.shares().items():
            g = pic.groups.get(tg)
            name = labels.get(tg, tg.rsplit("/", 2)[-2] if "/" in tg else tg)
            if g is None or g.registered == 0:
                cleared = _until(later, durations[n + 1:], lambda x: x.type == ASG_TYPE and tg in
                                 ((x.after or {}).get("targetGroupArns") or []) and x.kind != "delete")
                moved = _until(later, durations[n + 1:], lambda x: x.type in topology.LISTENER_TYPES + topology.RULE_TYPES)
                seconds = min(cleared + pic.groups.get(tg, _Group()).interval if cleared is not None else float("inf"),
                              moved if moved is not None else float("inf"))
                if seconds == float("inf"):
                    seconds = sum(durations[n:])
                add((listener, tg, "empty"), Window(listener, share, seconds, f"{e.name}: {name} has no registered "
                    "target (503)", _fix_empty(e), name))
            elif g.initial and g.initial == g.registered:
                add((listener, tg, "initial"), Window(listener, share, g.interval, f"{e.name}: the targets of {name} "
                    f"are registered but not yet healthy (one health check, ~{g.interval:g} s)", _fix_initial(), name))
        # the engine may run a forward's step before the step that registers its targets
        if e.type in topology.LISTENER_TYPES + topology.RULE_TYPES and e.kind != "delete":
            for tg in _forwarded(e.after or {}) - _forwarded(e.before or {}):
                reg = next((x for x in events[:n] if x.type == ASG_TYPE and tg in ((x.after or {}).get("targetGroupArns")
                                                                                  or [])), None)
                if reg is None or reg.urn in e.waits_for:
                    continue
                name = labels.get(tg, tg)
                share = sum(s for (l, t), s in pic.shares().items() if t == tg)
                g = pic.groups.get(tg, _Group())
                waits = _waits_healthy(reg.after or {}) and reg.kind == "create"
                seconds = (LAUNCH_SECONDS if reg.kind == "create" else API_SECONDS) + g.interval
                add(("race", e.urn, tg), Window(
                    _listener_of(pic, e), share, seconds,
                    f"{e.name} may forward to {name} before {reg.name} has registered healthy targets there "
                    "(no dependency between the two steps: the engine runs them in parallel)",
                    f"make {e.name} depend on {reg.name} (depends_on)" + ("" if waits else
                    " and set wait_for_elb_capacity on it, so the step ends when its targets are healthy"), name))
        # listeners gone
        alive = pic.listeners()
        for label, urn in start_listeners.items():
            if label not in alive:
                back = _until(later, durations[n + 1:], lambda x: x.type in topology.LISTENER_TYPES and x.kind == "create"
                              and listener_label(x.name, (x.after or {}).get("port")) == label)
                seconds = back if back is not None else sum(durations[n:])
                add((label, "gone"), Window(label, 1.0, seconds, f"{e.name}: the listener is deleted before its "
                    "replacement exists", "a load balancer replaced delete-first takes its listeners with it and "
                    "the new ones can forward only once the old load balancer is gone (a target group serves one "
                    "load balancer): accept the downtime explicitly for this deploy, or keep the change out", ""))
        if e.type == ASG_TYPE and e.kind == "create" and not healthy_after:
            pass
    return sorted(windows.values(), key=lambda w: (-w.share * w.seconds, w.listener, w.target))


def _listener_of(pic: Picture, e: Event) -> str:
    props = e.after or {}
    if e.type in topology.LISTENER_TYPES:
        return listener_label(e.name, props.get("port"))
    arn = props.get("listenerArn")
    for r in pic.res.values():
        if r.type in topology.LISTENER_TYPES and r.props.get("arn") == arn:
            return listener_label(r.name, r.props.get("port"))
    return e.name


def _forwarded(props: Mapping) -> set[str]:
    out = set()
    for action in (props.get("actions") or props.get("defaultActions") or []):
        fwd = (action or {}).get("forward") or {}
        for tg in fwd.get("targetGroups") or []:
            if tg.get("arn"):
                out.add(tg["arn"])
        if action.get("targetGroupArn"):
            out.add(action["targetGroupArn"])
    return out


def _until(events: Sequence[Event], durations: Sequence[float], cond) -> float | None:
    elapsed = 0.0
    for e, d in zip(events, durations):
        elapsed += d
        if cond(e):
            return elapsed
    return None


def _duration(e: Event) -> float:
    if e.type in topology.LB_TYPES and e.kind == "create":
        return LOAD_BALANCER_SECONDS
    if e.type == ASG_TYPE and e.kind == "create":
        return LAUNCH_SECONDS + (_tg_interval(e.after or {}) if _waits_healthy(e.after or {}) else 0.0)
    return API_SECONDS


def _fix_empty(e: Event) -> str:
    if e.type == ASG_TYPE:
        return ("the Auto Scaling group detaches the old target group before the routing moves off it "
                "(resourceGroupUpdate detaches first): add the new pool under a new key beside the old one, "
                "move the weights to it in a second deploy, remove the old pool in a third")
    return ("the routing forwards to a target group no instance is registered in: make the forwarding step depend "
            "on the pool's Auto Scaling group, or route to the pool in a later deploy")


def _fix_initial() -> str:
    return ("traffic moves before the new targets passed a health check: create the pool first (wait_for_elb_capacity "
            "on its Auto Scaling group) and move the weights to it in a second deploy")
