"""The bucket that receives the load balancer's access and connection logs."""

from __future__ import annotations

import json
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.settings import ObservabilitySettings

# ELB's log-delivery accounts, as AWS documents them for regions opened before August
# 2022 ("Attach a policy to your S3 bucket", Application Load Balancer guide). Newer
# regions have none: there the log-delivery service principal is granted instead.
ELB_LOG_ACCOUNTS = {
    "us-east-1": "127311923021", "us-east-2": "033677994240", "us-west-1": "027434742980",
    "us-west-2": "797873946194", "af-south-1": "098369216593", "ap-east-1": "754344448648",
    "ap-southeast-3": "589379963580", "ap-south-1": "718504428378", "ap-northeast-3": "383597477331",
    "ap-northeast-2": "600734575887", "ap-southeast-1": "114774131450", "ap-southeast-2": "783225319266",
    "ap-northeast-1": "582318560864", "ca-central-1": "985666609251", "eu-central-1": "054676820928",
    "eu-west-1": "156460612806", "eu-west-2": "652711504416", "eu-south-1": "635631232127",
    "eu-west-3": "009996457667", "eu-north-1": "897822967062", "me-south-1": "076674570225",
    "sa-east-1": "507241528517",
    "us-gov-west-1": "048591011584", "us-gov-east-1": "190560391635",
    "cn-north-1": "638102146993", "cn-northwest-1": "037604701340",
}
LOG_DELIVERY_SERVICE = "logdelivery.elasticloadbalancing.amazonaws.com"


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def log_delivery_principal(region: str) -> dict:
    """Who writes ALB logs in ``region``: ELB's account there, else the service principal."""
    account = ELB_LOG_ACCOUNTS.get(region)
    if account is None:
        return {"Service": LOG_DELIVERY_SERVICE}
    return {"AWS": f"arn:{partition(region)}:iam::{account}:root"}


def log_bucket_policy(bucket_arn: str, prefixes: list[str], account: str, elb_principal: dict) -> str:
    """ALB log delivery may write under the stack's prefix; nothing may use plain HTTP."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AlbLogDelivery",
                "Effect": "Allow",
                "Principal": elb_principal,
                "Action": "s3:PutObject",
                "Resource": [f"{bucket_arn}/{prefix}/AWSLogs/{account}/*" for prefix in prefixes],
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }, sort_keys=True)


class LogBucket(pulumi.ComponentResource):
    """SSE-S3 (what ALB log delivery supports), private, owner-enforced, TLS-only, expiring.

    Log delivery may write only under this stack's prefixes and the account's
    ``AWSLogs/<account>/`` path; the principal depends on the region (see
    :func:`log_delivery_principal`).

    ``bucket_name`` is the bucket the load balancer writes to and ``prefix`` the
    per-stack prefix (access logs under ``<prefix>``, connection logs under
    ``<prefix>-connections``). With ``settings.log_bucket`` set, the existing bucket
    is used and nothing is created.
    """

    def __init__(self, name: str, *, settings: ObservabilitySettings, stack: str, tags: dict[str, str],
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("web-tier:logs:LogBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.prefix = stack
        self.connection_prefix = f"{stack}-connections"
        if settings.log_bucket:
            self.bucket_name = pulumi.Output.from_input(settings.log_bucket)
            self.policy = None
            self.register_outputs({"bucket": self.bucket_name})
            return

        bucket = aws.s3.Bucket(f"{name}-bucket", force_destroy=False, tags=tags, opts=child)
        aws.s3.BucketOwnershipControls(f"{name}-ownership", bucket=bucket.id,
                                       rule={"object_ownership": "BucketOwnerEnforced"}, opts=child)
        aws.s3.BucketPublicAccessBlock(f"{name}-public-access", bucket=bucket.id, block_public_acls=True,
                                       block_public_policy=True, ignore_public_acls=True,
                                       restrict_public_buckets=True, opts=child)
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-sse", bucket=bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}], opts=child)
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle", bucket=bucket.id,
            rules=[{"id": "expire-logs", "status": "Enabled", "filter": {"prefix": ""},
                    "expiration": {"days": settings.log_retention_days},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7}}],
            opts=child)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        region = aws.get_region_output(opts=invoke).region
        policy = pulumi.Output.all(bucket.arn, account, region).apply(
            lambda v: log_bucket_policy(v[0], [self.prefix, self.connection_prefix], v[1],
                                        log_delivery_principal(v[2])))
        self.policy = aws.s3.BucketPolicy(f"{name}-policy", bucket=bucket.id, policy=policy, opts=child)
        self.bucket_name = bucket.bucket
        self.register_outputs({"bucket": self.bucket_name})
