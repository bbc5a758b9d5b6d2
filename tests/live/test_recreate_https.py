"""Issue 11: a deleted HTTPS listener is re-created by rollback from the stack's own `rollback`
output, which carries the listener's certificate and TLS policy (CreateListener needs both)."""

from __future__ import annotations

import boto3

from lbguard.live import reader, rollback
from lbguard.offline.emulator import emulated_aws, run_program
from lbguard.core.snapshot import validate_snapshot
from tests.conftest import ROOT


def test_deleted_https_listener_is_recreated_with_its_certificate_and_rules():
    with emulated_aws("us-east-1"):
        run = run_program(ROOT, "dev")
        snap = validate_snapshot(run.outputs["rollback"], "rollback output")
        https = next(l for l in snap["listeners"] if l["protocol"] == "HTTPS")
        assert https["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06" and len(https["certificates"]) == 1
        # the certificate the stack names (stacks/Pulumi.dev.yaml), as the listener reports it
        assert https["certificates"] == ["arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"]
        elbv2 = boto3.client("elbv2", region_name="us-east-1")
        # The emulator holds a self-signed stand-in for the stack's certificate (lbguard.offline.emulator.
        # services.elbv2) and reports the stack's ARN, as AWS would report the real one; the
        # re-created listener must name the certificate AWS holds, so swap in the stand-in.
        held_cert = elbv2.describe_listeners(ListenerArns=[https["arn"]])["Listeners"][0]["Certificates"]
        https["certificates"] = [c["CertificateArn"] for c in held_cert]
        elbv2.delete_listener(ListenerArn=https["arn"])  # its rules go with it
        result = rollback.converge(reader.client(region="us-east-1"), snap, settle=lambda s: None)
        assert result.verified, result.not_applied
        assert sorted(w["call"] if isinstance(w, dict) else w.call for w in result.applied).count("CreateListener") == 1
        held = {l["Port"]: l for l in elbv2.describe_listeners(LoadBalancerArn=snap["loadBalancer"]["arn"])["Listeners"]}
        assert held[443]["Protocol"] == "HTTPS" and held[443]["SslPolicy"] == https["sslPolicy"]
        assert [c["CertificateArn"] for c in held[443]["Certificates"]] == https["certificates"]
        rules = elbv2.describe_rules(ListenerArn=held[443]["ListenerArn"])["Rules"]
        assert sorted(int(r["Priority"]) for r in rules if not r["IsDefault"]) == \
            sorted(int(r["priority"]) for r in https["rules"])
