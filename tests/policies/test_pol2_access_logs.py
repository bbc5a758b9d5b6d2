"""Access logs (alb-access-logs) and their bucket (access-log-bucket-secure): which load balancers
must log, how a log bucket is found (by name, id or dependency), and what makes it private,
TLS-only and writable by log delivery (AWS FSBP ELB.5, S3.8, S3.5; ELB log delivery supports
SSE-S3 only)."""

from __future__ import annotations

import copy
import json

import pytest

from tests.policies.fixtures import UNKNOWN, add_resource, by_name, mutate, setter, web_tier

BASE = web_tier()
BUCKET = "web-tier-prod-lb-logs"
PAB = "public access is not fully blocked: add a BucketPublicAccessBlock with all four settings true (AWS FSBP S3.8)"
TLS = ("its bucket policy does not deny requests without TLS: add a Deny statement on aws:SecureTransport false "
       "(AWS FSBP S3.5)")
KMS = "it uses SSE-KMS, which load-balancer log delivery does not support: use SSE-S3 (AES256)"
SECURE = "access-log-bucket-secure"


def bucket_report(*problems: str, name: str = "web-logs-bucket") -> tuple[str, str]:
    return name, f"access-log bucket {name}: {'; '.join(problems)}."


def said(pack, run, policy=SECURE):
    return [(v.name, v.message) for v in pack.evaluate(run, {}) if v.policy == policy]


def cannot(reasons: str) -> tuple[str, str]:
    return ("web-tier-prod", f"can't run policy '{SECURE}' from policy pack 'lb-safety@v0.0.1' during preview: could "
                             f"not be evaluated: {reasons}")


def without(run, *names):
    run = copy.deepcopy(run)
    run.resources = [r for r in run.resources if r.name not in names]
    return run


def no_deps(run, name, prop):
    run = copy.deepcopy(run)
    by_name(run, name).property_dependencies.pop(prop, None)
    return run


# ------------------------------------------------------------------ alb-access-logs

LOGS_OFF = ("load balancer web-lb-alb writes no access logs; set accessLogs: {bucket, enabled: true} into a private, "
            "TLS-only log bucket (AWS FSBP ELB.5).")


@pytest.mark.parametrize("props, reported", [
    ({"accessLogs": {"bucket": BUCKET, "enabled": True}}, False),
    ({"accessLogs": {"bucket": BUCKET, "enabled": False}}, True),
    ({"accessLogs": {"enabled": True}}, True),
    ({"accessLogs": {"bucket": BUCKET}}, True),
    ({"accessLogs": None}, True),
    ({"accessLogs": None, "loadBalancerType": None}, True),  # pulumi_aws's default type is application
    ({"accessLogs": None, "loadBalancerType": "network"}, False),  # ELB.5 is about Application Load Balancers
    ({"accessLogs": None, "loadBalancerType": "gateway"}, False),
], ids=["on", "disabled", "no-bucket", "not-enabled", "none", "default-type", "network", "gateway"])
def test_application_load_balancers_write_access_logs(pack, props, reported):
    run = mutate(BASE, "web-lb-alb", lambda p: p.update(props))
    assert said(pack, run, "alb-access-logs") == ([("web-lb-alb", LOGS_OFF)] if reported else [])


# ------------------------------------------------------------------ the bucket's policy: TLS only

