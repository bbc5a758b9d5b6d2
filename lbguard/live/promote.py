"""Record a verified live routing as the stack's known-good snapshot.

The load balancer's whole live routing must equal the deployed snapshot (``routing/current``,
which must belong to the target) and every pool it forwards to must have a healthy target.
Then the snapshot is written to ``routing/known-good`` (SSM parameter versions keep the
history), unless it is already there: a promote that changes nothing writes nothing.
"""

from __future__ import annotations

from typing import Callable

from lbguard.core.model import LbguardError
from lbguard.core.snapshot import forwarded_target_groups
from lbguard.live import reader, rollback, state


def promote(elbv2, ssm, current: dict, target, *, before_write: Callable[[str], None] = lambda name: None) -> dict:
    """The result document; raises LbguardError (nothing written) when live is not fit to promote."""
    live = reader.read(elbv2, target.load_balancer_arn, current)
    for arn in sorted(forwarded_target_groups(current)):
        reason = rollback.unsafe_forward([{"Type": "forward", "TargetGroupArn": arn}], live)
        if reason:
            raise LbguardError(f"not promoting: {reason}")
    diffs = rollback.differences(current, live)
    if diffs:
        raise LbguardError(f"live routing differs from the deployed snapshot ({len(diffs)} difference(s), first: "
                           f"{diffs[0]}); not promoting")
    name = state.ssm_name(target.project, target.stack, "known-good")
    doc = {"parameter": name, "target": target.to_json()}
    try:
        held = ssm.get_parameter(Name=name)["Parameter"]
    except ssm.exceptions.ParameterNotFound:
        held = None
    if held is not None and _decoded(held["Value"], name) == current:
        return {**doc, "version": held["Version"], "promoted": False, "unchanged": True}
    before_write(name)
    value, tier = state.encode_snapshot(current)
    version = ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True, Tier=tier)["Version"]
    return {**doc, "version": version, "promoted": True, "unchanged": False}


def _decoded(value: str, name: str) -> dict | None:
    try:
        return state.decode_snapshot(value, f"SSM parameter {name}")
    except LbguardError:
        return None  # a damaged record is replaced
