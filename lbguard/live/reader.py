"""The one model of a live load balancer's routing and target health, and its reader.

``read`` returns a :class:`Live`: every listener and rule of the load balancer (not only
those a snapshot names) and, for every target group either it or a snapshot forwards to,
whether it exists and how many of its registered targets are healthy. Diagnose, rollback,
promote, drill and the auto-rollback Lambda all read through here.

Errors are errors. Throttling and transient failures inside one call are retried by
botocore's ``standard`` retry mode (``RETRY_CONFIG``: ``botocore/retries/standard.py``,
``StandardRetryConditions`` retries the throttling codes of ``ThrottledRetryableChecker``,
the codes and HTTP 500/502/503/504 of ``TransientRetryableChecker`` and connection errors;
botocore 1.44.8). What is still failing after the retries propagates to the caller, which
reports it. Only the answers AWS gives for a thing that does not exist are read as "gone":
``TargetGroupNotFound`` from DescribeTargetGroups/DescribeTargetHealth, ``ListenerNotFound``
from DescribeRules of a listener deleted since DescribeListeners (the error shapes of
botocore's ``data/elbv2/2015-12-01/service-2.json``). A throttled read is never taken for a
deleted target group.

Imports boto3/botocore and lbguard's core only: the Lambda ships it as is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from lbguard.core import shapes, traffic
from lbguard.core.snapshot import tg_name

# Failures of the transport or of a garbled answer: the outcome of a write is unknown
# (the next read settles it). ResponseParserError is not a BotoCoreError.
TRANSPORT_ERRORS = (BotoCoreError, ResponseParserError)
RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=5, read_timeout=20)
# The error codes that mean "it does not exist" (botocore's elbv2 service model, error shapes).
TARGET_GROUP_GONE = "TargetGroupNotFound"
LISTENER_GONE = "ListenerNotFound"


def client(session=None, region: str | None = None, endpoint_url: str | None = None):
    """An ELBv2 client with lbguard's retry policy."""
    import boto3

    return (session or boto3).client("elbv2", region_name=region, endpoint_url=endpoint_url, config=RETRY_CONFIG)


def error_code(err: Exception) -> str | None:
    return err.response.get("Error", {}).get("Code") if isinstance(err, ClientError) else None


def error_text(err: Exception) -> str:
    if isinstance(err, ClientError):
        e = err.response.get("Error", {})
        return f"{e.get('Code')}: {e.get('Message')}"
    return f"{type(err).__name__}: {err}"


@dataclass
class Live:
    """A load balancer's routing and target health as AWS reported it."""

    load_balancer_arn: str = ""
    listeners: dict[str, dict] = field(default_factory=dict)  # arn -> DescribeListeners entry, by port
    rules: dict[str, dict] = field(default_factory=dict)  # arn -> DescribeRules entry (non-default)
    rules_by_listener: dict[str, list[str]] = field(default_factory=dict)  # listener -> rule ARNs, by priority
    target_groups: dict[str, dict] = field(default_factory=dict)  # arn -> {"name", "exists", "healthy", "registered"}
    keys: dict[str, str] = field(default_factory=dict)  # listener / rule / target-group arn -> the stack's key

    def listener_rules(self, listener_arn: str) -> list[dict]:
        """The listener's rules in ALB evaluation order (ascending priority)."""
        return [self.rules[a] for a in self.rules_by_listener.get(listener_arn, [])]

    def listener_of(self, rule_arn: str) -> str | None:
        return next((l for l, arns in self.rules_by_listener.items() if rule_arn in arns), None)

    def pools(self) -> dict[str, traffic.Pool]:
        """Target-group ARN -> its healthy instances, for :mod:`lbguard.core.traffic`."""
        return {arn: traffic.Pool(instances=tg["healthy"]) for arn, tg in self.target_groups.items()}

    # Names: the stack's keys (from its snapshots) where known, else AWS's own.
    def pool_name(self, arn: str) -> str:
        return self.keys.get(arn) or self.target_groups.get(arn, {}).get("name") or tg_name(arn)

    def listener_name(self, arn: str) -> str:
        held = self.listeners.get(arn)
        return self.keys.get(arn) or (f"{held['Protocol']}:{held['Port']}" if held else arn.rsplit("/", 1)[-1])

    def rule_name(self, arn: str) -> str:
        return self.keys.get(arn) or arn.rsplit("/", 1)[-1]

    def aws_name(self, arn: str) -> str:
        """What AWS calls it: a target group's name, ``PROTOCOL:PORT`` of a listener, a rule's ARN id."""
        if arn in self.target_groups:
            return self.target_groups[arn]["name"]
        held = self.listeners.get(arn)
        return f"{held['Protocol']}:{held['Port']}" if held else arn.rsplit("/", 1)[-1]


