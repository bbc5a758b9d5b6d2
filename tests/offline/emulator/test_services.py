"""The non-load-balancer types in eu-west-1: network with NAT, S3 hardening, IAM, Lambda, SNS, SSM, logs."""

from __future__ import annotations

import io
import json
import zipfile


def test_region_comes_from_stack_config(services):
    assert services.out["region"] == "eu-west-1"
    assert services.out["functionArn"].startswith("arn:aws:lambda:eu-west-1:123456789012:function:")


def test_nat_route_and_instance(services):
    ec2 = services.client("ec2")
    rt = ec2.describe_route_tables(RouteTableIds=[services.out["privateRouteTable"]])["RouteTables"][0]
    routes = {r.get("DestinationCidrBlock"): r for r in rt["Routes"]}
    assert routes["0.0.0.0/0"]["NatGatewayId"] == services.out["natGatewayId"]
    nat = ec2.describe_nat_gateways(NatGatewayIds=[services.out["natGatewayId"]])["NatGateways"][0]
    assert nat["SubnetId"] == services.resource("public", "Subnet").id
    assert nat["NatGatewayAddresses"][0]["AllocationId"] == services.resource("nat", "Eip").id
    inst = ec2.describe_instances(InstanceIds=[services.out["instanceId"]])["Reservations"][0]["Instances"][0]
    assert (inst["ImageId"], inst["InstanceType"], inst["SubnetId"]) == \
        ("ami-12c6146b", "t3.micro", services.resource("private", "Subnet").id)
    assert {t["Key"]: t["Value"] for t in inst["Tags"]} == {"Name": "server"}


def test_inline_egress_replaces_default(services):
    sg = services.client("ec2").describe_security_groups(GroupIds=[services.out["securityGroup"]])["SecurityGroups"][0]
    assert [(p["IpProtocol"], p["FromPort"], p["ToPort"], p["IpRanges"]) for p in sg["IpPermissionsEgress"]] == \
        [("tcp", 443, 443, [{"CidrIp": "0.0.0.0/0"}])]
    assert sg["IpPermissions"] == []


def test_bucket_hardening(services):
    s3 = services.client("s3")
    b = "emu-services-data"
    assert s3.get_bucket_location(Bucket=b)["LocationConstraint"] == "eu-west-1"
    rule = s3.get_bucket_encryption(Bucket=b)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"} and rule["BucketKeyEnabled"]
    assert s3.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    assert s3.get_bucket_ownership_controls(Bucket=b)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}]
    assert s3.get_bucket_versioning(Bucket=b)["Status"] == "Enabled"
    lc = s3.get_bucket_lifecycle_configuration(Bucket=b)["Rules"][0]
    assert (lc["ID"], lc["Status"], lc["Filter"], lc["Expiration"], lc["AbortIncompleteMultipartUpload"]) == (
        "expire-logs", "Enabled", {"Prefix": "logs/"}, {"Days": 90}, {"DaysAfterInitiation": 7})


def test_iam(services):
    iam = services.client("iam")
    role = iam.get_role(RoleName="emu-services-fn")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    inline = iam.get_role_policy(RoleName="emu-services-fn", PolicyName="logs")["PolicyDocument"]
    assert inline["Statement"][0]["Action"] == "logs:PutLogEvents"
    attached = iam.list_attached_role_policies(RoleName="emu-services-fn")["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["emu-services-read"]
    profile = iam.get_instance_profile(InstanceProfileName="emu-services-server")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == ["emu-services-fn"]
    assert profile["Arn"] == services.out["profileArn"]


def test_lambda_code_zipped_from_the_archive(services):
    lam = services.client("lambda")
    fn = lam.get_function(FunctionName="emu-services-fn")
    cfg = fn["Configuration"]
    assert (cfg["Runtime"], cfg["Handler"], cfg["Timeout"], cfg["MemorySize"]) == ("python3.12", "app.handler", 10, 256)
    assert cfg["Environment"]["Variables"] == {"STAGE": "test"}
    assert services.out["sourceCodeHash"] == cfg["CodeSha256"]
    # moto keeps the uploaded zip (in-process): it holds exactly the archive's assets.
    from moto.awslambda.models import lambda_backends

    held = lambda_backends["123456789012"]["eu-west-1"].get_function("emu-services-fn")
    with zipfile.ZipFile(io.BytesIO(held.code_bytes)) as zf:
        assert sorted(zf.namelist()) == ["VERSION", "app.py"]
        assert zf.read("VERSION") == b"1\n" and b"def handler" in zf.read("app.py")
    policy = json.loads(lam.get_policy(FunctionName="emu-services-fn")["Policy"])
    assert [(s["Sid"], s["Principal"]) for s in policy["Statement"]] == [("AllowSns", {"Service": "sns.amazonaws.com"})]


def test_sns_ssm_logs_dashboard(services):
    sns = services.client("sns")
    topic = services.resource("events", "Topic").id
    subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subs] == [("lambda", services.out["functionArn"])]
    p = services.client("ssm").get_parameters(Names=["/emu/services/weights"])["Parameters"][0]
    assert json.loads(p["Value"]) == {"blue": 50, "green": 50}
    meta = services.client("ssm").describe_parameters()["Parameters"][0]
    assert meta["Tier"] == "Advanced" and services.out["parameterTier"] == "Advanced"
    group = services.client("logs").describe_log_groups(logGroupNamePrefix="/emu/services/app")["logGroups"][0]
    assert group["retentionInDays"] == 14
    body = json.loads(services.client("cloudwatch").get_dashboard(DashboardName="emu-services")["DashboardBody"])
    assert body["widgets"][0]["properties"] == {"markdown": "hi"}


def test_unknown_invoke_answers_empty_and_is_recorded(services):
    assert services.out["unknownInvoke"] is None
    assert services.run.unknown_invokes == ["aws:ec2/getSubnets:getSubnets"]
    assert [tok for tok, _ in services.run.invokes] == ["aws:index/getRegion:getRegion",
                                                        "aws:ec2/getSubnets:getSubnets"]
