"""Behaviour probes for the runner, selected by the `mode` config key."""
import asyncio

import pulumi
import pulumi_aws as aws

import helpers

mode = pulumi.Config().require("mode")


class Pool(pulumi.ComponentResource):
    def __init__(self, name, vpc_id, opts=None):
        super().__init__("emu:index:Pool", name, None, opts)
        self.tg = aws.lb.TargetGroup(f"{name}-tg", port=80, protocol="HTTP", vpc_id=vpc_id,
                                     opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"arn": self.tg.arn})


vpc = aws.ec2.Vpc("vpc", cidr_block="10.40.0.0/16")
subnets = [aws.ec2.Subnet(f"s{n}", vpc_id=vpc.id, cidr_block=f"10.40.{n}.0/24",
                          availability_zone=f"us-east-1{'ab'[n]}") for n in range(2)]
pool = Pool("web", vpc.id)
lb = aws.lb.LoadBalancer("lb", subnets=[s.id for s in subnets], internal=True)
listener = aws.lb.Listener("http", load_balancer_arn=lb.arn, port=80, protocol="HTTP",
                           default_actions=[{"type": "forward", "target_group_arn": pool.tg.arn}],
                           opts=pulumi.ResourceOptions(depends_on=[vpc]))

if mode == "apply-error":
    pulumi.export("boom", lb.arn.apply(lambda arn: {}["missing\nkey"]))
elif mode == "one-line":
    raise helpers.SettingsError("stacks/Pulumi.dev.yaml: emu-behaviour:mode: not a mode\nsecond line")
elif mode == "hang":
    async def never():
        await asyncio.Event().wait()
    pulumi.export("never", pulumi.Output.from_input(asyncio.ensure_future(never())))
elif mode == "bad-api-call":
    # botocore validates the request against the service model before moto sees it:
    # a health-check interval below 5 s is rejected as AWS would reject it.
    aws.lb.TargetGroup("bad", port=80, protocol="HTTP", vpc_id=vpc.id, health_check={"interval": 4})

pulumi.export("loaded", helpers.LOADED)
pulumi.export("listenerArn", listener.arn)
pulumi.export("pool", {"arn": pool.tg.arn, "port": 80})
pulumi.export("mode", mode)
