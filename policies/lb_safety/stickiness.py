"""stickiness-duration: stickiness that outlasts a routing change (lbguard.core.stickiness)."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs, StackValidationPolicy

from lb_safety.common import LISTENER, LISTENER_RULE, TARGET_GROUP, num, schema, stack_resources
from lbguard.core import stickiness


def _duration(args: StackValidationArgs, report: ReportViolation) -> None:
    limit = num(args.get_config().get("maxSeconds"), stickiness.DEFAULT_MAX_SECONDS)
    for r in stack_resources(args):
        found = []
        if r.type in TARGET_GROUP:
            found = [("target group", stickiness.target_group(r.props))]
        elif r.type in LISTENER or r.type in LISTENER_RULE:
            key = "defaultActions" if r.type in LISTENER else "actions"
            what = "listener" if r.type in LISTENER else "listener rule"
            found = [(f"{what}'s forward", stickiness.forward(a)) for a in r.props.get(key) or []
                     if isinstance(a, dict) and a.get("type") == "forward"]
        for what, sticky in found:
            if not stickiness.too_long(sticky, limit):
                continue
            setting = ("stickiness.cookieDuration" if sticky.kind == "target-group" else "forward.stickiness.duration")
            report(f"{what} {r.name} has {sticky.cookie} stickiness of {stickiness.spelled(sticky.seconds)} "
                   f"({sticky.seconds:g} s), above {stickiness.spelled(limit)}: it {sticky.hazard}; lower "
                   f"{setting} to at most {limit:g} s, or turn stickiness off.", r.urn)


stickiness_duration = StackValidationPolicy(
    name="stickiness-duration",
    description="Stickiness lasts at most a bound (default one day): target-group (lb_cookie/app_cookie) stickiness "
                "pins clients to instances, forward (group) stickiness keeps clients on a pool through weight shifts "
                "and rollbacks.",
    enforcement_level=EnforcementLevel.ADVISORY, validate=_duration,
    config_schema=schema(maxSeconds={"type": "number", "minimum": 1, "maximum": 604800,
                                     "default": stickiness.DEFAULT_MAX_SECONDS,
                                     "description": "longest stickiness allowed, in seconds (target-group cookie "
                                                    "duration and forward stickiness duration)"}))
