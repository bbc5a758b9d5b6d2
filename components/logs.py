"""The bucket that receives the load balancer's access and connection logs."""

from __future__ import annotations

import json
from typing import Optional

import pulumi
import pulumi_aws as aws

from .settings import ObservabilitySettings
from lbguard.core.aws_facts import ELB_LOG_ACCOUNTS, LOG_DELIVERY_SERVICE, partition


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
