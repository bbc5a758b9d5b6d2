"""The stack's settings: every config key, parsed once into one validated model.

Stack files (``stacks/Pulumi.<stack>.yaml``) hold one structured value per area
(``web-tier:network``, ``web-tier:pools``, ...); keys are camelCase there and
snake_case here. A bad value raises :class:`SettingsError` whose message is one line:
the key path as written in the stack file, the rule, and the value received.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import (BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator,
                      model_validator)
from pydantic.alias_generators import to_camel

from lbguard.core import aws_names, names
from lbguard.core.model import LbguardError
from lbguard.core.traffic import MAX_TARGET_GROUPS_PER_FORWARD, MAX_WEIGHT

PROJECT = "web-tier"
TARGET_GROUP_NAME_MAX = 32
LB_NAME_MAX = 32

# Config keys (bare, without the project prefix) -> the settings field they fill.
CONFIG_KEYS = {
    "network": "network",
    "loadBalancer": "load_balancer",
    "listeners": "listeners",
    "pools": "pools",
    "routing": "routing",
    "peakRequestsPerSecond": "peak_requests_per_second",
    "observability": "observability",
    "rollback": "rollback",
    "tags": "tags",
}


class SettingsError(LbguardError):
    """A stack setting that is wrong; ``str()`` is one line."""

    one_line = True


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True,
    )


KEY_RE = names.KEY_RE  # what lbguard reads back from the Pulumi names (lbguard.core.names)


# ------------------------------------------------------------------ network


class NetworkSettings(_Model):
    """Either create a VPC (``cidr``, ``azCount``) or use one (``vpcId`` + subnet ids)."""

    cidr: str = "10.0.0.0/16"
    az_count: int = Field(2, ge=2, le=3)
    nat_gateways: Literal["single", "per-az"] = "single"
    vpc_id: str | None = Field(None, pattern=r"^vpc-[0-9a-f]{8,17}$")
    public_subnet_ids: list[str] = Field(default_factory=list)
    private_subnet_ids: list[str] = Field(default_factory=list)

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        try:
            net = ipaddress.ip_network(v)
        except ValueError:
            raise ValueError(f"must be an IPv4 CIDR block like 10.0.0.0/16, got {v!r}") from None
        if net.version != 4 or not 16 <= net.prefixlen <= 20:
            raise ValueError(f"must be an IPv4 block with a /16 to /20 prefix, got {v!r}")
        return v

    @field_validator("public_subnet_ids", "private_subnet_ids")
    @classmethod
    def _subnets(cls, v: list[str]) -> list[str]:
        for s in v:
            if not re.match(r"^subnet-[0-9a-f]{8,17}$", s):
                raise ValueError(f"subnet ids look like subnet-0123abcd, got {s!r}")
        return v

    @model_validator(mode="after")
    def _existing_or_new(self) -> "NetworkSettings":
        if self.vpc_id is None and (self.public_subnet_ids or self.private_subnet_ids):
            raise ValueError("publicSubnetIds/privateSubnetIds need vpcId as well")
        if self.vpc_id is not None:
            if len(self.public_subnet_ids) < 2 or len(self.private_subnet_ids) < 2:
                raise ValueError("an existing VPC needs at least 2 publicSubnetIds and 2 privateSubnetIds (one per AZ)")
        return self

    @property
    def create_vpc(self) -> bool:
        return self.vpc_id is None


# ------------------------------------------------------------------ pools


class HealthCheckSettings(_Model):
    path: str = Field("/health", pattern=r"^/[\x21-\x7e]{0,1023}$")
    protocol: Literal["HTTP", "HTTPS"] = "HTTP"
    port: str = "traffic-port"
    matcher: str = Field("200", pattern=r"^[0-9]{3}((-|,)[0-9]{3})*$")
    interval_seconds: int = Field(15, ge=5, le=300)
    timeout_seconds: int = Field(5, ge=2, le=120)
    healthy_threshold: int = Field(3, ge=2, le=10)
    unhealthy_threshold: int = Field(3, ge=2, le=10)

    @field_validator("port")
    @classmethod
    def _port(cls, v: str) -> str:
        if v != "traffic-port" and not (v.isdigit() and 1 <= int(v) <= 65535):
            raise ValueError(f"must be 'traffic-port' or a port 1..65535, got {v!r}")
        return v

    @field_validator("matcher")
    @classmethod
    def _matcher(cls, v: str) -> str:
        # ALB health checks accept HTTP codes 200..499 (CreateTargetGroup Matcher.HttpCode).
        for code in re.split(r"[-,]", v):
            if not 200 <= int(code) <= 499:
                raise ValueError(f"ALB health-check codes must be 200..499, got {v!r}")
        return v

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> "HealthCheckSettings":
        if self.timeout_seconds >= self.interval_seconds:
            raise ValueError(
                f"timeoutSeconds ({self.timeout_seconds}) must be less than intervalSeconds ({self.interval_seconds})"
            )
        return self


class InstanceRefreshSettings(_Model):
    min_healthy_percentage: int = Field(90, ge=0, le=100)
    instance_warmup_seconds: int = Field(120, ge=0, le=3600)
    auto_rollback: bool = True


class PoolSettings(_Model):
    ami: str = Field(..., pattern=r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$",
                     description="an AMI id: ami- and 8 or 17 hex digits (AWS has no other length)")
    instance_type: str = Field(
        "t3.small", pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$",
        description="an EC2 instance type the stack's region offers (checked against the offerings data "
                    "lbguard/core/provider_facts/instance_types.json; see instanceTypeUnlisted)")
    instance_type_unlisted: bool = Field(
        False, description="accept an instanceType the offerings data does not list (a type newer than the data); "
                           "AWS still refuses a type the region does not offer")
    min_size: int = Field(2, ge=0, le=500)
    desired_capacity: int = Field(2, ge=0, le=500)
    max_size: int = Field(4, ge=1, le=500)
    capacity_rps: float = Field(..., gt=0, le=1_000_000, description="requests/s one instance serves")
    port: int = Field(80, ge=1, le=65535)
    protocol: Literal["HTTP", "HTTPS"] = "HTTP"
    health_check: HealthCheckSettings = HealthCheckSettings()
    slow_start_seconds: int = 0
    deregistration_delay_seconds: int = Field(60, ge=0, le=3600)
    algorithm: Literal["round_robin", "least_outstanding_requests", "weighted_random"] = "least_outstanding_requests"
    anomaly_mitigation: bool = False
    health_check_grace_seconds: int = Field(300, ge=0, le=7200)
    cpu_target_percent: float = Field(50, gt=0, le=100)
    request_target_utilisation: float = Field(0.7, gt=0, le=1)
    instance_refresh: InstanceRefreshSettings = InstanceRefreshSettings()
    user_data: str | None = Field(None, description="at most 16 KB before base64 encoding (EC2's user-data limit)")
    root_volume_gib: int = Field(20, ge=8, le=16384)
    root_device_name: str | None = Field(
        None, pattern=r"^/dev/(sd[a-z][0-9]*|xvd[a-z]+|nvme[0-9]+n[0-9]+)$",
        description="the AMI's root device (/dev/xvda on Amazon Linux, /dev/sda1 on Ubuntu); None = read from the AMI")

    @field_validator("ami", mode="before")
    @classmethod
    def _ami(cls, v: Any) -> Any:
        problem = aws_names.ami_problem(v) if isinstance(v, str) else None
        if problem:
            raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _offered(self, info: ValidationInfo) -> "PoolSettings":
        if self.instance_type_unlisted:
            return self
        region = (info.context or {}).get("region")
        problem = aws_names.instance_type_problem(self.instance_type, region)
        if problem:
            raise ValueError(f"@.instanceType: {problem}; fix the type, or set instanceTypeUnlisted: true "
                             f"if it is newer than that data")
        return self

    @field_validator("user_data")
    @classmethod
    def _user_data(cls, v: str | None) -> str | None:
        if v is not None and len(v.encode()) > 16384:
            raise ValueError(f"user data must be at most 16384 bytes before base64 encoding, got {len(v.encode())}")
        return v

    @field_validator("slow_start_seconds")
    @classmethod
    def _slow_start(cls, v: int) -> int:
        if v != 0 and not 30 <= v <= 900:
            raise ValueError(f"slow start must be between 30 and 900 seconds, or 0 to disable it, got {v}")
        return v

    @model_validator(mode="after")
    def _sizes(self) -> "PoolSettings":
        if not self.min_size <= self.desired_capacity <= self.max_size:
            raise ValueError(
                f"sizes must satisfy minSize <= desiredCapacity <= maxSize, got "
                f"{self.min_size} <= {self.desired_capacity} <= {self.max_size}"
            )
        if self.anomaly_mitigation and self.algorithm != "weighted_random":
            raise ValueError(f"anomalyMitigation needs algorithm weighted_random, got {self.algorithm!r}")
        if self.anomaly_mitigation and self.slow_start_seconds:
            raise ValueError("slowStartSeconds cannot be used with anomalyMitigation (AWS refuses the combination)")
        if self.algorithm == "weighted_random" and self.slow_start_seconds:
            # ModifyTargetGroupAttributes refuses slow_start with weighted_random (ELB docs,
            # "Slow start mode": not supported with the weighted random algorithm).
            raise ValueError(f"slowStartSeconds ({self.slow_start_seconds}) cannot be used with algorithm "
                             "weighted_random (AWS refuses it); set slowStartSeconds: 0 or another algorithm")
        return self

    @property
    def requests_per_target_per_minute(self) -> float:
        """Target value for ALBRequestCountPerTarget (a per-minute Sum per target)."""
        return round(self.capacity_rps * 60 * self.request_target_utilisation, 1)


# ------------------------------------------------------------------ load balancer + listeners


class LoadBalancerSettings(_Model):
    internal: bool = False
    # A change that replaces the load balancer (``internal``) cannot be made without downtime:
    # its target groups can be associated with one load balancer only, so the new one's
    # listeners can forward to them only once the old one is gone. The load balancer is
    # protected (the engine refuses its replacement before anything is created) unless this
    # is true for the deploy that replaces it; then it is deleted first, with its listeners.
    accept_replacement_downtime: bool = Field(
        False, description="accept the downtime of a deploy that replaces the load balancer (an internal flip); "
                           "without it that deploy is refused before any write")
    deletion_protection: bool = True
    drop_invalid_headers: bool = True
    desync_mitigation: Literal["monitor", "defensive", "strictest"] = "defensive"
    idle_timeout_seconds: int = Field(60, ge=1, le=4000)
    http2: bool = True


TLS_POLICIES = {
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
    "ELBSecurityPolicy-TLS-1-2-2017-01",
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
    "ELBSecurityPolicy-FS-1-2-Res-2020-10",
}


class ListenerSettings(_Model):
    """HTTPS on 443 plus an HTTP listener on 80 that redirects to it.

    ``insecureHttpOnly: true`` is the explicit opt-out: one plain HTTP listener on 80
    serving the routing, no certificate.
    """

    certificate_arn: str | None = Field(None, pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$")
    ssl_policy: str = "ELBSecurityPolicy-TLS13-1-2-2021-06"
    https_port: int = Field(443, ge=1, le=65535)
    http_port: int = Field(80, ge=1, le=65535)
    http_redirect: bool = True
    insecure_http_only: bool = False

    @field_validator("ssl_policy")
    @classmethod
    def _ssl(cls, v: str) -> str:
        if v not in TLS_POLICIES:
            raise ValueError(f"must be a TLS 1.2+ ELB security policy (e.g. ELBSecurityPolicy-TLS13-1-2-2021-06), got {v!r}")
        return v

    @model_validator(mode="after")
    def _tls(self) -> "ListenerSettings":
        if not self.insecure_http_only and self.certificate_arn is None:
            raise ValueError("certificateArn is required for HTTPS (set insecureHttpOnly: true to opt out of TLS explicitly)")
        if self.insecure_http_only and self.certificate_arn is not None:
            raise ValueError("insecureHttpOnly: true cannot be combined with certificateArn")
        if self.https_port == self.http_port:
            raise ValueError(f"httpsPort and httpPort must differ, both are {self.http_port}")
        return self


# ------------------------------------------------------------------ routing


class ForwardSettings(_Model):
    """Weighted forward: pool key -> weight (0..999), at most 5 pools."""

    weights: dict[str, int]
    stickiness_seconds: int = Field(0, ge=0, le=604800)

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: dict[str, int]) -> dict[str, int]:
        if not v:
            raise ValueError("needs at least one pool")
        if len(v) > MAX_TARGET_GROUPS_PER_FORWARD:
            raise ValueError(f"at most {MAX_TARGET_GROUPS_PER_FORWARD} pools per forward, got {len(v)}")
        for k, w in v.items():
            if not 0 <= w <= MAX_WEIGHT:
                raise ValueError(f"weight of {k!r} must be 0..{MAX_WEIGHT}, got {w}")
        if sum(v.values()) <= 0:
            raise ValueError(f"weights must have a positive sum, got {v}")
        return v


class FixedResponseSettings(_Model):
    status_code: int = Field(404, ge=200, le=599)
    content_type: Literal["text/plain", "text/css", "text/html", "application/javascript", "application/json"] = "text/plain"
    message_body: str = Field("", max_length=1024)


class ActionSettings(_Model):
    forward: ForwardSettings | None = None
    fixed_response: FixedResponseSettings | None = None

    @model_validator(mode="after")
    def _one(self) -> "ActionSettings":
        if (self.forward is None) == (self.fixed_response is None):
            raise ValueError("give exactly one of forward or fixedResponse")
        return self


# ALB rule condition limits (ELB API reference, RuleCondition / PathPatternConditionConfig): values up
# to 128 characters, paths A-Z a-z 0-9 _ - . $ / ~ " ' @ : + & * ?. Host values and header names
# follow AWS's and RFC 9110's rules in lbguard.core.aws_names (one home, shared with lbguard route).
CONDITION_VALUE_MAX = 128
HEADER_NAME_MAX = aws_names.HEADER_NAME_MAX
PATH_RE = r"^[A-Za-z0-9_\-.$/~\"'@:+&*?]{1,128}$"


def _limited(values: list[str], what: str) -> list[str]:
    for v in values:
        if not 1 <= len(v) <= CONDITION_VALUE_MAX:
            raise ValueError(f"{what} values must be 1..{CONDITION_VALUE_MAX} characters, got {len(v)} in {v[:40]!r}")
    return values


class ConditionSettings(_Model):
    host: list[str] = Field(default_factory=list, max_length=5)
    path: list[str] = Field(default_factory=list, max_length=5)
    headers: dict[str, list[str]] = Field(default_factory=dict)
    query: dict[str, str] = Field(default_factory=dict)
    methods: list[Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]] = Field(default_factory=list)
    source_ips: list[str] = Field(default_factory=list)

    @field_validator("host")
    @classmethod
    def _hosts(cls, v: list[str]) -> list[str]:
        for value in v:
            problem = aws_names.host_value_problem(value)
            if problem:
                raise ValueError(problem)
        return v

    @field_validator("path")
    @classmethod
    def _paths(cls, v: list[str]) -> list[str]:
        _limited(v, "path")
        for value in v:
            if not re.match(PATH_RE, value):
                raise ValueError(f"path values may only use A-Z a-z 0-9 _ - . $ / ~ \" ' @ : + & * ?, got {value!r}")
        return v

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, values in v.items():
            problem = aws_names.header_name_problem(name)
            if problem:
                raise ValueError(problem)
            _limited(values, f"header {name}")
        return v

    @field_validator("query")
    @classmethod
    def _query(cls, v: dict[str, str]) -> dict[str, str]:
        _limited(list(v), "query key")
        _limited(list(v.values()), "query")
        return v

    @field_validator("source_ips")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for c in v:
            try:
                ipaddress.ip_network(c, strict=False)
            except ValueError:
                raise ValueError(f"source IPs must be CIDR blocks like 203.0.113.0/24, got {c!r}") from None
            if "/" not in c:
                # ipaddress reads a bare address as a /32; the ALB source-ip condition and the
                # provider want CIDR notation.
                raise ValueError(f"source IPs must be CIDR blocks, got the bare address {c!r} (write {c}/"
                                 f"{32 if ':' not in c else 128} for one host)")
        return v

    @model_validator(mode="after")
    def _some(self) -> "ConditionSettings":
        n = (len(self.host) + len(self.path) + sum(len(v) for v in self.headers.values())
             + len(self.query) + len(self.methods) + len(self.source_ips))
        if n == 0:
            raise ValueError("a rule needs at least one condition (host, path, headers, query, methods or sourceIps)")
        if n > 5:
            raise ValueError(f"ALB allows at most 5 condition values per rule, got {n}")
        return self


class RuleSettings(ActionSettings):
    priority: int = Field(..., ge=1, le=50000)
    conditions: ConditionSettings
    expected_share: float | None = Field(None, gt=0, le=1, description="fraction of the listener's requests this rule attracts")


class RoutingSettings(_Model):
    default: ActionSettings
    rules: dict[str, RuleSettings] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _priorities(self) -> "RoutingSettings":
        seen: dict[int, str] = {}
        for key, rule in self.rules.items():
            if not re.match(KEY_RE, key):
                raise ValueError(f"rule key {key!r} must match {KEY_RE}")
            if rule.priority in seen:
                raise ValueError(f"rules {seen[rule.priority]!r} and {key!r} share priority {rule.priority}")
            seen[rule.priority] = key
        return self

    def forwards(self) -> dict[str, ForwardSettings]:
        """Route id ("default" or "rule:<key>") -> its forward, for forwarding actions."""
        out = {}
        if self.default.forward:
            out["default"] = self.default.forward
        for key, rule in self.rules.items():
            if rule.forward:
                out[f"rule:{key}"] = rule.forward
        return out


# ------------------------------------------------------------------ observability + rollback


class SubscriptionSettings(_Model):
    """Who hears the alarms: an email address or an https endpoint (SNS confirms both)."""

    protocol: Literal["email", "https"] = Field(..., description="email or https")
    endpoint: str = Field(..., min_length=3, max_length=2048, description="address or https:// URL")

    @model_validator(mode="after")
    def _endpoint(self) -> "SubscriptionSettings":
        if self.protocol == "email" and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", self.endpoint):
            raise ValueError(f"email subscription needs an email address, got {self.endpoint!r}")
        if self.protocol == "https" and not re.match(r"^https://[^\s/]+\.[^\s]+$", self.endpoint):
            raise ValueError(f"https subscription needs an https:// URL, got {self.endpoint!r}")
        return self


class ObservabilitySettings(_Model):
    """Logs, alarms and the dashboard (``web-tier:observability``); how they work: docs/observability.md.

    ALB publishes CloudWatch metrics once a minute, so 60 s is the fastest honest
    alarm period; an alarm fires when ``alarmDatapoints`` of the last
    ``alarmEvaluationPeriods`` periods breach.
    """

    access_logs: bool = Field(True, description="access + connection logs on every load balancer")
    log_bucket: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
                                   description="existing bucket (its policy must admit ALB log delivery); None = create one")
    log_retention_days: int = Field(90, ge=1, le=3650, description="days before log objects expire")
    alarm_subscriptions: list[SubscriptionSettings] = Field(default_factory=list, max_length=10,
                                                            description="email/https subscribers of the alarm topic")
    alarm_period_seconds: Literal[60, 120, 300] = Field(60, description="alarm period; ALB's metrics are 60 s")
    alarm_evaluation_periods: int = Field(3, ge=1, le=10, description="periods an alarm looks back over (N)")
    alarm_datapoints: int = Field(2, ge=1, le=10, description="breaching periods out of N that fire it (M)")
    share_skew_max_deviation: float = Field(
        0.15, gt=0, lt=0.5,
        description="absolute share deviation tolerated per target group (0.15 = 15 points); below 0.5 so that a "
                    "funnel of an even two-way split always leaves the band")
    share_skew_min_requests: int = Field(60, ge=0, le=1_000_000,
                                         description="requests a period below which shares are not judged")
    target_5xx_rate_percent: float = Field(5, gt=0, le=100, description="target 5XX responses, % of requests")
    elb_5xx_count: int = Field(10, ge=1, le=1_000_000, description="5XX the load balancer itself returns, per period")
    p99_latency_seconds: float = Field(2.0, gt=0, le=60, description="p99 TargetResponseTime, seconds")
    imbalance_ratio: float = Field(2.0, gt=1, le=100,
                                   description="busiest pool's RequestCountPerTarget over the mean across pools")

    @model_validator(mode="after")
    def _consistent(self) -> "ObservabilitySettings":
        if self.alarm_datapoints > self.alarm_evaluation_periods:
            raise ValueError(
                f"@observability.alarmDatapoints: must not exceed alarmEvaluationPeriods "
                f"({self.alarm_evaluation_periods}), got {self.alarm_datapoints}"
            )
        if self.log_bucket is not None and not self.access_logs:
            raise ValueError("@observability.logBucket: is only used with accessLogs: true "
                             f"(accessLogs is false, logBucket is {self.log_bucket!r})")
        return self


# Lambda keeps at least 100 concurrent executions of an account unreserved
# (PutFunctionConcurrency fails with "... decreases account's UnreservedConcurrentExecution
# below its minimum value of [100]"); the default account limit is 1000, new accounts may
# have 10 and then no reservation is possible at all.
LAMBDA_UNRESERVED_MIN = 100
LAMBDA_DEFAULT_ACCOUNT_LIMIT = 1000


class RollbackSettings(_Model):
    automatic: bool = False
    cooldown_seconds: int = Field(900, ge=60, le=86400)
    reserved_concurrency: int | None = Field(
        None, ge=1, le=LAMBDA_DEFAULT_ACCOUNT_LIMIT - LAMBDA_UNRESERVED_MIN,
        description="reserved concurrent executions of the auto-rollback function; None (default) reserves none, "
                    "which every account accepts; 1 serialises runs where the account limit leaves 100 unreserved")

    @model_validator(mode="after")
    def _reserved_needs_automatic(self) -> "RollbackSettings":
        if self.reserved_concurrency is not None and not self.automatic:
            raise ValueError(f"@rollback.reservedConcurrency: is only used with automatic: true "
                             f"(automatic is false, reservedConcurrency is {self.reserved_concurrency})")
        return self


# ------------------------------------------------------------------ the whole stack


class WebTierSettings(_Model):
    project: str = PROJECT
    stack: str = "dev"
    network: NetworkSettings = NetworkSettings()
    load_balancer: LoadBalancerSettings = LoadBalancerSettings()
    listeners: ListenerSettings
    pools: dict[str, PoolSettings]
    routing: RoutingSettings
    peak_requests_per_second: float = Field(..., gt=0, le=10_000_000)
    observability: ObservabilitySettings = ObservabilitySettings()
    rollback: RollbackSettings = RollbackSettings()
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: dict[str, str]) -> dict[str, str]:
        # EC2/ELB tag limits: keys 1..128, values 0..256, no "aws:" prefix; the components add
        # up to 5 of their own to the 50 a resource may carry.
        if len(v) > 45:
            raise ValueError(f"at most 45 extra tags (AWS allows 50 per resource, the stack adds 5), got {len(v)}")
        for key, value in v.items():
            if not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
                raise ValueError(f"tag keys must be 1..128 characters and not start with 'aws:', got {key!r}")
            if len(value) > 256:
                raise ValueError(f"tag values must be at most 256 characters, got {len(value)} for {key!r}")
        return v

    @field_validator("pools")
    @classmethod
    def _pool_keys(cls, v: dict[str, PoolSettings]) -> dict[str, PoolSettings]:
        if not v:
            raise ValueError("at least one pool is required")
        for key in v:
            if not re.match(KEY_RE, key):
                raise ValueError(f"pool key {key!r} must match {KEY_RE} (lowercase, digits, '-', at most 20 chars)")
        return v

    @model_validator(mode="after")
    def _pool_refs(self) -> "WebTierSettings":
        for route, fwd in self.routing.forwards().items():
            for key in fwd.weights:
                if key not in self.pools:
                    where = "routing.default" if route == "default" else f"routing.rules.{route[5:]}"
                    raise ValueError(f"@{where}.forward.weights.{key}: names pool {key!r}, which is not in pools "
                                     f"({', '.join(sorted(self.pools))})")
        return self

    # ---- derived names (stable: they depend on keys, never on list positions)

    def target_group_name(self, pool_key: str) -> str:
        """Physical target-group name: <= 32 chars, stable across in-place edits.

        The suffix hashes only what forces AWS to replace a target group (port,
        protocol, network), so a replacement gets a fresh name (no
        DuplicateTargetGroupName) and weight or health-check edits keep it.
        """
        pool = self.pools[pool_key]
        identity = json.dumps([self.project, self.stack, pool_key, pool.port, pool.protocol,
                               self.network.vpc_id or self.network.cidr])
        suffix = hashlib.sha256(identity.encode()).hexdigest()[:6]
        head = f"{self.stack}-{pool_key}"[: TARGET_GROUP_NAME_MAX - len(suffix) - 1].rstrip("-")
        return f"{head}-{suffix}"

    def load_balancer_name(self) -> str:
        """Physical load-balancer name: <= 32 chars, fresh whenever AWS must replace it.

        ``internal`` (and the type, always ``application`` here) force replacement
        (lbguard.core.provider_facts: aws_lb ``internal`` is ForceNew); the engine creates the
        new load balancer before deleting the old one, so a fixed name would collide with
        itself. An internet-facing load balancer keeps the plain ``<project>-<stack>`` name
        it always had (no replacement on upgrade); an internal one gets a hash suffix.
        """
        base = f"{self.project}-{self.stack}"
        if not self.load_balancer.internal:
            return base[:LB_NAME_MAX].rstrip("-")
        identity = json.dumps([self.project, self.stack, "application", "internal"])
        suffix = hashlib.sha256(identity.encode()).hexdigest()[:6]
        return f"{base[: LB_NAME_MAX - len(suffix) - 1].rstrip('-')}-{suffix}"

    def forwarded_pools(self) -> set[str]:
        """Pool keys some forward (default action or rule) sends traffic to, weight 0 included."""
        return {key for fwd in self.routing.forwards().values() for key in fwd.weights}


# ------------------------------------------------------------------ loading


def _format_one(error: dict) -> str:
    loc = ".".join(str(p) for p in error["loc"] if not str(p).startswith("function-"))
    msg = error["msg"]
    msg = msg[len("Value error, "):] if msg.startswith("Value error, ") else msg
    if msg.startswith("@."):  # a model rule naming one of its own keys: the path below the model's
        sub, _, msg = msg[2:].partition(": ")
        loc = f"{loc}.{sub}" if loc else sub
    elif msg.startswith("@"):  # a cross-field rule that knows the exact key path
        loc, _, msg = msg[1:].partition(": ")
    key = f"{PROJECT}:{loc}" if loc else PROJECT
    received = error.get("input")
    shown = "" if error["type"] == "value_error" or isinstance(received, dict) else f" (got {json.dumps(received, default=str)[:80]})"
    return f"{key}: {msg}{shown}"


def _format_error(err: ValidationError, stack_file: str) -> str:
    """Every error, each naming its key, on one line ("; " between them): a user fixes
    them all in one edit instead of one per run."""
    return f"{stack_file}: " + "; ".join(_format_one(e) for e in err.errors())


def format_validation_error(err: ValidationError, source: str, *, camel: bool = False) -> str:
    """:func:`_format_error` for a caller that validated by field names (the component provider's
    args): ``camel`` spells each snake_case key as its schema does (``healthCheck``)."""
    if not camel:
        return _format_error(err, source)
    from pulumi.provider.experimental.util import camel_case  # the analyzer's own spelling of a field

    errors = []
    for e in err.errors():
        e = dict(e)
        e["loc"] = tuple(camel_case(p) if isinstance(p, str) and "_" in p else p for p in e["loc"])
        errors.append(e)
    return f"{source}: " + "; ".join(_format_one(e) for e in errors)


def parse_settings(raw: Mapping[str, Any], *, stack: str, stack_file: str = "stack config",
                   region: str | None = None, project: str = PROJECT) -> WebTierSettings:
    """Validate already-decoded config values (bare camelCase keys -> values). ``region``: the
    stack's AWS region (instance types are checked against its offerings; None: any region's).
    ``project``: the prefix of physical names (another program using the component passes its own)."""
    data: dict[str, Any] = {"stack": stack, "project": project}
    for key, value in raw.items():
        if key not in CONFIG_KEYS:
            raise SettingsError(
                f"{stack_file}: {PROJECT}:{key}: unknown setting (known: {', '.join(sorted(CONFIG_KEYS))})"
            )
        data[key] = value
    try:
        return WebTierSettings.model_validate(data, context={"region": region})
    except ValidationError as err:
        raise SettingsError(_format_error(err, stack_file)) from None


def load_settings(config: Any = None, *, stack: str | None = None) -> WebTierSettings:
    """Read every project config key from ``pulumi.Config`` and validate once."""
    import pulumi

    config = config or pulumi.Config(PROJECT)
    stack = stack or pulumi.get_stack()
    raw: dict[str, Any] = {}
    for key in CONFIG_KEYS:
        value = config.get(key)
        if value is None:
            continue
        try:
            raw[key] = json.loads(value)
        except json.JSONDecodeError:
            raw[key] = value
    # Keys that are set but not declared are caught too: pulumi passes every config
    # value of the project namespace through the environment.
    import pulumi.runtime.config as rc

    everything = {**rc.get_config_env(), **rc.CONFIG.get()}
    for full_key, value in everything.items():
        ns, _, bare = full_key.partition(":")
        if ns == PROJECT and bare not in CONFIG_KEYS:
            raw[bare] = value
    return parse_settings(raw, stack=stack, stack_file=f"stacks/Pulumi.{stack}.yaml", region=stack_region())


def stack_region() -> str | None:
    """The region the aws provider deploys to: ``aws:region``, else the environment it falls back to
    (pulumi-aws reads AWS_REGION, then AWS_DEFAULT_REGION); None when neither is set."""
    import os

    import pulumi

    return pulumi.Config("aws").get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def load_traffic_profile(stack: str, stack_config_dir: str = "stacks") -> dict[str, Any] | None:
    """The stack's traffic profile, ``<stackConfigDir>/traffic.<stack>.yaml`` beside its
    ``Pulumi.<stack>.yaml`` (written by ``lbguard profile --from-logs`` or by hand), as the
    stack exports it in its ``trafficProfile`` output; None when the stack has none.

    The policy pack and lbguard read the profile from that output (so it also works under
    the real engine, where the pack sees the stack's outputs, not this file). ``observed``
    (what the logs showed) stays in the file: it is evidence, not routing input, and can
    be large. The program runs in the project directory (Pulumi's language host sets it).
    """
    from lbguard.core.profile import load_profile, profile_path

    path = profile_path(Path.cwd(), stack, stack_config_dir)
    if not path.is_file():
        return None
    try:
        prof = load_profile(path)
    except LbguardError as err:
        raise SettingsError(f"{stack_config_dir}/{path.name}: {str(err).split(': ', 1)[-1]}") from err
    doc = prof.to_json()
    doc.pop("observed", None)
    return doc
