"""A pool: target group + health check + launch template + Auto Scaling group."""

from __future__ import annotations

import base64
from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws

from .settings import PoolSettings
from lbguard.core import names


def ports_from_load_balancer(pool: PoolSettings) -> list[int]:
    """Every port the load balancer must reach on an instance: traffic, and the health
    check's when it is not ``traffic-port``. Nothing else is admitted."""
    ports = [pool.port]
    hc = pool.health_check.port
    if hc != "traffic-port" and int(hc) != pool.port:
        ports.append(int(hc))
    return ports


def health_check_args(pool: PoolSettings) -> dict:
    hc = pool.health_check
    return {
        "enabled": True,
        "path": hc.path,
        "protocol": hc.protocol,
        "port": hc.port,
        "matcher": hc.matcher,
        "interval": hc.interval_seconds,
        "timeout": hc.timeout_seconds,
        "healthy_threshold": hc.healthy_threshold,
        "unhealthy_threshold": hc.unhealthy_threshold,
    }


class Pool(pulumi.ComponentResource):
    """One pool of identical instances behind one target group.

    The target group's physical name is chosen by the settings (stable, <= 32 chars);
    weights and health checks are updated in place. The Auto Scaling group replaces
    unhealthy instances on the ELB's verdict (after a grace period) and scales on
    requests per target and on CPU.
    """

    def __init__(self, name: str, *, key: str, settings: PoolSettings, tg_name: str, asg_name: str,
                 vpc_id: pulumi.Input[str], subnet_ids: Sequence[pulumi.Input[str]],
                 alb_security_group_id: pulumi.Input[str], alb_arn_suffix: pulumi.Input[str],
                 tags: dict[str, str], opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("web-tier:pool:Pool", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._name, self._settings = name, settings
        self.target_group = self._target_group(name, key, settings, tg_name, vpc_id, tags)
        self.security_group = self._instance_security_group(name, key, vpc_id, tags)
        self._admit_load_balancer(name, key, settings, alb_security_group_id, child)
        aws.vpc.SecurityGroupEgressRule(
            names.part(name, "https-out"), security_group_id=self.security_group.id, ip_protocol="tcp",
            from_port=443, to_port=443, cidr_ipv4="0.0.0.0/0",
            description="HTTPS out through the NAT (packages, SSM, AWS APIs)", opts=child)
        self.launch_template = self._launch_template(name, key, settings, tags)
        self.asg = self._auto_scaling_group(name, key, settings, asg_name, subnet_ids, tags)
        # ALBRequestCountPerTarget needs "app/<lb>/<id>/targetgroup/<tg>/<id>"; the policy
        # itself waits for the routing (scale_on_requests).
        self.resource_label = pulumi.Output.concat(alb_arn_suffix, "/", self.target_group.arn_suffix)
        self.requests_policy: aws.autoscaling.Policy | None = None
        aws.autoscaling.Policy(
            names.part(name, "cpu"),
            autoscaling_group_name=self.asg.name,
            policy_type="TargetTrackingScaling",
            target_tracking_configuration={
                "predefined_metric_specification": {"predefined_metric_type": "ASGAverageCPUUtilization"},
                "target_value": settings.cpu_target_percent,
            },
            opts=child,
        )
        self.register_outputs({
            "targetGroupArn": self.target_group.arn,
            "autoScalingGroupName": self.asg.name,
            "launchTemplateId": self.launch_template.id,
        })

    def _target_group(self, name: str, key: str, s: PoolSettings, tg_name: str, vpc_id: pulumi.Input[str],
                      tags: dict[str, str]) -> aws.lb.TargetGroup:
        """The target group. Its name hashes every property that forces its replacement (port,
        protocol, network: WebTierSettings.target_group_name), so a replacement has a fresh
        name and may be created before the old one is deleted. The program sets the name, so
        pulumi-terraform-bridge would ask for delete-before-replace (provider.go Diff,
        nameRequiresDeleteBeforeReplace) and the old group, still forwarded to, could not be
        deleted (ResourceInUse): the program's own option overrides it (step_generator.go:
        the deleteBeforeReplace resource option, true or false, wins)."""
        return aws.lb.TargetGroup(
            names.part(name, "tg"),
            name=tg_name,
            port=s.port,
            protocol=s.protocol,
            target_type="instance",
            vpc_id=vpc_id,
            health_check=health_check_args(s),
            slow_start=s.slow_start_seconds,
            deregistration_delay=s.deregistration_delay_seconds,
            load_balancing_algorithm_type=s.algorithm,
            load_balancing_anomaly_mitigation="on" if s.anomaly_mitigation else "off",
            tags={**tags, "lbguard:pool": key},
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=False),
        )

    def _instance_security_group(self, name: str, key: str, vpc_id: pulumi.Input[str],
                                 tags: dict[str, str]) -> aws.ec2.SecurityGroup:
        """Instances accept the traffic and health-check ports from the load balancer's group
        and nothing else. The description forces replacement (aws_security_group description
        is ForceNew) and instances hold the group, so it names only the pool key;
        ignore_changes keeps groups deployed with the older port-bearing description (a
        replacement would wait on DependencyViolation until the instances leave)."""
        return aws.ec2.SecurityGroup(
            names.part(name, "instance-sg"), vpc_id=vpc_id,
            description=f"pool {key}: from the load balancer only",
            tags={**tags, "Name": names.part(name, "instance-sg")},
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["description"]))

    def _launch_template(self, name: str, key: str, s: PoolSettings, tags: dict[str, str]) -> aws.ec2.LaunchTemplate:
        user_data = base64.b64encode(s.user_data.encode()).decode() if s.user_data else None
        return aws.ec2.LaunchTemplate(
            names.part(name, "lt"),
            image_id=s.ami,
            instance_type=s.instance_type,
            vpc_security_group_ids=[self.security_group.id],
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",  # IMDSv2 only
                "http_put_response_hop_limit": 1,
                "instance_metadata_tags": "disabled",
            },
            # The root volume must be the AMI's root device, or EC2 adds a second, empty
            # volume and the root keeps the AMI's (unencrypted) mapping.
            block_device_mappings=[{
                "device_name": self._root_device(name, s),
                "ebs": {"volume_size": s.root_volume_gib, "volume_type": "gp3", "encrypted": "true",
                        "delete_on_termination": "true"},
            }],
            monitoring={"enabled": True},
            user_data=user_data,
            update_default_version=True,
            tag_specifications=[{"resource_type": "instance", "tags": {**tags, "Name": f"{name}", "lbguard:pool": key}}],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _auto_scaling_group(self, name: str, key: str, s: PoolSettings, asg_name: str,
                            subnet_ids: Sequence[pulumi.Input[str]], tags: dict[str, str]) -> aws.autoscaling.Group:
        """desiredCapacity is the initial size only: the scaling policies own it afterwards.
        The provider's desired_capacity is Optional+Computed (UpdateAutoScalingGroup sends it
        whenever the program's value differs from the live one), so without ignore_changes
        every `up` would reset a scaled-out group to the stack value. minSize/maxSize stay
        applied: AWS raises or lowers the desired count into them.

        ``min_elb_capacity``: the create waits until that many instances are healthy in the
        target group (terraform-provider-aws autoscaling/group.go resourceGroupCreate,
        waitGroupCapacitySatisfied; "only on creation", unlike wait_for_elb_capacity which
        every capacity update waits for exactly), so routing that depends on the group moves
        traffic only to healthy targets (Routing.forwarders)."""
        refresh = s.instance_refresh
        return aws.autoscaling.Group(
            names.part(name, "asg"),
            name=asg_name,
            min_size=s.min_size,
            max_size=s.max_size,
            desired_capacity=s.desired_capacity,
            min_elb_capacity=s.min_size,
            vpc_zone_identifiers=list(subnet_ids),
            target_group_arns=[self.target_group.arn],
            health_check_type="ELB",
            health_check_grace_period=s.health_check_grace_seconds,
            launch_template={"id": self.launch_template.id,
                             "version": self.launch_template.latest_version.apply(str)},
            instance_refresh={
                "strategy": "Rolling",
                "preferences": {
                    "min_healthy_percentage": refresh.min_healthy_percentage,
                    "instance_warmup": str(refresh.instance_warmup_seconds),
                    "auto_rollback": refresh.auto_rollback,
                },
            },
            tags=[{"key": k, "value": v, "propagate_at_launch": False} for k, v in
                  {**tags, "lbguard:pool": key, "lbguard:rps-per-instance": f"{s.capacity_rps:g}"}.items()],
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["desiredCapacity"]),
        )

    def _admit_load_balancer(self, name: str, key: str, s: PoolSettings, alb_sg_id: pulumi.Input[str],
                             child: pulumi.ResourceOptions) -> None:
        """ALB egress and instance ingress for each port of :func:`ports_from_load_balancer`.

        The traffic port keeps the names it always had; a separate health-check port gets
        ``-hc`` rules, so changing either port updates the rule in place (from/to ports are
        not ForceNew on aws_vpc_security_group_*_rule).
        """
        for i, port in enumerate(ports_from_load_balancer(s)):
            tail, what = ("", "traffic and health checks") if i == 0 else ("-hc", "health checks")
            aws.vpc.SecurityGroupIngressRule(
                names.part(name, f"from-alb{tail}"), security_group_id=self.security_group.id, ip_protocol="tcp",
                from_port=port, to_port=port, referenced_security_group_id=alb_sg_id,
                description=f"{what} from the load balancer", opts=child)
            aws.vpc.SecurityGroupEgressRule(
                names.part(name, f"alb-to-pool{tail}"), security_group_id=alb_sg_id, ip_protocol="tcp",
                from_port=port, to_port=port, referenced_security_group_id=self.security_group.id,
                description=f"load balancer to pool {key}" + (" (health checks)" if i else ""), opts=child)

    def _root_device(self, name: str, s: PoolSettings) -> pulumi.Input[str]:
        """The AMI's root device name: the setting, else EC2's answer for the image."""
        if s.root_device_name:
            return s.root_device_name
        image = aws.ec2.get_ami_output(filters=[{"name": "image-id", "values": [s.ami]}],
                                       opts=pulumi.InvokeOutputOptions(parent=self))
        return image.root_device_name

    def scale_on_requests(self, attached_by: Sequence[pulumi.Resource]) -> None:
        """Target tracking on ALBRequestCountPerTarget, once routing forwards to this pool.

        PutScalingPolicy validates the resource label against the load balancer, which knows
        the target group only once a listener or rule forwards to it (CDK's
        ``loadBalancerAttached`` ordering): the policy depends on ``attached_by``. A pool no
        forward names gets no such policy (its metric would never exist); CPU scaling stays.
        """
        if not attached_by:
            return
        # Registered after the constructor's register_outputs: the routing that attaches the
        # target group is built after the pools (it needs their ARNs). The engine only needs
        # the parent; the URN is the one the policy always had.
        s = self._settings
        self.requests_policy = aws.autoscaling.Policy(
            names.part(self._name, "requests-per-target"),
            autoscaling_group_name=self.asg.name,
            policy_type="TargetTrackingScaling",
            target_tracking_configuration={
                "predefined_metric_specification": {
                    "predefined_metric_type": "ALBRequestCountPerTarget",
                    "resource_label": self.resource_label,
                },
                "target_value": s.requests_per_target_per_minute,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(attached_by)),
        )
