"""Listeners and keyed listener rules with weighted forwarding."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_aws as aws

from .settings import ActionSettings, ConditionSettings, ListenerSettings, RoutingSettings
from lbguard.core import names


def action_args(action: ActionSettings, tg_arns: dict[str, pulumi.Output[str]]) -> dict:
    """Settings action -> pulumi-aws action input (snake_case)."""
    if action.fixed_response is not None:
        f = action.fixed_response
        return {"type": "fixed-response", "order": 1, "fixed_response": {
            "content_type": f.content_type, "message_body": f.message_body, "status_code": str(f.status_code)}}
    fwd = action.forward
    sticky = {"enabled": fwd.stickiness_seconds > 0, "duration": fwd.stickiness_seconds or 1}
    return {"type": "forward", "order": 1, "forward": {
        "target_groups": [{"arn": tg_arns[k], "weight": w} for k, w in fwd.weights.items()],
        "stickiness": sticky,
    }}


def condition_args(c: ConditionSettings) -> list[dict]:
    out: list[dict] = []
    if c.host:
        out.append({"host_header": {"values": list(c.host)}})
    if c.path:
        out.append({"path_pattern": {"values": list(c.path)}})
    for name, values in c.headers.items():
        out.append({"http_header": {"http_header_name": name, "values": list(values)}})
    if c.query:
        out.append({"query_strings": [{"key": k, "value": v} for k, v in c.query.items()]})
    if c.methods:
        out.append({"http_request_method": {"values": list(c.methods)}})
    if c.source_ips:
        out.append({"source_ip": {"values": list(c.source_ips)}})
    return out


class Routing(pulumi.ComponentResource):
    """HTTPS listener serving the routing, HTTP listener redirecting to it.

    ``self.plan`` is the routing as pulumi inputs per listener key; the stack's
    ``rollback`` snapshot is built from it, so the snapshot and the resources cannot
    disagree.
    """

    def __init__(self, name: str, *, load_balancer_arn: pulumi.Input[str], listeners: ListenerSettings,
                 routing: RoutingSettings, tg_arns: dict[str, pulumi.Output[str]], tags: dict[str, str],
                 pool_groups: Optional[dict[str, pulumi.Resource]] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("web-tier:routing:Routing", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        groups = pool_groups or {}

        def after_pools(action: ActionSettings) -> pulumi.ResourceOptions:
            # A forward waits for the Auto Scaling groups of its pools: a new pool's group is
            # created only once its targets are healthy (Pool._auto_scaling_group,
            # min_elb_capacity), so the traffic moves to healthy targets. Without it the engine
            # may run both steps at once (no dependency) and forward to an empty group (503).
            keys = action.forward.weights if action.forward else {}
            return pulumi.ResourceOptions(parent=self, depends_on=[groups[k] for k in keys if k in groups])

        default = action_args(routing.default, tg_arns)
        self.listeners: dict[str, aws.lb.Listener] = {}
        self.rules: dict[str, aws.lb.ListenerRule] = {}
        self.plan: list[dict] = []

        if listeners.insecure_http_only:
            serving_key, serving_port, serving_protocol = "http", listeners.http_port, "HTTP"
            serving = aws.lb.Listener(names.listener(name, "http"), load_balancer_arn=load_balancer_arn,
                                      port=serving_port, protocol="HTTP", default_actions=[default],
                                      tags=tags, opts=after_pools(routing.default))
        else:
            serving_key, serving_port, serving_protocol = "https", listeners.https_port, "HTTPS"
            serving = aws.lb.Listener(names.listener(name, "https"), load_balancer_arn=load_balancer_arn,
                                      port=serving_port, protocol="HTTPS",
                                      certificate_arn=listeners.certificate_arn, ssl_policy=listeners.ssl_policy,
                                      default_actions=[default], tags=tags, opts=after_pools(routing.default))
            if listeners.http_redirect:
                redirect = {"type": "redirect", "order": 1, "redirect": {
                    "protocol": "HTTPS", "port": str(listeners.https_port), "status_code": "HTTP_301"}}
                http = aws.lb.Listener(names.listener(name, "http"), load_balancer_arn=load_balancer_arn,
                                       port=listeners.http_port, protocol="HTTP", default_actions=[redirect],
                                       tags=tags, opts=child)
                self.listeners["http"] = http
                self.plan.append({"key": "http", "arn": http.arn, "port": listeners.http_port,
                                  "protocol": "HTTP", "default_actions": [redirect], "rules": []})
        self.listeners[serving_key] = serving

        rule_plans = []
        for key, rule in sorted(routing.rules.items(), key=lambda kv: kv[1].priority):
            actions = [action_args(rule, tg_arns)]
            conditions = condition_args(rule.conditions)
            rule_tags = dict(tags)
            if rule.expected_share is not None:
                rule_tags["lbguard:traffic-fraction"] = f"{rule.expected_share:g}"
            res = aws.lb.ListenerRule(names.rule(name, key), listener_arn=serving.arn, priority=rule.priority,
                                      conditions=conditions, actions=actions, tags=rule_tags, opts=after_pools(rule))
            self.rules[key] = res
            rule_plans.append({"key": key, "arn": res.arn, "priority": rule.priority,
                               "conditions": conditions, "actions": actions})
        self._forwarders: dict[str, list[pulumi.Resource]] = {}
        for pool_key in (routing.default.forward.weights if routing.default.forward else {}):
            self._forwarders.setdefault(pool_key, []).append(serving)
        for key, rule in routing.rules.items():
            for pool_key in (rule.forward.weights if rule.forward else {}):
                self._forwarders.setdefault(pool_key, []).append(self.rules[key])
        # The certificate and TLS policy go into the snapshot too: a rollback can then re-create
        # the HTTPS listener if it is deleted (CreateListener needs both for HTTPS). The listener's own
        # output, so the snapshot names the certificate the listener holds.
        tls = {} if serving_protocol == "HTTP" else {"ssl_policy": listeners.ssl_policy,
                                                     "certificates": [serving.certificate_arn]}
        self.plan.insert(0, {"key": serving_key, "arn": serving.arn, "port": serving_port,
                             "protocol": serving_protocol, **tls, "default_actions": [default], "rules": rule_plans})
        self.register_outputs({k: l.arn for k, l in self.listeners.items()})

    def forwarders(self, pool_key: str) -> list[pulumi.Resource]:
        """The listener and rules whose forward names ``pool_key``: what attaches its target
        group to the load balancer."""
        return list(self._forwarders.get(pool_key, []))
