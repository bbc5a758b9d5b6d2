"""The web tier as a Pulumi component provider: ``web-tier:index:WebTier`` for any Pulumi language.

``pulumi package add`` runs the plugin (provider/__main__.py: ``component_provider_host``), whose
schema the SDK infers from the types here (pulumi 3.272, pulumi/provider/experimental/analyzer.py
``Analyzer.analyze_component``: the constructor's ``args`` annotation for the inputs, the class's
annotations for the outputs, docstrings after each field for the descriptions). The analyzer
reads TypedDicts but not pydantic models, drops their defaults and refuses ``Literal``, so the
inputs are TypedDicts that follow the settings model field by field (same snake_case names, so
the analyzer's camelCase mapping gives them back as the model's fields), enumerations as strings
named in the description, each default stated in its description. Validation stays in one place:
the args are checked by :class:`components.settings.WebTierSettings`, one line per problem.

What feeds resource names (keys of pools, rules and tags, the project, ports, protocols, the
network, ``internal``) is typed plain (no ``pulumi.Input``): the schema marks it ``plain`` and
the generated SDKs take a value, because a name cannot wait for another resource. The HTTPS
certificate is the one input that may be another resource's output (an ACM certificate created
beside the component).

No ``from __future__ import annotations`` here: the analyzer reads the annotations as objects.
"""

from typing import Any, NotRequired, Optional, TypedDict

import pulumi
from pydantic import ValidationError

from .settings import SettingsError, WebTierSettings, format_validation_error
from .web_tier import WebTier as _WebTier

# The settings model stands in for the certificate while it validates an output: a well-formed
# ARN that names nothing; the listener receives the real output.
_CERTIFICATE_STAND_IN = "arn:aws:acm:us-east-1:000000000000:certificate/00000000-0000-0000-0000-000000000000"


class Network(TypedDict):
    """The VPC: create one (cidr, azCount) or use an existing one (vpcId and subnet ids)."""

    cidr: NotRequired[str]
    """IPv4 block of a created VPC, /16 to /20. Default: 10.0.0.0/16."""
    az_count: NotRequired[int]
    """Availability Zones of a created VPC, 2 or 3. Default: 2."""
    nat_gateways: NotRequired[str]
    """NAT gateways of a created VPC: single or per-az. Default: single."""
    vpc_id: NotRequired[str]
    """An existing VPC (vpc-...); needs at least 2 publicSubnetIds and 2 privateSubnetIds. Default: none (create a VPC)."""
    public_subnet_ids: NotRequired[list[str]]
    """Public subnets of the existing VPC, one per AZ. Default: [] (none)."""
    private_subnet_ids: NotRequired[list[str]]
    """Private subnets of the existing VPC, one per AZ. Default: [] (none)."""


class HealthCheck(TypedDict):
    """How the load balancer checks a pool's instances."""

    path: NotRequired[str]
    """Path requested, starting with /. Default: /health."""
    protocol: NotRequired[str]
    """HTTP or HTTPS. Default: HTTP."""
    port: NotRequired[str]
    """traffic-port or a port 1..65535. Default: traffic-port."""
    matcher: NotRequired[str]
    """Healthy HTTP codes, 200..499 (e.g. 200, 200-299, 200,302). Default: 200."""
    interval_seconds: NotRequired[int]
    """Seconds between checks, 5..300, above timeoutSeconds. Default: 15."""
    timeout_seconds: NotRequired[int]
    """Seconds a check may take, 2..120. Default: 5."""
    healthy_threshold: NotRequired[int]
    """Consecutive successes before a target is healthy, 2..10. Default: 3."""
    unhealthy_threshold: NotRequired[int]
    """Consecutive failures before a target is unhealthy, 2..10. Default: 3."""


