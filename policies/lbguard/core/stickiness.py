"""How long stickiness holds a client, and what that does to routing changes (pure).

Two kinds, two hazards:

* Target-group stickiness (``lb_cookie``: the load balancer's AWSALB cookie, or ``app_cookie``)
  pins a client to one *instance* for the cookie's duration. Clients pile up on the instances
  that were there first (new instances from a scale-out get only new clients) and a client stays
  on an instance that is overloaded: a slow funnel, the June 1 outcome reached gradually.
* Forward (target-group-group) stickiness pins a client to one *pool* of a weighted forward for
  its duration (AWSALBTG cookie): existing clients ignore weight shifts, so a canary shift, a
  drain or a rollback that moves the weights moves only new clients until the cookies expire.

Durations as the ELBv2 API has them: ``stickiness.lb_cookie.duration_seconds`` and
``stickiness.app_cookie.duration_seconds`` 1..604800, default 86400 (one day);
``TargetGroupStickinessConfig.DurationSeconds`` 1..604800 (ELB API reference, TargetGroupAttribute
and TargetGroupStickinessConfig). pulumi_aws spells them ``stickiness.cookieDuration`` on a target
group and ``forward.stickiness.duration`` on an action.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

DEFAULT_COOKIE_SECONDS = 86400  # the API's default lb_cookie / app_cookie duration (one day)
DEFAULT_MAX_SECONDS = 86400

TARGET_GROUP_HAZARD = ("pins each client to one instance for that long: clients pile onto the instances that were "
                       "there first and stay on an overloaded one (a slow funnel)")
FORWARD_HAZARD = ("keeps each client on the pool it was first sent to for that long, so weight shifts, drains and "
                  "rollbacks move only new clients until the cookies expire")


@dataclass(frozen=True)
class Sticky:
    kind: str  # "target-group" or "forward"
    seconds: float
    cookie: str  # lb_cookie, app_cookie, or "group" for a forward

    @property
    def hazard(self) -> str:
        return TARGET_GROUP_HAZARD if self.kind == "target-group" else FORWARD_HAZARD


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def target_group(props: Mapping[str, Any]) -> Sticky | None:
    """A target group's stickiness when it is on (pulumi_aws ``stickiness`` block), else None."""
    block = props.get("stickiness")
    if isinstance(block, list):  # older shapes carry the block as a one-element list
        block = block[0] if block else None
    if not isinstance(block, Mapping) or block.get("enabled") is False:
        return None
    kind = str(block.get("type") or "lb_cookie")
    if kind not in ("lb_cookie", "app_cookie"):
        return None  # source_ip and friends (network load balancers) set no duration
    seconds = _number(block.get("cookieDuration"))
    return Sticky("target-group", DEFAULT_COOKIE_SECONDS if seconds is None else seconds, kind)


def forward(action: Mapping[str, Any]) -> Sticky | None:
    """A forward action's group stickiness when it is on (pulumi_aws ``forward.stickiness``), else None."""
    fwd = action.get("forward") if isinstance(action, Mapping) else None
    block = fwd.get("stickiness") if isinstance(fwd, Mapping) else None
    if not isinstance(block, Mapping) or not block.get("enabled"):
        return None
    seconds = _number(block.get("duration"))
    return Sticky("forward", seconds if seconds is not None else 0.0, "group")


def too_long(sticky: Sticky | None, max_seconds: float = DEFAULT_MAX_SECONDS) -> bool:
    return sticky is not None and sticky.seconds > max_seconds


def spelled(seconds: float) -> str:
    """86400 -> '1 day', 604800 -> '7 days', 5400 -> '1.5 h', 90 -> '90 s'."""
    if seconds >= 86400 and seconds % 3600 == 0:
        days = seconds / 86400
        return f"{days:g} day{'s' if days != 1 else ''}"
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds:g} s"
