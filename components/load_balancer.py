"""The Application Load Balancer and its security group."""

from __future__ import annotations

from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws

from .settings import ListenerSettings, LoadBalancerSettings
from lbguard.core import names


# The preview (lbguard.offline.preview) reads this tag: traffic windows caused by replacing this
# load balancer were accepted by the stack's settings.
ACCEPTS_DOWNTIME_TAG = "lbguard:accepts-downtime"


def replacement_options(settings: LoadBalancerSettings) -> dict:
    """How a replacement of the load balancer deploys.

    The program sets its name, so pulumi-terraform-bridge would delete it first
    (provider.go Diff, ``nameRequiresDeleteBeforeReplace``). A replacement is never free of
    downtime (the new listeners cannot take the target groups while the old load balancer
    holds them: TargetGroupAssociationLimit), so by default the load balancer is protected:
    the engine refuses the replacement before creating anything (step_generator.go, "we do
    allow unprotecting and replacing to happen in a single update cycle"). With
    ``acceptReplacementDowntime`` it is unprotected and deleted first, listeners and rules
    with it (the engine's dependent replacements), then created anew.
    """
    if settings.accept_replacement_downtime:
        return {"protect": False, "delete_before_replace": True}
    return {"protect": True, "delete_before_replace": False}


class LoadBalancer(pulumi.ComponentResource):
    """ALB with secure attributes on and a security group open on the listener ports only.

    Internet-facing: the listener ports from anywhere (IPv4 and IPv6). Internal: from the
    VPC's CIDR only. Egress is added per pool (to the instance security group on the
    pool's port) by :class:`components.pool.Pool`; nothing else leaves.
    """

    def __init__(self, name: str, *, lb_name: str, label: str, settings: LoadBalancerSettings,
                 listeners: ListenerSettings, vpc_id: pulumi.Input[str], vpc_cidr: pulumi.Input[str],
                 subnet_ids: Sequence[pulumi.Input[str]], peak_rps: float,
                 access_logs: Optional[dict] = None, connection_logs: Optional[dict] = None,
                 tags: dict[str, str], opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("web-tier:lb:LoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # A group's description forces its replacement (aws_security_group description is
        # ForceNew, lbguard/core/provider_facts): it names the stack (``label``), never a value a
        # user edits such as the hashed load-balancer name or a port.
        self.security_group = aws.ec2.SecurityGroup(
            names.part(name, "sg"), vpc_id=vpc_id, description=f"{label} load balancer: listener ports only",
            tags={**tags, "Name": names.part(name, "sg")}, opts=child)
        self.alb = aws.lb.LoadBalancer(
            names.part(name, "alb"),
            name=lb_name,
            load_balancer_type="application",
            internal=settings.internal,
            security_groups=[self.security_group.id],
            subnets=list(subnet_ids),
            enable_deletion_protection=settings.deletion_protection,
            drop_invalid_header_fields=settings.drop_invalid_headers,
            desync_mitigation_mode=settings.desync_mitigation,
            idle_timeout=settings.idle_timeout_seconds,
            enable_http2=settings.http2,
            access_logs=access_logs,
            connection_logs=connection_logs,
            tags={**tags, "lbguard:peak-rps": f"{peak_rps:g}",
                  **({ACCEPTS_DOWNTIME_TAG: "replacement"} if settings.accept_replacement_downtime else {})},
            opts=pulumi.ResourceOptions(parent=self, **replacement_options(settings)),
        )
        # The listener ports open after the load balancer's step: a refused replacement of it
        # (protect) stops the deploy before they change (an internal flip narrows them).
        ports = [listeners.http_port] if listeners.insecure_http_only else [listeners.http_port, listeners.https_port]
        sources = [("ipv4", {"cidr_ipv4": vpc_cidr})] if settings.internal else [
            ("ipv4", {"cidr_ipv4": "0.0.0.0/0"}), ("ipv6", {"cidr_ipv6": "::/0"})]
        for port in ports:
            for family, source in sources:
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-in-{port}-{family}", security_group_id=self.security_group.id,
                    ip_protocol="tcp", from_port=port, to_port=port,
                    description=f"listener port {port}", **source,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[self.alb]))

        self.arn = self.alb.arn
        self.arn_suffix = self.alb.arn_suffix
        self.dns_name = self.alb.dns_name
        self.register_outputs({"arn": self.alb.arn, "dnsName": self.alb.dns_name,
                               "securityGroupId": self.security_group.id})
