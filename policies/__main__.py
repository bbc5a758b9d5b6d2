"""lb-safety: assemble the pack. Policies live in lb_safety/, grouped by domain;
per-stack settings in config/<stack>.json."""

from pulumi_policy import EnforcementLevel, PolicyPack

from lb_safety.alarms import alarm_coverage
from lb_safety.autoscaling import asg_elb_health_check, asg_health_check_grace, asg_multi_az
from lb_safety.capacity import capacity_covers_share
from lb_safety.common import guard
from lb_safety.health import health_check_port_reachable, target_group_health_check
from lb_safety.logs import access_log_bucket_secure, alb_access_logs
from lb_safety.routing import even_target_weights, listener_rule_shadowing, no_traffic_funnel, rollback_output_required
from lb_safety.stickiness import stickiness_duration
from lb_safety.security import (alb_deletion_protection, alb_desync_mitigation, alb_drop_invalid_headers,
                                alb_https_redirect, alb_ingress_restricted, alb_multi_az, alb_tls_policy,
                                default_security_group_closed, instance_ingress_from_alb_only, launch_template_imdsv2)

PolicyPack(
    name="lb-safety",
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=guard([
        # The outage class: mandatory by default.
        even_target_weights, no_traffic_funnel, capacity_covers_share, rollback_output_required,
        target_group_health_check, listener_rule_shadowing, alarm_coverage, asg_health_check_grace,
        health_check_port_reachable,
        # Routing-change hazards: advisory by default.
        stickiness_duration,
        # AWS FSBP controls: advisory by default, mandatory in config/prod.json.
        alb_https_redirect, alb_tls_policy, alb_drop_invalid_headers, alb_access_logs, alb_deletion_protection,
        alb_desync_mitigation, alb_multi_az, asg_elb_health_check, asg_multi_az, launch_template_imdsv2,
        alb_ingress_restricted, instance_ingress_from_alb_only, default_security_group_closed,
        access_log_bucket_secure,
    ]),
)
