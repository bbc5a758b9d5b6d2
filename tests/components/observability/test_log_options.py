"""Log options that need their own stack: another region, an existing bucket, logs off.

In their own module so no other stack is applied in the same moto state.
"""

from __future__ import annotations

import json

import boto3

from components.logs import LOG_DELIVERY_SERVICE
from lbguard.offline.emulator import emulated_aws, run_program


def _apply(scratch, region: str, observability: dict | None = None):
    cfg = scratch.config("dev")
    cfg["aws:region"] = region
    cfg["web-tier:listeners"]["certificateArn"] = cfg["web-tier:listeners"]["certificateArn"].replace("us-east-1", region)
    if observability is not None:
        cfg["web-tier:observability"] = observability
    scratch.write("dev", cfg)
    return run_program(scratch.path, "dev")


def test_a_region_without_an_elb_account_grants_the_service_principal(scratch):
    with emulated_aws("eu-central-2"):
        run = _apply(scratch, "eu-central-2")
        s3 = boto3.client("s3", "eu-central-2")
        policy = json.loads(s3.get_bucket_policy(Bucket=run.outputs["logBucket"])["Policy"])
    allow = next(s for s in policy["Statement"] if s["Sid"] == "AlbLogDelivery")
    assert allow["Principal"] == {"Service": LOG_DELIVERY_SERVICE}
    assert not run.not_emulated


def test_an_existing_bucket_is_used_and_nothing_is_created(scratch):
    with emulated_aws("us-east-1"):
        boto3.client("s3", "us-east-1").create_bucket(Bucket="org-alb-logs")
        run = _apply(scratch, "us-east-1", {"logBucket": "org-alb-logs", "logRetentionDays": 30})
        attrs = {a["Key"]: a["Value"] for a in boto3.client("elbv2", "us-east-1").describe_load_balancer_attributes(
            LoadBalancerArn=run.outputs["loadBalancerArn"])["Attributes"]}
    assert not [r for r in run.resources if r.type.startswith("aws:s3/")]
    assert run.outputs["logBucket"] == "org-alb-logs"
    assert (attrs["access_logs.s3.bucket"], attrs["access_logs.s3.prefix"]) == ("org-alb-logs", "dev")
    assert attrs["connection_logs.s3.bucket"] == "org-alb-logs"


def test_access_logs_off_creates_no_bucket_and_turns_logging_off(scratch):
    with emulated_aws("us-east-1"):
        run = _apply(scratch, "us-east-1", {"accessLogs": False})
        attrs = {a["Key"]: a["Value"] for a in boto3.client("elbv2", "us-east-1").describe_load_balancer_attributes(
            LoadBalancerArn=run.outputs["loadBalancerArn"])["Attributes"]}
    assert not [r for r in run.resources if r.type.startswith("aws:s3/")]
    assert run.outputs["logBucket"] is None
    assert attrs.get("access_logs.s3.enabled", "false") == "false"