class InstanceRefresh(TypedDict):
    """Rolling replacement of a pool's instances when its launch template changes."""

    min_healthy_percentage: NotRequired[int]
    """Share of the pool kept in service during a refresh, 0..100. Default: 90."""
    instance_warmup_seconds: NotRequired[int]
    """Seconds a new instance warms up before it counts, 0..3600. Default: 120."""
    auto_rollback: NotRequired[bool]
    """Roll the refresh back when it fails. Default: true."""


class Pool(TypedDict):
    """A pool: target group, launch template and Auto Scaling group."""

    ami: str
    """The instances' AMI: ami- and 8 or 17 hex digits. Required."""
    instance_type: NotRequired[str]
    """An EC2 instance type the region offers. Default: t3.small."""
    instance_type_unlisted: NotRequired[bool]
    """Accept an instanceType newer than lbguard's offerings data. Default: false."""
    min_size: NotRequired[int]
    """Fewest instances, 0..500. Default: 2."""
    desired_capacity: NotRequired[int]
    """Instances at the first deploy (scaling owns it afterwards), minSize..maxSize. Default: 2."""
    max_size: NotRequired[int]
    """Most instances, 1..500. Default: 4."""
    capacity_rps: float
    """Requests/s one instance serves (capacity checks and scaling targets). Required."""
    port: NotRequired[int]
    """Port the instances serve on, 1..65535. Default: 80."""
    protocol: NotRequired[str]
    """HTTP or HTTPS to the instances. Default: HTTP."""
    health_check: NotRequired[HealthCheck]
    """The target group's health check. Default: every HealthCheck default."""
    slow_start_seconds: NotRequired[int]
    """Slow start, 30..900 seconds, or 0 for none. Default: 0."""
    deregistration_delay_seconds: NotRequired[int]
    """Seconds a leaving target drains, 0..3600. Default: 60."""
    algorithm: NotRequired[str]
    """round_robin, least_outstanding_requests or weighted_random. Default: least_outstanding_requests."""
    anomaly_mitigation: NotRequired[bool]
    """Automatic target weights (weighted_random only). Default: false."""
    health_check_grace_seconds: NotRequired[int]
    """Seconds a new instance is spared ELB health checks, 0..7200. Default: 300."""
    cpu_target_percent: NotRequired[float]
    """Target tracking on average CPU, percent, above 0 up to 100. Default: 50."""
    request_target_utilisation: NotRequired[float]
    """Target tracking on requests per target, as a fraction of capacityRps, above 0 up to 1. Default: 0.7."""
    instance_refresh: NotRequired[InstanceRefresh]
    """Instance refresh settings. Default: every InstanceRefresh default."""
    user_data: NotRequired[str]
    """User data, at most 16 KB before base64 encoding. Default: none."""
    root_volume_gib: NotRequired[int]
    """Encrypted root volume size, 8..16384 GiB. Default: 20."""
    root_device_name: NotRequired[str]
    """The AMI's root device (/dev/xvda, /dev/sda1, ...). Default: none (read from the AMI)."""


class LoadBalancer(TypedDict):
    """The Application Load Balancer's own attributes."""

    internal: NotRequired[bool]
    """An internal load balancer in the private subnets (changing it replaces the load balancer). Default: false."""
    accept_replacement_downtime: NotRequired[bool]
    """Accept the downtime of replacing the load balancer (an internal flip deletes it, with its listeners, before the new one exists); without it such a change is refused before any write. Default: false."""
    deletion_protection: NotRequired[bool]
    """Refuse deletion of the load balancer. Default: true."""
    drop_invalid_headers: NotRequired[bool]
    """Drop invalid HTTP header fields. Default: true."""
    desync_mitigation: NotRequired[str]
    """monitor, defensive or strictest. Default: defensive."""
    idle_timeout_seconds: NotRequired[int]
    """Idle connection timeout, 1..4000 seconds. Default: 60."""
    http2: NotRequired[bool]
    """Serve HTTP/2. Default: true."""


