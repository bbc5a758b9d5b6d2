"""One name per thing: the stack's own keys, from the Pulumi names the components build.

A user writes ``performance`` under ``web-tier:routing.rules``; the components turn that key
into the Pulumi name ``web-routing-rule-performance``. Every command shows the key with its
kind (``rule performance``, ``pool api``, ``listener https``): a pool and a rule may share a
key (prod has both a pool ``api`` and a rule ``api``). JSON keeps the Pulumi name beside it.

The components build their names with the functions below and lbguard reads keys back
through patterns made from the same functions, so the two cannot drift apart. A name no
pattern matches (a program written without the components, or a resource that has no key)
is shown as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Mapping

KEY_RE = r"^[a-z][a-z0-9-]{0,19}$"  # a pool or rule key in the stack settings
TIER_TYPE = "web-tier:index:WebTier"  # the top component: its name is the prefix of every name below

LISTENER_TYPES = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
RULE_TYPES = ("aws:lb/listenerRule:ListenerRule", "aws:alb/listenerRule:ListenerRule")
LB_TYPES = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
TG_TYPES = ("aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup")
POOL_COMPONENT = "web-tier:pool:Pool"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SCALING_POLICY = "aws:autoscaling/policy:Policy"

# The children of a pool: part -> (the types it is made with, what it is called).
POOL_PARTS: dict[str, tuple[tuple[str, ...], str]] = {
    "tg": (TG_TYPES, ""),  # the target group is the pool as the load balancer sees it
    "asg": (("aws:autoscaling/group:Group",), "Auto Scaling group"),
    "lt": (("aws:ec2/launchTemplate:LaunchTemplate",), "launch template"),
    "instance-sg": (("aws:ec2/securityGroup:SecurityGroup",), "instance security group"),
    "from-alb": ((INGRESS,), "ingress from the load balancer"),
    "from-alb-hc": ((INGRESS,), "health-check ingress from the load balancer"),
    "alb-to-pool": ((EGRESS,), "load balancer egress to it"),
    "alb-to-pool-hc": ((EGRESS,), "load balancer health-check egress to it"),
    "https-out": ((EGRESS,), "HTTPS egress"),
    "cpu": ((SCALING_POLICY,), "CPU scaling policy"),
    "requests-per-target": ((SCALING_POLICY,), "requests-per-target scaling policy"),
}
LB_PARTS: dict[str, tuple[tuple[str, ...], str]] = {
    "alb": (LB_TYPES, ""),
    "sg": (("aws:ec2/securityGroup:SecurityGroup",), "security group"),
}


# ------------------------------------------------------------------ building (the components)


def routing(tier: str) -> str:
    """The Routing component inside the web tier named ``tier``."""
    return f"{tier}-routing"


def listener(routing_name: str, key: str) -> str:
    return f"{routing_name}-{key}"


def rule(routing_name: str, key: str) -> str:
    return f"{routing_name}-rule-{key}"


def pool(tier: str, key: str) -> str:
    """The Pool component of pool ``key``."""
    return f"{tier}-pool-{key}"


def load_balancer(tier: str) -> str:
    """The LoadBalancer component."""
    return f"{tier}-lb"


def part(component: str, name: str) -> str:
    """A child of a pool or load-balancer component (``POOL_PARTS``, ``LB_PARTS``)."""
    return f"{component}-{name}"


# ------------------------------------------------------------------ reading back


@dataclass(frozen=True)
class Name:
    """What a Pulumi name stands for. ``kind`` is "listener", "rule", "pool", "load balancer"
    or "" (a name that is not one of the components' keyed names)."""

    pulumi: str
    kind: str = ""
    key: str = ""
    part: str = ""  # what child of the thing it is ("Auto Scaling group"), "" for the thing itself

    @property
    def short(self) -> str:
        """The key alone (where a column or sentence already says the kind), else the Pulumi name."""
        return self.key or self.pulumi

    @property
    def label(self) -> str:
        """The key with its kind: ``rule api``, ``pool api (Auto Scaling group)``, ``load balancer``."""
        if not self.kind:
            return self.pulumi
        text = f"{self.kind} {self.key}" if self.key else self.kind
        return f"{text} ({self.part})" if self.part else text


_TIER, _KEY = "tierzzzzplaceholder", "keyzzzzplaceholder"


@lru_cache(maxsize=64)
def _patterns(tier: str | None) -> dict[str, re.Pattern]:
    """The names the functions above build, as patterns that read the key back (built with
    placeholders, so the two cannot disagree). With the tier's name (the WebTier component's)
    the prefix is exact; without, it is the shortest that fits."""
    def pattern(built: str) -> re.Pattern:
        prefix = re.escape(tier) if tier is not None else r"(?P<tier>.+?)"
        return re.compile(re.escape(built).replace(_TIER, prefix).replace(_KEY, f"(?P<key>{KEY_RE[1:-1]})"))

    out = {"listener": pattern(listener(routing(_TIER), _KEY)), "rule": pattern(rule(routing(_TIER), _KEY)),
           "pool": pattern(pool(_TIER, _KEY))}
    out.update({f"pool/{p}": pattern(part(pool(_TIER, _KEY), p)) for p in POOL_PARTS})
    out.update({f"lb/{p}": pattern(part(load_balancer(_TIER), p)) for p in LB_PARTS})
    return out


def of(type_: str, name: str, tier: str | None = None) -> Name:
    """What the resource of type ``type_`` named ``name`` stands for (``tier``: the name of the
    stack's WebTier component when known)."""
    pats = _patterns(tier)
    if type_ in RULE_TYPES and (m := pats["rule"].fullmatch(name)):
        return Name(name, "rule", m["key"])
    if type_ in LISTENER_TYPES and (m := pats["listener"].fullmatch(name)):
        return Name(name, "listener", m["key"])
    if type_ == POOL_COMPONENT and (m := pats["pool"].fullmatch(name)):
        return Name(name, "pool", m["key"])
    for p, (types, what) in POOL_PARTS.items():
        if type_ in types and (m := pats[f"pool/{p}"].fullmatch(name)):
            return Name(name, "pool", m["key"], what)
    for p, (types, what) in LB_PARTS.items():
        if type_ in types and pats[f"lb/{p}"].fullmatch(name):
            return Name(name, "load balancer", "", what)
    return Name(name)


def label(type_: str, name: str, tier: str | None = None) -> str:
    """``of(type_, name, tier).label``: what every command prints for a resource."""
    return of(type_, name, tier).label


def route_label(listener_key: str, rule_key: str | None) -> str:
    """A listener's default action or one of its rules: ``rule api``, ``default action of https``."""
    return f"rule {rule_key}" if rule_key else f"default action of {listener_key}"


class Renamer:
    """Rewrites free text (a policy's message, an AWS error) that quotes Pulumi names of the
    given resources into their labels: ``rule web-routing-rule-api (priority 10)`` ->
    ``rule api (priority 10)``; a route id ``web-routing-https/web-routing-rule-api`` (how the
    topology names a forward) -> ``rule api``, ``web-routing-https/default`` -> ``default action
    of https``. A kind word already in front of the name is not repeated."""

    _KIND_WORDS = {"rule": ("listener rule", "rule"), "listener": ("listener",),
                   "pool": ("target group", "pool"), "load balancer": ("load balancer",)}

    def __init__(self, resources: Iterable[tuple[str, str]]):
        resources = list(resources)
        tiers = {name for type_, name in resources if type_ == TIER_TYPE}
        self.tier = tiers.pop() if len(tiers) == 1 else None
        names: dict[str, Name] = {}
        for type_, name in resources:
            n = of(type_, name, self.tier)
            if n.kind and (n.part == "" or name not in names):
                names[name] = n
        self.names = names
        listeners = {k: n for k, n in names.items() if n.kind == "listener"}
        rules = {k: n for k, n in names.items() if n.kind == "rule"}
        subs: dict[str, tuple[str, str]] = {}  # text -> (label, kind)
        for lname, ln in listeners.items():
            subs[f"{lname}/default"] = (route_label(ln.key, None), "")
            subs[f"{lname}/all"] = (f"listener {ln.key}", "listener")
            for rname, rn in rules.items():
                subs[f"{lname}/{rname}"] = (route_label(ln.key, rn.key), "rule")
        for name, n in names.items():
            subs[name] = (n.label, n.kind if not n.part else "")
        self._subs = subs
        if subs:
            alternatives = "|".join(re.escape(s) for s in sorted(subs, key=len, reverse=True))
            words = "|".join(sorted({w for ws in self._KIND_WORDS.values() for w in ws}, key=len, reverse=True))
            self._re = re.compile(rf"(?:\b(?P<word>{words}) )?(?<![\w.-])(?P<name>{alternatives})(?![\w-])")
        else:
            self._re = None
        # A route id whose listener is not among the resources (only the violations' own were
        # given): "<listener>/<rule>" with a known rule, or "<listener>/default" when the
        # listener's name is one the components build.
        ends = ["default", "all"] + sorted((re.escape(k) for k in rules), key=len, reverse=True)
        self._route_re = re.compile(rf"(?<![\w.-])(?P<l>[a-z0-9][\w.-]*)/(?P<r>{'|'.join(ends)})(?![\w-])")

    def text(self, text: str) -> str:
        if not text:
            return text
        text = self._route_re.sub(self._route, text)
        if self._re is None:
            return text

        def sub(m: re.Match) -> str:
            new, kind = self._subs[m["name"]]
            word = m["word"]
            if word and kind and word in self._KIND_WORDS.get(kind, ()):
                return new
            return f"{word} {new}" if word else new

        return self._re.sub(sub, text)

    def _route(self, m: re.Match) -> str:
        if m.group(0) in self._subs:
            return m.group(0)  # both known: the name pass renames it
        lst = of(LISTENER_TYPES[0], m["l"], self.tier)
        rule_name = self.names.get(m["r"])
        if rule_name is not None and rule_name.kind == "rule":
            return route_label(lst.short, rule_name.key)
        if lst.kind != "listener":
            return m.group(0)
        return f"listener {lst.key}" if m["r"] == "all" else route_label(lst.key, None)

    def label(self, name: str, type_: str = "") -> str:
        n = self.names.get(name)
        if n is not None:
            return n.label
        return of(type_, name, self.tier).label if type_ else name

    def message(self, text: str, type_: str = "", name: str = "") -> str:
        """A policy's message about the resource ``name``, renamed, without a leading
        ``<that resource>: `` (the line that shows it names the resource already)."""
        out = self.text(text)
        for where in {self.label(name, type_), name} if name else ():
            if out.startswith(f"{where}: "):
                return out[len(where) + 2:]
        return out


def renamer_of(resources: Iterable[Mapping]) -> Renamer:
    """A :class:`Renamer` over preflight-JSON resources (``{"type", "name", ...}``) or any
    objects with ``type`` and ``name`` attributes."""
    pairs = []
    for r in resources:
        if isinstance(r, Mapping):
            pairs.append((r.get("type", ""), r.get("name", "")))
        else:
            pairs.append((getattr(r, "type", ""), getattr(r, "name", "")))
    return Renamer(pairs)
