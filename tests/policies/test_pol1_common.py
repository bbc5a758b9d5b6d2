"""The pack's shared helpers (policies/lb_safety/common.py): a crashing policy names itself with
its traceback, "could not be evaluated" is the SDK's own unknown-value error, percentages as
the messages print them."""

from __future__ import annotations

import sys

import pytest

from google.protobuf import empty_pb2

from lbguard.core.model import LbguardError
from tests.conftest import ROOT
from tests.policies.conftest import Pack, open_pack
from tests.policies.fixtures import add_resource, web_tier


@pytest.fixture(scope="module")
def common():
    """policies/lb_safety/common.py imported as the pack imports it, forgotten after."""
    sys.path.insert(0, str(ROOT / "policies"))
    try:
        import lb_safety.common as module
        yield module
    finally:
        sys.path.remove(str(ROOT / "policies"))
        for name in [n for n in sys.modules if n.split(".")[0] == "lb_safety"]:
            del sys.modules[name]


def test_a_policy_that_crashes_names_itself_with_its_traceback():
    """gRPC passes on only the exception's message; the pack prints which policy raised and
    where (a pack loaded in this test: the wrappers are made when the pack loads)."""
    with open_pack(fresh=True, project="web-tier", stack="prod", timeout=60) as process:
        _crashes_name_themselves(Pack(process, process.call("GetAnalyzerInfo", empty_pb2.Empty())))


def _crashes_name_themselves(pack):
    run = add_resource(web_tier(), "aws:ec2/securityGroup:SecurityGroup", "odd-sg",
                       {"vpcId": "vpc-0123456789abcdef0", "ingress": ["not-a-rule"]}, {"id": "sg-0odd"})
    with pytest.raises(LbguardError) as err:
        pack.evaluate(run, {})
    assert "'str' object has no attribute 'get'" in str(err.value).partition("\n")[0]
    printed = pack.process.stderr_tail(200)  # the error carries the last 20 lines only
    assert "policy alb-ingress-restricted raised:\nTraceback (most recent call last):" in printed
    assert "_world_open" in printed and "AttributeError" in printed
    # A policy that does not crash reports through the wrapper as before.
    plain = add_resource(web_tier(), "aws:ec2/securityGroup:SecurityGroup", "open-sg",
                         {"vpcId": "vpc-0123456789abcdef0", "ingress": [
                             {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}]},
                         {"id": "sg-0open"})
    assert [(v.policy, v.name) for v in pack.evaluate(plain, {})] == [("alb-ingress-restricted", "open-sg")]


def test_could_not_be_evaluated_is_the_sdks_unknown_value_error(common):
    """pulumi_policy (policy.py, 1.21.0, the AnalyzeStack/Analyze handlers) turns an
    UnknownValueError into an advisory "can't run policy" with its ``message``; Python callers
    see the same text as str()."""
    from pulumi_policy.proxy import UnknownValueError

    common.cannot_evaluate([])  # nothing unknown: no error
    reasons = [f"r{i}" for i in range(7)] + ["r0"]
    with pytest.raises(UnknownValueError) as err:
        common.cannot_evaluate(reasons)
    want = "could not be evaluated: r0; r1; r2; r3; r4; and 2 more"
    assert err.value.message == want and str(err.value) == want
    with pytest.raises(UnknownValueError) as err:
        common.cannot_evaluate(["a", "b", "a", "c", "d", "e"])
    assert err.value.message == "could not be evaluated: a; b; c; d; e"


@pytest.mark.parametrize("share, printed", [
    (0.25, "25%"), (1 / 3, "33.3%"), (0.5, "50%"), (1.0, "100%"), (0.0, "0%"), (0.167, "16.7%"), (0.0005, "0.1%"),
    (float("inf"), "unbounded"), (2.5, "250%"),
])
def test_shares_print_as_percentages(common, share, printed):
    assert common.pct(share) == printed