class Listeners(TypedDict):
    """HTTPS plus an HTTP listener that redirects to it; insecureHttpOnly is the explicit opt-out."""

    certificate_arn: NotRequired[pulumi.Input[str]]
    """ACM certificate of the HTTPS listener (may be another resource's output). Required unless insecureHttpOnly. Default: none."""
    ssl_policy: NotRequired[str]
    """A TLS 1.2+ ELB security policy. Default: ELBSecurityPolicy-TLS13-1-2-2021-06."""
    https_port: NotRequired[int]
    """Port of the HTTPS listener. Default: 443."""
    http_port: NotRequired[int]
    """Port of the HTTP listener. Default: 80."""
    http_redirect: NotRequired[bool]
    """The HTTP listener redirects to HTTPS. Default: true."""
    insecure_http_only: NotRequired[bool]
    """One plain HTTP listener serving the routing, no TLS (explicit opt-out). Default: false."""


class Forward(TypedDict):
    """A weighted forward to pools."""

    weights: dict[str, int]
    """Pool key -> weight 0..999, at most 5 pools, positive sum. Required."""
    stickiness_seconds: NotRequired[int]
    """Target-group stickiness of the forward, 0 (off)..604800 seconds. Default: 0."""


class FixedResponse(TypedDict):
    """A fixed response instead of a forward."""

    status_code: NotRequired[int]
    """HTTP status, 200..599. Default: 404."""
    content_type: NotRequired[str]
    """text/plain, text/css, text/html, application/javascript or application/json. Default: text/plain."""
    message_body: NotRequired[str]
    """Body, at most 1024 characters. Default: "" (empty)."""


class Action(TypedDict):
    """Exactly one of forward or fixedResponse."""

    forward: NotRequired[Forward]
    """Forward to pools. Default: none."""
    fixed_response: NotRequired[FixedResponse]
    """Answer with a fixed response. Default: none."""


class Condition(TypedDict):
    """A rule's conditions (AND across kinds, OR within one), at most 5 values in all."""

    host: NotRequired[list[str]]
    """Host patterns (a '.', letters after the last one; * and ? wildcards). Default: [] (none)."""
    path: NotRequired[list[str]]
    """Path patterns (* and ? wildcards). Default: [] (none)."""
    headers: NotRequired[dict[str, list[str]]]
    """Header name (an HTTP token) -> value patterns. Default: {} (none)."""
    query: NotRequired[dict[str, str]]
    """Query key -> value pattern. Default: {} (none)."""
    methods: NotRequired[list[str]]
    """HTTP methods: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS. Default: [] (none)."""
    source_ips: NotRequired[list[str]]
    """Client CIDR blocks. Default: [] (none)."""


class Rule(TypedDict):
    """A listener rule: priority, conditions and exactly one of forward or fixedResponse."""

    forward: NotRequired[Forward]
    """Forward to pools. Default: none."""
    fixed_response: NotRequired[FixedResponse]
    """Answer with a fixed response. Default: none."""

    priority: int
    """Evaluation order, 1..50000, unique per listener. Required."""
    conditions: Condition
    """What the rule matches. Required."""
    expected_share: NotRequired[float]
    """Fraction of the listener's requests the rule attracts, above 0 up to 1, used without a traffic profile. Default: none."""


class Routing(TypedDict):
    """The serving listener's default action and its rules, keyed by name."""

    default: Action
    """The default action. Required."""
    rules: NotRequired[dict[str, Rule]]
    """Rule key (lowercase, digits, -, at most 20) -> rule. Default: {} (none)."""


class Subscription(TypedDict):
    """Who hears the alarms."""

    protocol: str
    """email or https. Required."""
    endpoint: str
    """An email address or an https:// URL. Required."""