def keys_from_snapshots(*snapshots: Mapping[str, Any] | None) -> dict[str, str]:
    """ARN -> the stack's key for every listener, rule and pool the snapshots name (the
    first snapshot that names an ARN wins: pass the deployed one first)."""
    keys: dict[str, str] = {}
    for snap in snapshots:
        if not snap:
            continue
        for key, tg in (snap.get("targetGroups") or {}).items():
            keys.setdefault(tg["arn"], key)
        for lst in snap.get("listeners") or []:
            if lst.get("key"):
                keys.setdefault(lst["arn"], lst["key"])
            for rule in lst.get("rules") or []:
                if rule.get("key"):
                    keys.setdefault(rule["arn"], rule["key"])
    return keys


def _pages(fn: Callable, key: str, **kwargs) -> list[dict]:
    out, marker = [], None
    while True:
        page = fn(**kwargs, **({"Marker": marker} if marker else {}))
        out += page[key]
        marker = page.get("NextMarker")
        if not marker:
            return out


def describe_rules(elbv2, listener_arn: str) -> list[dict]:
    """Every rule of a listener, the default rule included, as DescribeRules returns them."""
    return _pages(elbv2.describe_rules, "Rules", ListenerArn=listener_arn)


def forwarded(actions: list[dict]) -> dict[str, int]:
    """Target-group ARN -> weight over the forward actions in ``actions``."""
    out: dict[str, int] = {}
    for a in actions:
        out.update(shapes.forward_weights(a) or {})
    return out


def snapshot_target_groups(snapshot: Mapping[str, Any] | None) -> set[str]:
    """Every target group a snapshot forwards to or names as a pool."""
    arns = {tg["arn"] for tg in ((snapshot or {}).get("targetGroups") or {}).values()}
    for lst in (snapshot or {}).get("listeners", []):
        arns.update(forwarded(lst["defaultActions"]))
        for r in lst.get("rules", []):
            arns.update(forwarded(r["actions"]))
    return arns


def read_target_groups(elbv2, arns: set[str]) -> dict[str, dict]:
    out = {}
    for arn in sorted(arns):
        try:
            tg = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
            health = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        except ClientError as err:
            if error_code(err) != TARGET_GROUP_GONE:
                raise
            out[arn] = {"name": tg_name(arn), "exists": False, "healthy": 0, "registered": 0}
            continue
        out[arn] = {"name": tg["TargetGroupName"], "exists": True, "registered": len(health),
                    "healthy": sum(h["TargetHealth"]["State"] == "healthy" for h in health)}
    return out


def read(elbv2, load_balancer_arn: str, *snapshots: Mapping[str, Any] | None, attached: bool = False) -> Live:
    """Every listener and rule of the load balancer, and the target groups that it or any of
    ``snapshots`` forwards to (with ``attached``: also every target group the load balancer
    holds). The snapshots also give the stack's keys for names."""
    live = Live(load_balancer_arn, keys=keys_from_snapshots(*snapshots))
    arns: set[str] = set()
    listeners = _pages(elbv2.describe_listeners, "Listeners", LoadBalancerArn=load_balancer_arn)
    for lst in sorted(listeners, key=lambda l: (int(l["Port"]), l["ListenerArn"])):
        try:
            rules = [r for r in describe_rules(elbv2, lst["ListenerArn"]) if not r.get("IsDefault")]
        except ClientError as err:
            if error_code(err) == LISTENER_GONE:
                continue  # deleted between the two reads: it is not part of the routing
            raise
        live.listeners[lst["ListenerArn"]] = lst
        arns.update(forwarded(lst["DefaultActions"]))
        rules.sort(key=lambda r: int(r["Priority"]))
        live.rules_by_listener[lst["ListenerArn"]] = [r["RuleArn"] for r in rules]
        for rule in rules:
            live.rules[rule["RuleArn"]] = rule
            arns.update(forwarded(rule["Actions"]))
    for snap in snapshots:
        arns |= snapshot_target_groups(snap)
    if attached:
        arns.update(tg["TargetGroupArn"] for tg in _pages(elbv2.describe_target_groups, "TargetGroups",
                                                          LoadBalancerArn=load_balancer_arn))
    live.target_groups = read_target_groups(elbv2, arns)
    return live
