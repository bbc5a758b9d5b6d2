"""The web tier: network, logs, load balancer, pools, routing, alarms, dashboard, and the rollback snapshot."""

from __future__ import annotations

from typing import Optional

import pulumi

from .alarms import Alarms
from .dashboard import Dashboard
from .known_good import KnownGood
from .load_balancer import LoadBalancer
from .logs import LogBucket
from .network import Network
from .pool import Pool
from .routing import Routing
from .settings import WebTierSettings
from lbguard.core import names
from lbguard.core.snapshot import build_snapshot, camelize


class WebTier(pulumi.ComponentResource):
    def __init__(self, name: str, settings: WebTierSettings, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("web-tier:index:WebTier", name, None, opts)
        s = settings
        child = pulumi.ResourceOptions(parent=self)
        tags = {"project": s.project, "stack": s.stack, "managed-by": "pulumi", **s.tags}

        self.network = Network(f"{name}-net", s.network, tags, opts=child)
        access_logs = connection_logs = None
        lb_opts = child
        self.logs: LogBucket | None = None
        if s.observability.access_logs:
            self.logs = LogBucket(f"{name}-logs", settings=s.observability, stack=s.stack, tags=tags, opts=child)
            access_logs = {"bucket": self.logs.bucket_name, "prefix": self.logs.prefix, "enabled": True}
            connection_logs = {"bucket": self.logs.bucket_name, "prefix": self.logs.connection_prefix, "enabled": True}
            # ELB checks it may write to the bucket when logging is switched on.
            if self.logs.policy is not None:
                lb_opts = pulumi.ResourceOptions(parent=self, depends_on=[self.logs.policy])
        # An internal load balancer has no internet route to offer: it goes in the private subnets.
        lb_subnets = self.network.private_subnet_ids if s.load_balancer.internal else self.network.public_subnet_ids
        self.load_balancer = LoadBalancer(
            names.load_balancer(name), lb_name=s.load_balancer_name(), label=f"{s.project}-{s.stack}", settings=s.load_balancer,
            listeners=s.listeners, vpc_id=self.network.vpc_id, vpc_cidr=self.network.vpc_cidr,
            subnet_ids=lb_subnets, peak_rps=s.peak_requests_per_second,
            access_logs=access_logs, connection_logs=connection_logs, tags=tags, opts=lb_opts)

        self.pools: dict[str, Pool] = {}
        for key, pool in s.pools.items():
            self.pools[key] = Pool(
                names.pool(name, key), key=key, settings=pool, tg_name=s.target_group_name(key),
                asg_name=f"{s.project}-{s.stack}-{key}", vpc_id=self.network.vpc_id,
                subnet_ids=self.network.private_subnet_ids,
                alb_security_group_id=self.load_balancer.security_group.id,
                alb_arn_suffix=self.load_balancer.arn_suffix, tags=tags, opts=child)
        tg_arns = {k: p.target_group.arn for k, p in self.pools.items()}

        self.routing = Routing(names.routing(name), load_balancer_arn=self.load_balancer.arn,
                               listeners=s.listeners, routing=s.routing, tg_arns=tg_arns, tags=tags,
                               pool_groups={k: p.asg for k, p in self.pools.items()}, opts=child)
        for key, pool in self.pools.items():
            pool.scale_on_requests(self.routing.forwarders(key))

        # Alarms and dashboard watch what routing points at: the LB and target-group ARN
        # suffixes, with intended shares from the same settings the routing was built from.
        tg_suffixes = {k: p.target_group.arn_suffix for k, p in self.pools.items()}
        self.alarms = Alarms(f"{name}-alarms", settings=s, lb_suffix=self.load_balancer.arn_suffix,
                             tg_suffixes=tg_suffixes, opts=pulumi.ResourceOptions(parent=self, depends_on=[self.routing]))
        self.dashboard = Dashboard(f"{name}-dashboard", settings=s, lb_suffix=self.load_balancer.arn_suffix,
                                   tg_suffixes=tg_suffixes, alarm_arns=self.alarms.alarm_arns,
                                   aliases=[pulumi.Alias(name=f"{name}-alarms-dashboard", parent=self.alarms)],
                                   opts=child)

        self.rollback = pulumi.Output.all(
            lb=pulumi.Output.all(arn=self.load_balancer.arn, name=self.load_balancer.alb.name),
            tgs=pulumi.Output.all(**{k: pulumi.Output.all(arn=p.target_group.arn, name=p.target_group.name)
                                     for k, p in self.pools.items()}),
            listeners=pulumi.Output.from_input(self.routing.plan),
        ).apply(lambda v: build_snapshot(project=s.project, stack=s.stack, load_balancer=v["lb"],
                                         target_groups=v["tgs"], listeners=camelize(v["listeners"])))
        alarm_names = self.alarms.alarm_names
        self.known_good = KnownGood(
            f"{name}-known-good", settings=s, snapshot=self.rollback, lb_arn_suffix=self.load_balancer.arn_suffix,
            alarm_topic_arn=self.alarms.topic.arn,
            trigger_alarms=[n for kind in ("shareSkew", "unhealthyHosts", "target5xxRate", "elb5xx")
                            for n in alarm_names[kind]],
            opts=child)
        self.dns_name = self.load_balancer.dns_name
        self.register_outputs({"dnsName": self.dns_name, "rollback": self.rollback})