class Observability(TypedDict):
    """Logs, alarms and the dashboard (docs/observability.md)."""

    access_logs: NotRequired[bool]
    """Access and connection logs. Default: true."""
    log_bucket: NotRequired[str]
    """An existing bucket whose policy admits ALB log delivery. Default: none (create one)."""
    log_retention_days: NotRequired[int]
    """Days before log objects expire, 1..3650. Default: 90."""
    alarm_subscriptions: NotRequired[list[Subscription]]
    """Subscribers of the alarm topic, at most 10. Default: [] (none)."""
    alarm_period_seconds: NotRequired[int]
    """Alarm period: 60, 120 or 300. Default: 60."""
    alarm_evaluation_periods: NotRequired[int]
    """Periods an alarm looks back over, 1..10. Default: 3."""
    alarm_datapoints: NotRequired[int]
    """Breaching periods out of alarmEvaluationPeriods that fire it, 1..10. Default: 2."""
    share_skew_max_deviation: NotRequired[float]
    """Share deviation tolerated per target group, above 0 below 0.5. Default: 0.15."""
    share_skew_min_requests: NotRequired[int]
    """Requests a period below which shares are not judged. Default: 60."""
    target_5xx_rate_percent: NotRequired[float]
    """Target 5XX responses, percent of requests. Default: 5."""
    elb_5xx_count: NotRequired[int]
    """5XX the load balancer itself returns per period. Default: 10."""
    p99_latency_seconds: NotRequired[float]
    """p99 target response time, seconds. Default: 2.0."""
    imbalance_ratio: NotRequired[float]
    """Busiest pool's requests per target over the mean, above 1. Default: 2.0."""


class Rollback(TypedDict):
    """Automatic rollback of routing to the known-good snapshot when an alarm fires."""

    automatic: NotRequired[bool]
    """Deploy the alarm-triggered rollback function. Default: false."""
    cooldown_seconds: NotRequired[int]
    """Least seconds between two automatic rollbacks, 60..86400. Default: 900."""
    reserved_concurrency: NotRequired[int]
    """Reserved concurrent executions of the function, 1..900 (automatic only). Default: none."""


class WebTierArgs(TypedDict):
    """The web tier's settings: the same keys as the web-tier project's stack configuration."""

    project: NotRequired[str]
    """Prefix of the physical names (<project>-<stack>...). Default: the consuming program's Pulumi project name."""
    network: NotRequired[Network]
    """The VPC. Default: every Network default (a created 10.0.0.0/16 VPC over 2 AZs)."""
    load_balancer: NotRequired[LoadBalancer]
    """The load balancer's attributes. Default: every LoadBalancer default."""
    listeners: Listeners
    """Listeners and TLS. Required."""
    pools: dict[str, Pool]
    """Pool key (lowercase, digits, -, at most 20) -> pool, at least one. Required."""
    routing: Routing
    """Default action and rules. Required."""
    peak_requests_per_second: float
    """Peak requests/s the load balancer must carry (capacity checks). Required."""
    observability: NotRequired[Observability]
    """Logs, alarms, dashboard. Default: every Observability default."""
    rollback: NotRequired[Rollback]
    """Automatic rollback. Default: every Rollback default (off)."""
    tags: NotRequired[dict[str, str]]
    """Extra tags on every resource, at most 45, no aws: keys. Default: {} (none)."""


def settings_from_args(args: dict, *, name: str, stack: str, project: str,
                       region: Optional[str]) -> WebTierSettings:
    """The component's args (Python field names, as the provider maps them) as the settings
    model, validated once; a bad value raises :class:`SettingsError` (one line per problem)."""
    data = {k: v for k, v in dict(args).items() if v is not None}
    for key, value in data.items():
        if isinstance(value, pulumi.Output) and key != "listeners":
            raise SettingsError(f"WebTier {name}: input {key!r} must be a plain value, not another resource's output "
                                f"(it names resources)")
    certificate = None
    listeners = data.get("listeners")
    if isinstance(listeners, dict) and isinstance(listeners.get("certificate_arn"), pulumi.Output):
        certificate = listeners["certificate_arn"]
        data["listeners"] = {**listeners, "certificate_arn": _CERTIFICATE_STAND_IN}
    elif isinstance(listeners, pulumi.Output):
        raise SettingsError(f"WebTier {name}: input 'listeners' must be a plain object (only its certificateArn may "
                            f"be another resource's output)")
    data.setdefault("project", project)
    data["stack"] = stack
    try:
        settings = WebTierSettings.model_validate(data, context={"region": region})
    except ValidationError as err:
        raise SettingsError(format_validation_error(err, f"WebTier {name} args", camel=True)) from None
    if certificate is not None:
        settings = settings.model_copy(update={
            "listeners": settings.listeners.model_copy(update={"certificate_arn": certificate})})
    return settings


