"""The log bucket and the load balancer's log attributes, as S3 and ELB hold them."""

from __future__ import annotations

import json

import pytest

from components.logs import ELB_LOG_ACCOUNTS, log_delivery_principal


def test_bucket_is_sse_s3_private_and_owner_enforced(dev):
    s3, bucket = dev.c["s3"], dev.outputs["logBucket"]
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert [r["ApplyServerSideEncryptionByDefault"] for r in rules] == [{"SSEAlgorithm": "AES256"}]
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}]


def test_lifecycle_expires_after_the_retention_setting(dev, prod):
    for applied, days in ((dev, 90), (prod, 365)):  # dev: the default; prod: logRetentionDays 365
        (rule,) = applied.c["s3"].get_bucket_lifecycle_configuration(Bucket=applied.outputs["logBucket"])["Rules"]
        assert rule["Status"] == "Enabled" and rule["Expiration"] == {"Days": days}
        assert rule["Filter"] == {"Prefix": ""}
        assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}


def test_policy_admits_elb_log_delivery_under_the_stack_prefix_and_denies_plain_http(dev):
    bucket = dev.outputs["logBucket"]
    policy = json.loads(dev.c["s3"].get_bucket_policy(Bucket=bucket)["Policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert set(by_sid) == {"AlbLogDelivery", "DenyInsecureTransport"}
    allow = by_sid["AlbLogDelivery"]
    # us-east-1's ELB account, as AWS documents it.
    assert (allow["Effect"], allow["Principal"], allow["Action"]) == (
        "Allow", {"AWS": "arn:aws:iam::127311923021:root"}, "s3:PutObject")
    assert allow["Resource"] == [f"arn:aws:s3:::{bucket}/dev/AWSLogs/123456789012/*",
                                 f"arn:aws:s3:::{bucket}/dev-connections/AWSLogs/123456789012/*"]
    deny = by_sid["DenyInsecureTransport"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "s3:*")
    assert deny["Resource"] == [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_load_balancer_writes_access_and_connection_logs_to_the_bucket(dev):
    attrs = {a["Key"]: a["Value"] for a in dev.c["elbv2"].describe_load_balancer_attributes(
        LoadBalancerArn=dev.outputs["loadBalancerArn"])["Attributes"]}
    assert (attrs["access_logs.s3.enabled"], attrs["access_logs.s3.bucket"], attrs["access_logs.s3.prefix"]) == (
        "true", dev.outputs["logBucket"], "dev")
    assert (attrs["connection_logs.s3.enabled"], attrs["connection_logs.s3.bucket"],
            attrs["connection_logs.s3.prefix"]) == ("true", dev.outputs["logBucket"], "dev-connections")


def test_the_bucket_policy_exists_before_logging_is_switched_on(dev):
    """ELB test-writes to the bucket when logging is enabled: the LB must wait for the policy."""
    lb = next(r for r in dev.run.resources if r.type == "aws:lb/loadBalancer:LoadBalancer")
    policy = next(r for r in dev.run.resources if r.type == "aws:s3/bucketPolicy:BucketPolicy")
    order = [r.urn for r in dev.run.resources]
    assert order.index(policy.urn) < order.index(lb.urn)


@pytest.mark.parametrize("region,principal", [
    ("us-east-1", {"AWS": "arn:aws:iam::127311923021:root"}),
    ("eu-west-1", {"AWS": "arn:aws:iam::156460612806:root"}),
    ("ap-southeast-3", {"AWS": "arn:aws:iam::589379963580:root"}),
    ("us-gov-west-1", {"AWS": "arn:aws-us-gov:iam::048591011584:root"}),
    ("cn-north-1", {"AWS": "arn:aws-cn:iam::638102146993:root"}),
    # Regions opened from August 2022 have no ELB account: the service principal writes.
    ("eu-central-2", {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}),
    ("ap-southeast-4", {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}),
    ("il-central-1", {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}),
])
def test_log_delivery_principal_by_region(region, principal):
    assert log_delivery_principal(region) == principal


def test_region_table_matches_the_emulators_documented_accounts():
    from lbguard.offline.emulator import ELB_ACCOUNTS
    assert {r: a for r, a in ELB_LOG_ACCOUNTS.items() if r in ELB_ACCOUNTS} == ELB_ACCOUNTS
