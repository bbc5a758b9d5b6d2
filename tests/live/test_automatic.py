"""The opt-in auto-rollback function, as AWS holds it (in-process moto, fresh state)."""

from __future__ import annotations

import boto3

from components.known_good import rollback_policy_document


def test_automatic_rollback_function_as_aws_holds_it(scratch):
    from lbguard.offline.emulator import emulated_aws, run_program

    cfg = scratch.config("dev")
    cfg["web-tier:rollback"] = {"automatic": True, "cooldownSeconds": 600}
    scratch.write("dev", cfg)
    with emulated_aws("us-east-1"):
        run = run_program(scratch.path, "dev")
        iam, lam, sns = (boto3.client(s, region_name="us-east-1") for s in ("iam", "lambda", "sns"))
        fn = lam.get_function(FunctionName="web-tier-dev-auto-rollback")["Configuration"]
        role = fn["Role"].rsplit("/", 1)[-1]
        (policy_name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
        held = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
        subs = sns.list_subscriptions_by_topic(TopicArn=run.outputs["alarmTopicArn"])["Subscriptions"]
    lb_suffix = run.outputs["loadBalancerArn"].split(":loadbalancer/")[1]
    assert held == rollback_policy_document(
        region="us-east-1", account="123456789012", lb_arn_suffix=lb_suffix, project="web-tier", stack="dev",
        log_group_arn="arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/web-tier-dev-auto-rollback")
    assert fn["Handler"] == "lbguard.live.lambda_handler.handler"
    env = fn["Environment"]["Variables"]
    assert env["LBGUARD_LOAD_BALANCER_ARN"] == run.outputs["loadBalancerArn"]
    assert env["LBGUARD_COOLDOWN_SECONDS"] == "600" and "web-tier-dev-share-skew-https-default" in env["LBGUARD_TRIGGER_ALARMS"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subs] == [("lambda", fn["FunctionArn"])]