class WebTier(_WebTier):
    """An AWS web tier (VPC, Application Load Balancer with HTTPS, weighted routing to pools of Auto Scaling groups, access logs, alarms, dashboard) that exports a versioned routing snapshot (rollback) restorable with boto3 alone."""

    dns_name: pulumi.Output[str]
    """The load balancer's DNS name."""
    load_balancer_arn: pulumi.Output[str]
    """The load balancer's ARN."""
    zone_id: pulumi.Output[str]
    """The load balancer's canonical hosted zone (for a Route 53 alias to dnsName)."""
    load_balancer_security_group_id: pulumi.Output[str]
    """The load balancer's security group."""
    pool_security_group_ids: pulumi.Output[dict[str, str]]
    """Pool key -> the security group of its instances."""
    listener_arns: pulumi.Output[dict[str, str]]
    """Listener key -> ARN."""
    rule_arns: pulumi.Output[dict[str, str]]
    """Rule key -> ARN."""
    target_group_arns: pulumi.Output[dict[str, str]]
    """Pool key -> target group ARN."""
    auto_scaling_group_names: pulumi.Output[dict[str, str]]
    """Pool key -> Auto Scaling group name."""
    log_bucket: pulumi.Output[str]
    """The access-log bucket (absent when accessLogs is false)."""
    alarm_topic_arn: pulumi.Output[str]
    """The SNS topic the alarms publish to."""
    dashboard_name: pulumi.Output[str]
    """The CloudWatch dashboard."""
    alarm_names: pulumi.Output[dict[str, list[str]]]
    """Alarm kind -> alarm names."""
    rollback: pulumi.Output[dict[str, Any]]
    """The routing snapshot (schemaVersion 2, lbguard.core.snapshot): every listener's and rule's routing, what lbguard rollback restores."""

    def __init__(self, name: str, args: WebTierArgs, opts: Optional[pulumi.ResourceOptions] = None):
        from .settings import stack_region

        settings = settings_from_args(args, name=name, stack=pulumi.get_stack(), project=pulumi.get_project(),
                                      region=stack_region())
        super().__init__(name, settings, opts)
        self.load_balancer_arn = self.load_balancer.arn
        self.zone_id = self.load_balancer.alb.zone_id
        self.load_balancer_security_group_id = self.load_balancer.security_group.id
        self.pool_security_group_ids = _by_key({k: p.security_group.id for k, p in self.pools.items()})
        self.listener_arns = _by_key({k: l.arn for k, l in self.routing.listeners.items()})
        self.rule_arns = _by_key({k: r.arn for k, r in self.routing.rules.items()})
        self.target_group_arns = _by_key({k: p.target_group.arn for k, p in self.pools.items()})
        self.auto_scaling_group_names = _by_key({k: p.asg.name for k, p in self.pools.items()})
        self.log_bucket = self.logs.bucket_name if self.logs else None
        self.alarm_topic_arn = self.alarms.topic.arn
        self.dashboard_name = self.dashboard.dashboard_name
        self.alarm_names = pulumi.Output.from_input(self.alarms.alarm_names)


def _by_key(outputs: dict) -> pulumi.Output:
    return pulumi.Output.all(**outputs) if outputs else pulumi.Output.from_input({})
