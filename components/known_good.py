"""The routing snapshot in SSM, and the opt-in automatic rollback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import pulumi
import pulumi_aws as aws

from .settings import WebTierSettings
from lbguard.live import state

# The installed lbguard package (this checkout when editable, site-packages from a wheel).
LBGUARD_DIR = Path(state.__file__).resolve().parents[1]
# The function's code: lbguard's pure core and its live layer (boto3 only), as folders. The
# layer contract (.importlinter) keeps both free of pulumi, moto and the CLI; jsonschema is not
# in the Lambda Python runtime (boto3 is), so snapshots are checked with lbguard.core.schema_check
# (tests/core/test_schema_check.py runs the bundle with only the stdlib and boto3).
LAMBDA_PACKAGES = ("core", "live")


def lambda_bundle() -> dict[str, Path]:
    """Archive path -> file for the function's code: ``lbguard/__init__.py`` and every module and
    data file of the core and live packages."""
    files = {"lbguard/__init__.py": LBGUARD_DIR / "__init__.py"}
    for package in LAMBDA_PACKAGES:
        for path in sorted((LBGUARD_DIR / package).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
                files[path.relative_to(LBGUARD_DIR.parent).as_posix()] = path
    return files


def rollback_policy_document(*, region: str, account: str, lb_arn_suffix: str, project: str, stack: str,
                             log_group_arn: str) -> dict:
    """Least privilege for the auto-rollback function: this load balancer's listeners and
    rules, read access to describe them, its own SSM parameters (known-good and current
    to read; cool-down, lock, journal and freeze to write) and its log group.

    Resource types per action follow the Service Authorization Reference for Elastic Load
    Balancing V2 (https://docs.aws.amazon.com/service-authorization/latest/reference/
    list_awselasticloadbalancingv2.html): CreateRule/DeleteListener/Modify* act on the
    listener or listener-rule, CreateListener on the load balancer, Describe* on "*"."""
    elb = f"arn:aws:elasticloadbalancing:{region}:{account}"
    ssm = f"arn:aws:ssm:{region}:{account}:parameter"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "RestoreRouting", "Effect": "Allow",
             "Action": ["elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule",
                        "elasticloadbalancing:SetRulePriorities", "elasticloadbalancing:DeleteRule",
                        "elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteListener"],
             "Resource": [f"{elb}:listener/{lb_arn_suffix}/*", f"{elb}:listener-rule/{lb_arn_suffix}/*"]},
            {"Sid": "RecreateListener", "Effect": "Allow", "Action": ["elasticloadbalancing:CreateListener"],
             "Resource": [f"{elb}:loadbalancer/{lb_arn_suffix}"]},
            {"Sid": "ReadRouting", "Effect": "Allow",
             "Action": ["elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeRules",
                        "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth"],
             "Resource": "*"},
            {"Sid": "ReadSnapshots", "Effect": "Allow", "Action": ["ssm:GetParameter"],
             "Resource": [ssm + state.ssm_name(project, stack, w) for w in ("known-good", "current")]},
            {"Sid": "CoolDownLockFreeze", "Effect": "Allow",
             "Action": ["ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter"],
             "Resource": [ssm + state.ssm_name(project, stack, w) for w in ("last-auto-rollback", "lock", "freeze")]},
            {"Sid": "Journal", "Effect": "Allow", "Action": ["ssm:GetParameter", "ssm:PutParameter"],
             "Resource": [ssm + state.ssm_name(project, stack, "journal/*")]},
            {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": [f"{log_group_arn}:*"]},
        ],
    }


class KnownGood(pulumi.ComponentResource):
    """Writes the current routing snapshot to ``/<project>/<stack>/routing/current``.

    ``lbguard promote`` copies a verified snapshot to ``.../known-good`` (parameter
    versions keep the history). With ``rollback.automatic``, a Lambda built from
    lbguard's own rollback code restores known-good when the stack's skew,
    unhealthy-host or 5XX alarms fire, at most once per cool-down.
    """

    def __init__(self, name: str, *, settings: WebTierSettings, snapshot: pulumi.Output, lb_arn_suffix: pulumi.Input[str],
                 alarm_topic_arn: pulumi.Input[str], trigger_alarms: list[str],
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("web-tier:rollback:KnownGood", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        s = settings
        encoded = snapshot.apply(state.encode_snapshot)
        self.current = aws.ssm.Parameter(
            f"{name}-current", name=state.ssm_name(s.project, s.stack, "current"), type="String",
            value=encoded.apply(lambda e: e[0]), tier=encoded.apply(lambda e: e[1]), description=f"{s.project}/{s.stack}: routing snapshot of the last deploy",
            opts=child)
        self.function = None
        if s.rollback.automatic:
            self._automatic(name, s, lb_arn_suffix, alarm_topic_arn, trigger_alarms)
        self.register_outputs({"currentParameter": self.current.name})

    def _automatic(self, name: str, s: WebTierSettings, lb_arn_suffix, alarm_topic_arn, trigger_alarms) -> None:
        child = pulumi.ResourceOptions(parent=self)
        fn_name = f"{s.project}-{s.stack}-auto-rollback"
        log_group = aws.cloudwatch.LogGroup(f"{name}-logs", name=f"/aws/lambda/{fn_name}", retention_in_days=90,
                                            opts=child)
        role = aws.iam.Role(f"{name}-role", assume_role_policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                           "Action": "sts:AssumeRole"}]}), opts=child)
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        self.policy_document = pulumi.Output.all(region, account, lb_arn_suffix, log_group.arn).apply(
            lambda v: rollback_policy_document(region=v[0], account=v[1], lb_arn_suffix=v[2], project=s.project,
                                               stack=s.stack, log_group_arn=v[3]))
        # The one load balancer the function may touch (a snapshot naming another is refused).
        lb_arn = pulumi.Output.concat("arn:aws:elasticloadbalancing:", region, ":", account, ":loadbalancer/",
                                      lb_arn_suffix)
        policy = aws.iam.RolePolicy(f"{name}-policy", role=role.id,
                                    policy=self.policy_document.apply(json.dumps), opts=child)
        code = pulumi.AssetArchive({name: pulumi.FileAsset(str(path)) for name, path in lambda_bundle().items()})
        self.function = aws.lambda_.Function(
            f"{name}-function", name=fn_name, runtime="python3.12", handler="lbguard.live.lambda_handler.handler",
            role=role.arn, code=code, timeout=60, memory_size=256,
            # Unset by default: AWS keeps 100 executions of an account unreserved, so a
            # reservation fails on accounts with a low limit (web-tier:rollback.reservedConcurrency).
            # Without it two alarms at once may both pass the cool-down check and both
            # restore the same known-good routing concurrently (sequential re-runs converge;
            # concurrent ones are not tested). Reserve 1 where the account allows it.
            reserved_concurrent_executions=s.rollback.reserved_concurrency,
            environment={"variables": {"LBGUARD_PROJECT": s.project, "LBGUARD_STACK": s.stack,
                                       "LBGUARD_LOAD_BALANCER_ARN": lb_arn,
                                       "LBGUARD_COOLDOWN_SECONDS": str(s.rollback.cooldown_seconds),
                                       "LBGUARD_TRIGGER_ALARMS": ",".join(trigger_alarms)}},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, log_group]))
        permission = aws.lambda_.Permission(f"{name}-invoke", function=self.function.name, action="lambda:InvokeFunction",
                                            principal="sns.amazonaws.com", source_arn=alarm_topic_arn, opts=child)
        aws.sns.TopicSubscription(f"{name}-subscription", topic=alarm_topic_arn, protocol="lambda",
                                  endpoint=self.function.arn,
                                  opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]))
