"""Access logs on, into a bucket that is encrypted, private and TLS-only."""

from __future__ import annotations

import json

from pulumi_policy import (EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy,
                           StackValidationArgs, StackValidationPolicy)

from lb_safety.common import LB, plain


def _access_logs(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in LB:
        return
    logs = plain(args.props).get("accessLogs") or {}
    if not (logs.get("enabled") and logs.get("bucket")):
        report(f"load balancer {args.name} writes no access logs; enable accessLogs into a log bucket "
               f"(AWS FSBP ELB.5).")


alb_access_logs = ResourceValidationPolicy(
    name="alb-access-logs", description="Load balancers write access logs (AWS FSBP ELB.5)",
    enforcement_level=EnforcementLevel.ADVISORY, validate=_access_logs)


def _tls_only(policy: str | dict | None) -> bool:
    try:
        doc = json.loads(policy) if isinstance(policy, str) else (policy or {})
    except json.JSONDecodeError:
        return False
    for st in doc.get("Statement", []):
        cond = (st.get("Condition") or {}).get("Bool") or {}
        if st.get("Effect") == "Deny" and str(cond.get("aws:SecureTransport")).lower() == "false":
            return True
    return False


def _bucket_secure(args: StackValidationArgs, report: ReportViolation) -> None:
    res = [(r, plain(r.props)) for r in args.resources]
    log_buckets = {(p.get("accessLogs") or {}).get("bucket") for r, p in res if r.resource_type in LB}
    log_buckets.discard(None)
    buckets = {p.get("bucket"): r for r, p in res if r.resource_type in ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")}
    by_type: dict[str, dict] = {}
    for r, p in res:
        if p.get("bucket") is not None:
            by_type.setdefault(r.resource_type.split(":")[-1], {})[p["bucket"]] = p
    for name in sorted(log_buckets):
        bucket = buckets.get(name)
        if bucket is None:
            continue  # an existing bucket outside this stack: checked where it is managed
        problems = []
        pab = by_type.get("BucketPublicAccessBlock", {}).get(name)
        if not pab or not all(pab.get(k) for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                                      "restrictPublicBuckets")):
            problems.append("public access is not fully blocked (S3.8)")
        sse = by_type.get("BucketServerSideEncryptionConfiguration", {}).get(name)
        if not sse:
            problems.append("no default encryption (SSE-S3 is what ALB log delivery supports)")
        pol = by_type.get("BucketPolicy", {}).get(name)
        if not pol or not _tls_only(pol.get("policy")):
            problems.append("the bucket policy does not deny requests without TLS (S3.5)")
        if problems:
            report(f"access-log bucket {name}: {'; '.join(problems)}. Fix the bucket's configuration.", bucket.urn)


access_log_bucket_secure = StackValidationPolicy(
    name="access-log-bucket-secure",
    description="The access-log bucket is encrypted, blocks public access and denies non-TLS requests (AWS FSBP S3.5, S3.8)",
    enforcement_level=EnforcementLevel.ADVISORY, validate=_bucket_secure)
