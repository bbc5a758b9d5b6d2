"""Everything but the load balancer: NAT network, storage, IAM, Lambda, SSM, logs, dashboard."""
import json

import pulumi
import pulumi_aws as aws

region = aws.get_region_output().region
vpc = aws.ec2.Vpc("vpc", cidr_block="10.30.0.0/16")
public = aws.ec2.Subnet("public", vpc_id=vpc.id, cidr_block="10.30.0.0/24", availability_zone="eu-west-1a")
private = aws.ec2.Subnet("private", vpc_id=vpc.id, cidr_block="10.30.1.0/24", availability_zone="eu-west-1b")
eip = aws.ec2.Eip("nat", domain="vpc")
nat = aws.ec2.NatGateway("nat", subnet_id=public.id, allocation_id=eip.id)
private_rt = aws.ec2.RouteTable("private", vpc_id=vpc.id)
aws.ec2.Route("private-default", route_table_id=private_rt.id, destination_cidr_block="0.0.0.0/0",
              nat_gateway_id=nat.id)
aws.ec2.RouteTableAssociation("private", route_table_id=private_rt.id, subnet_id=private.id)
sg = aws.ec2.SecurityGroup("open-egress", vpc_id=vpc.id, description="egress given inline",
                           egress=[{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"]}])
server = aws.ec2.Instance("server", ami="ami-12c6146b", instance_type="t3.micro", subnet_id=private.id,
                          vpc_security_group_ids=[sg.id], tags={"Name": "server"})

bucket = aws.s3.Bucket("data", bucket="emu-services-data")
aws.s3.BucketServerSideEncryptionConfiguration(
    "data", bucket=bucket.id,
    rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}, "bucket_key_enabled": True}])
aws.s3.BucketPublicAccessBlock("data", bucket=bucket.id, block_public_acls=True, block_public_policy=True,
                               ignore_public_acls=True, restrict_public_buckets=True)
aws.s3.BucketOwnershipControls("data", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"})
aws.s3.BucketVersioning("data", bucket=bucket.id, versioning_configuration={"status": "Enabled"})
aws.s3.BucketLifecycleConfiguration(
    "data", bucket=bucket.id,
    rules=[{"id": "expire-logs", "status": "Enabled", "filter": {"prefix": "logs/"}, "expiration": {"days": 90},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 7}}])

assume = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
role = aws.iam.Role("fn", name="emu-services-fn", assume_role_policy=assume)
aws.iam.RolePolicy("fn-logs", role=role.name, name="logs", policy=json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}]}))
managed = aws.iam.Policy("read-data", name="emu-services-read", policy=bucket.arn.apply(lambda arn: json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{arn}/*"}]})))
aws.iam.RolePolicyAttachment("read-data", role=role.name, policy_arn=managed.arn)
profile = aws.iam.InstanceProfile("server", name="emu-services-server", role=role.name)

fn = aws.lambda_.Function(
    "fn", name="emu-services-fn", role=role.arn, runtime="python3.12", handler="app.handler", timeout=10,
    memory_size=256, code=pulumi.AssetArchive({"app.py": pulumi.FileAsset("handler/app.py"),
                                               "VERSION": pulumi.StringAsset("1\n")}),
    environment={"variables": {"STAGE": "test"}})
topic = aws.sns.Topic("events", name="emu-services-events")
aws.sns.TopicSubscription("fn", topic=topic.arn, protocol="lambda", endpoint=fn.arn)
aws.lambda_.Permission("sns", function=fn.name, action="lambda:InvokeFunction", principal="sns.amazonaws.com",
                       source_arn=topic.arn, statement_id="AllowSns")

param = aws.ssm.Parameter("weights", name="/emu/services/weights", type="String", tier="Advanced",
                          value=json.dumps({"blue": 50, "green": 50}))
log_group = aws.cloudwatch.LogGroup("app", name="/emu/services/app", retention_in_days=14)
dashboard = aws.cloudwatch.Dashboard("main", dashboard_name="emu-services", dashboard_body=json.dumps(
    {"widgets": [{"type": "text", "x": 0, "y": 0, "width": 6, "height": 2, "properties": {"markdown": "hi"}}]}))
unknown = aws.ec2.get_subnets_output(filters=[{"name": "vpc-id", "values": [vpc.id]}])

pulumi.export("region", region)
pulumi.export("functionArn", fn.arn)
pulumi.export("sourceCodeHash", fn.source_code_hash)
pulumi.export("instanceId", server.id)
pulumi.export("natGatewayId", nat.id)
pulumi.export("privateRouteTable", private_rt.id)
pulumi.export("parameterTier", param.tier)
pulumi.export("logGroupArn", log_group.arn)
pulumi.export("dashboardArn", dashboard.dashboard_arn)
pulumi.export("profileArn", profile.arn)
pulumi.export("securityGroup", sg.id)
pulumi.export("unknownInvoke", unknown.ids)