DENY_HTTP = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{BUCKET}/*",
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
ALLOW_DELIVERY = {"Effect": "Allow", "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
                  "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}


def doc(*statements, as_list=True):
    return {"Version": "2012-10-17", "Statement": list(statements) if as_list else statements[0]}


@pytest.mark.parametrize("policy, tls_only", [
    (json.dumps(doc(ALLOW_DELIVERY, DENY_HTTP)), True),
    (json.dumps(doc(DENY_HTTP, as_list=False)), True),  # IAM allows a single statement object
    (doc(DENY_HTTP, ALLOW_DELIVERY), True),  # an object, not a JSON string
    (json.dumps(doc({**DENY_HTTP, "Condition": {"Bool": {"aws:SecureTransport": False}}})), True),
    (json.dumps(doc({**DENY_HTTP, "Condition": {"Bool": {"aws:SecureTransport": "FALSE"}}})), True),
    (json.dumps(doc({**DENY_HTTP, "Condition": None}, DENY_HTTP)), True),  # a later statement counts
    (json.dumps(doc(ALLOW_DELIVERY)), False),
    (json.dumps(doc({**DENY_HTTP, "Effect": "Allow"})), False),
    (json.dumps(doc({**DENY_HTTP, "Condition": {"Bool": {"aws:SecureTransport": "true"}}})), False),
    (json.dumps(doc({**DENY_HTTP, "Condition": {"StringEquals": {"aws:SecureTransport": "false"}}})), False),
    (json.dumps(doc({k: v for k, v in DENY_HTTP.items() if k != "Condition"})), False),
    (json.dumps({"Version": "2012-10-17"}), False),
    ("{not json", False),
    ("", False),
], ids=["list", "single-statement", "object", "boolean-false", "upper-case", "second-statement", "allow-only",
        "allow-effect", "secure-true", "other-operator", "no-condition", "no-statement", "not-json", "empty"])
def test_a_log_bucket_policy_must_deny_plain_http(pack, policy, tls_only):
    run = mutate(BASE, "web-logs-policy", setter(["policy"], policy))
    assert said(pack, run) == ([] if tls_only else [bucket_report(TLS)])


def test_an_unknown_bucket_policy_is_said_not_judged(pack):
    run = mutate(BASE, "web-logs-policy", setter(["policy"], UNKNOWN))
    assert said(pack, run) == [cannot("web-logs-bucket: its bucket policy is unknown")]


def test_every_problem_in_one_report(pack):
    run = without(BASE, "web-logs-public-access", "web-logs-policy")
    run = mutate(run, "web-logs-sse", setter(["rules"], [
        "AES256", {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms:dsse"}}]))
    assert said(pack, run) == [bucket_report(PAB, TLS, KMS)]


@pytest.mark.parametrize("rules, kms", [
    ([{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}], True),
    ([{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms:dsse"}}], True),
    ([{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}], False),
    ([{"bucketKeyEnabled": True}], False),
    ([], False),
], ids=["kms", "dsse-kms", "sse-s3", "no-default", "no-rules"])
def test_log_delivery_needs_sse_s3(pack, rules, kms):
    run = mutate(BASE, "web-logs-sse", setter(["rules"], rules))
    assert said(pack, run) == ([bucket_report(KMS)] if kms else [])


@pytest.mark.parametrize("setting", ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"])
def test_each_public_access_setting_is_required(pack, setting):
    assert said(pack, mutate(BASE, "web-logs-public-access", setter([setting], False))) == [bucket_report(PAB)]


# ------------------------------------------------------------------ finding the log bucket and its settings


def test_a_bucket_named_only_by_its_name_is_found(pack):
    """No dependencies anywhere (names written as strings): the bucket's name links the load
    balancer and each setting resource to it."""
    run = no_deps(BASE, "web-lb-alb", "accessLogs")
    for name in ("web-logs-public-access", "web-logs-policy", "web-logs-sse"):
        run = no_deps(run, name, "bucket")
    assert said(pack, run) == []
    assert said(pack, mutate(run, "web-logs-sse", setter(["rules"], [
        {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]))) == [bucket_report(KMS)]


def test_a_bucket_named_by_its_id_is_found(pack):
    """A bucket without a `bucket` name input (named by the provider) is referred to by its id."""
    bucket_id = "web-logs-20240601"
    run = mutate(BASE, "web-logs-bucket", lambda p: (p.pop("bucket"), p.update(id=bucket_id)))
    run = no_deps(run, "web-lb-alb", "accessLogs")
    run = mutate(run, "web-lb-alb", setter(["accessLogs", "bucket"], bucket_id))
    for name in ("web-logs-public-access", "web-logs-policy", "web-logs-sse"):
        run = mutate(no_deps(run, name, "bucket"), name, setter(["bucket"], bucket_id))
    assert said(pack, run) == []
    assert said(pack, without(run, "web-logs-public-access")) == [bucket_report(PAB)]


def test_in_a_preview_the_bucket_is_found_through_dependencies(pack):
    run = mutate(BASE, "web-lb-alb", setter(["accessLogs", "bucket"], UNKNOWN))
    for name in ("web-logs-public-access", "web-logs-policy", "web-logs-sse"):
        run = mutate(run, name, setter(["bucket"], UNKNOWN))
    assert said(pack, run) == []
    assert said(pack, mutate(run, "web-logs-public-access", setter(["ignorePublicAcls"], False))) == [bucket_report(PAB)]


def test_an_unknown_log_bucket_without_dependencies_is_said(pack):
    run = no_deps(mutate(BASE, "web-lb-alb", setter(["accessLogs", "bucket"], UNKNOWN)), "web-lb-alb", "accessLogs")
    assert said(pack, run) == [cannot("web-lb-alb: its access-log bucket is unknown")]


def test_a_bucket_managed_elsewhere_is_checked_where_it_is_managed(pack):
    run = no_deps(mutate(BASE, "web-lb-alb", setter(["accessLogs", "bucket"], "central-lb-logs")), "web-lb-alb",
                  "accessLogs")
    assert said(pack, without(run, "web-logs-public-access")) == []


def test_a_bucket_no_load_balancer_logs_to_is_not_a_log_bucket(pack):
    run = mutate(BASE, "web-lb-alb", setter(["accessLogs"], None))
    assert said(pack, without(run, "web-logs-public-access", "web-logs-policy")) == []


def test_every_load_balancer_is_looked_at(pack):
    """The first load balancer writes no logs; a second one logs into the bucket, which is public."""
    run = mutate(BASE, "web-lb-alb", setter(["accessLogs"], None))
    run = add_resource(run, "aws:lb/loadBalancer:LoadBalancer", "web-lb-internal",
                       {"name": "web-internal", "loadBalancerType": "application", "internal": True,
                        "accessLogs": {"bucket": BUCKET, "enabled": True}},
                       {"arn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web-internal/1"},
                       deps={"accessLogs": ["web-logs-bucket"]})
    assert said(pack, without(run, "web-logs-public-access")) == [bucket_report(PAB)]


def test_bucket_v2_and_its_v2_settings(pack):
    def v2(run):
        run = copy.deepcopy(run)
        for r in run.resources:
            if r.type == "aws:s3/bucket:Bucket":
                r.type = "aws:s3/bucketV2:BucketV2"
            elif r.type.startswith("aws:s3/bucketServerSideEncryptionConfiguration:"):
                r.type = ("aws:s3/bucketServerSideEncryptionConfigurationV2:"
                          "BucketServerSideEncryptionConfigurationV2")
        return run
    assert said(pack, v2(BASE)) == []
    assert said(pack, v2(mutate(BASE, "web-logs-sse", setter(["rules"], [
        {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}])))) == [bucket_report(KMS)]


def test_a_new_bucket_is_found_by_its_name_while_its_id_is_unknown(pack):
    """A preview of a new bucket: its id is unknown, its name (an input) is known and written as a
    string in the load balancer and the settings."""
    run = mutate(BASE, "web-logs-bucket", setter(["id"], UNKNOWN))
    run = no_deps(run, "web-lb-alb", "accessLogs")
    for name in ("web-logs-public-access", "web-logs-policy", "web-logs-sse"):
        run = no_deps(run, name, "bucket")
    assert said(pack, run) == []
    assert said(pack, without(run, "web-logs-policy")) == [bucket_report(TLS)]


@pytest.mark.parametrize("access_logs", [{"enabled": False, "prefix": "access"}, UNKNOWN], ids=["no-bucket", "unknown"])
def test_a_load_balancer_that_names_no_log_bucket_has_none_to_check(pack, access_logs):
    run = no_deps(mutate(BASE, "web-lb-alb", setter(["accessLogs"], access_logs)), "web-lb-alb", "accessLogs")
    assert said(pack, without(run, "web-logs-public-access")) == []


def test_other_bucket_settings_are_not_taken_for_its_encryption(pack):
    """Versioning (or any other per-bucket resource) next to an SSE-KMS configuration: the KMS
    finding stands."""
    run = mutate(BASE, "web-logs-sse", setter(["rules"], [
        {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]))
    run = add_resource(run, "aws:s3/bucketVersioningV2:BucketVersioningV2", "web-logs-versioning",
                       {"bucket": BUCKET, "versioningConfiguration": {"status": "Enabled"}}, {"id": BUCKET},
                       deps={"bucket": ["web-logs-bucket"]})
    assert said(pack, run) == [bucket_report(KMS)]
