"""Access logs on, into a bucket that is private and TLS-only."""

from __future__ import annotations

import json

from pulumi_policy import (EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy,
                           StackValidationArgs, StackValidationPolicy)

from lb_safety.common import LB, cannot_evaluate, known, stack_resources, strict

BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
SSE_PREFIX = "aws:s3/bucketServerSideEncryptionConfiguration"  # with or without the V2 suffix


def _access_logs(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in LB or (args.props.get("loadBalancerType") or "application") != "application":
        return
    logs = strict(args.props.get("accessLogs") or {})
    if not (logs.get("enabled") and logs.get("bucket")):
        report(f"load balancer {args.name} writes no access logs; set accessLogs: {{bucket, enabled: true}} into a "
               f"private, TLS-only log bucket (AWS FSBP ELB.5).")


alb_access_logs = ResourceValidationPolicy(
    name="alb-access-logs", description="Application Load Balancers write access logs (AWS FSBP ELB.5).",
    enforcement_level=EnforcementLevel.ADVISORY, validate=_access_logs)


def _tls_only(policy) -> bool:
    try:
        doc = json.loads(policy) if isinstance(policy, str) else (policy or {})
    except json.JSONDecodeError:
        return False
    statements = doc.get("Statement", [])
    for st in statements if isinstance(statements, list) else [statements]:
        cond = (st.get("Condition") or {}).get("Bool") or {}
        if st.get("Effect") == "Deny" and str(cond.get("aws:SecureTransport")).lower() == "false":
            return True
    return False


def _bucket_secure(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = stack_resources(args)
    buckets = [r for r in resources if r.type in BUCKET_TYPES]
    by_ref = {}  # urn, name and id -> bucket, so linking stays linear in the stack size
    for b in buckets:
        for ref in (b.urn, b.props.get("bucket"), b.props.get("id")):
            if isinstance(ref, str) and known(ref):
                by_ref.setdefault(ref, b)

    def bucket_of(refs: set[str]):
        return next((by_ref[ref] for ref in sorted(refs) if ref in by_ref), None)

    notes: list[str] = []
    log_buckets = {}
    for r in resources:
        if r.type not in LB:
            continue
        logs = r.props.get("accessLogs") or {}
        name = logs.get("bucket") if isinstance(logs, dict) else None
        if not logs or not name:
            continue
        refs = ({name} if known(name) else set()) | set(r.property_dependencies.get("accessLogs", []))
        bucket = bucket_of(refs)
        if bucket is not None:
            log_buckets[bucket.urn] = bucket
        elif not known(name):
            notes.append(f"{r.name}: its access-log bucket is unknown")
        # else: a bucket managed outside this stack, checked where it is managed.
    config: dict[tuple[str, str], dict] = {}
    for r in resources:
        kind = "pab" if r.type == PUBLIC_ACCESS_BLOCK else "policy" if r.type == BUCKET_POLICY else \
            "sse" if r.type.startswith(SSE_PREFIX) else None
        if kind:
            value = r.props.get("bucket")
            refs = ({value} if isinstance(value, str) and known(value) else set()) | \
                set(r.property_dependencies.get("bucket", []))
            bucket = bucket_of(refs)
            if bucket is not None:
                config[(bucket.urn, kind)] = r.props
    for urn, bucket in log_buckets.items():
        problems = []
        pab = config.get((urn, "pab"))
        if not pab or not all(pab.get(k) is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                                             "restrictPublicBuckets")):
            problems.append("public access is not fully blocked: add a BucketPublicAccessBlock with all four "
                            "settings true (AWS FSBP S3.8)")
        pol = config.get((urn, "policy"))
        if pol is not None and not known(pol.get("policy")):
            notes.append(f"{bucket.name}: its bucket policy is unknown")
        elif not pol or not _tls_only(pol.get("policy")):
            problems.append("its bucket policy does not deny requests without TLS: add a Deny statement on "
                            "aws:SecureTransport false (AWS FSBP S3.5)")
        sse = config.get((urn, "sse"))
        rules = (sse or {}).get("rules") or []
        algos = {((rule.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm"))
                 for rule in rules if isinstance(rule, dict)}
        if algos & {"aws:kms", "aws:kms:dsse"}:
            problems.append("it uses SSE-KMS, which load-balancer log delivery does not support: use SSE-S3 (AES256)")
        if problems:
            report(f"access-log bucket {bucket.name}: {'; '.join(problems)}.", bucket.urn)
    cannot_evaluate(notes)


access_log_bucket_secure = StackValidationPolicy(
    name="access-log-bucket-secure",
    description="The access-log bucket blocks public access, denies non-TLS requests and uses SSE-S3 (AWS FSBP S3.8, "
                "S3.5).",
    enforcement_level=EnforcementLevel.ADVISORY, validate=_bucket_secure)
