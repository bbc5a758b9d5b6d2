"""Issue 25's conformance corpus: up -> edit -> up on this project. The dev stack (or the
stack named) is applied from the base, the head (its settings, sometimes its program) is
planned and applied as the engine and pulumi-aws would, then AWS (moto) is read back.

Each case names the source lines that decide its expected plan. Sources: pulumi/pulumi at
1b5949891b3c (v3.259+, ``step_generator.go``, ``step.go``), pulumi/pulumi-terraform-bridge at
59de6c661df1 (``pkg/tfbridge/provider.go`` Diff, ``schema.go``), terraform-provider-aws
(internal/service/...), lbguard.core.provider_facts for ForceNew.
"""

from __future__ import annotations

import json

import boto3
import pytest

from tests.offline.preview.conftest import elbv2, step

P = "web-tier:"
pytestmark = pytest.mark.stackruns  # two whole program runs per case
TG_OVERRIDE = "opts=pulumi.ResourceOptions(parent=self, delete_before_replace=False),"


def client(service: str):
    return boto3.client(service, region_name="us-east-1")


def errors(result) -> list[tuple[str, str]]:
    return [(f.call, f.error) for f in result.failures]


def tg_arns() -> set[str]:
    return {tg["TargetGroupArn"] for tg in elbv2().describe_target_groups()["TargetGroups"]}


def blocking(result):
    return [w for w in result.windows if not w.accepted]


def port(c):
    c[P + "pools"]["blue"]["port"] = 8080


# ------------------------------------------------------------------ 1-2: target-group replacement


def test_01_tg_port_with_a_program_set_name_is_delete_before_replace_and_fails_in_use(change):
    # bridge provider.go Diff: deleteBeforeReplace := len(replaces) > 0 && (... ||
    # nameRequiresDeleteBeforeReplace(news, olds, ...)); schema.go: `name` is auto-nameable and
    # not in __defaults (the program set it) -> true. The engine (step_generator.go
    # continueStepsFromDiff) deletes first; DeleteTargetGroup while the listener forwards to it
    # -> ResourceInUse (moto and AWS). The component without its override:
    change.program("both", "components/pool.py", TG_OVERRIDE, "opts=pulumi.ResourceOptions(parent=self),")
    seen = {}
    result = change.edit(port).preview(after=lambda r: seen.update(arns=tg_arns()))
    s = step(result, "web-pool-blue-tg")
    assert (s.op, s.delete_before_replace, s.dbr_source) == ("replace", True, "name")
    assert ("DeleteTargetGroup", "ResourceInUse") in errors(result)
    old = next(r.id for r in result.base_run.resources if r.name == "web-pool-blue-tg")
    assert old in seen["arns"]  # the old group is still there, still in use


def test_02_tg_port_create_before_delete_is_deployable_and_healthy_after_one_check(change):
    # step_generator.go: `if goal.DeleteBeforeReplace != nil { deleteBeforeReplace =
    # *goal.DeleteBeforeReplace }` (the program's delete_before_replace=False, the TG name hashes
    # the port). CBD: the new group is created, dependents updated, the old one deleted last.
    seen = {}
    result = change.edit(port).preview(after=lambda r: seen.update(arns=tg_arns()))
    s = step(result, "web-pool-blue-tg")
    assert (s.op, s.delete_before_replace) == ("replace", False)
    assert result.failures == []
    new = next(r.id for r in result.head.resources if r.name == "web-pool-blue-tg")
    old = next(r.id for r in result.base_run.resources if r.name == "web-pool-blue-tg")
    assert new in seen["arns"] and old not in seen["arns"]
    # terraform-provider-aws autoscaling/group.go resourceGroupUpdate: detach, then attach; no
    # wait for health. The windows last until the new targets passed one check (15 s on dev).
    assert result.windows and max(w.seconds for w in result.windows) <= 15 + 5
    assert all(w.fix for w in result.windows)


# ------------------------------------------------------------------ 3-6: conditional ForceNew


def test_03_alb_subnet_added_updates_in_place(change):
    # terraform-provider-aws elbv2/load_balancer.go customizeDiffNLB: a subnets change forces
    # a new resource for network load balancers only; an ALB calls SetSubnets.
    result = change.edit(lambda c: c[P + "network"].update(azCount=3)).preview()
    s = step(result, "web-lb-alb")
    assert s.op == "update" and any(p.startswith("subnets") for p in s.diffs)
    assert not any(f.urn == s.urn for f in result.failures)


def _tier():
    name = "/web-tier/dev/routing/current"
    return client("ssm").describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"][0]["Tier"]


TIER = "tier=encoded.apply(lambda e: e[1])"


def test_04_ssm_tier_standard_to_advanced_updates(change):
    # terraform-provider-aws ssm/parameter.go CustomizeDiff: ForceNewIfChange on tier only
    # when Advanced -> Standard (AWS cannot downgrade); Standard -> Advanced is PutParameter.
    change.program("base", "components/known_good.py", TIER, 'tier="Standard"')
    change.program("head", "components/known_good.py", TIER, 'tier="Advanced"')
    seen = {}
    result = change.edit(lambda c: None).preview(after=lambda r: seen.update(tier=_tier()))
    s = step(result, "web-known-good-current")
    assert s.op == "update" and "tier" in s.diffs and s.replace_reasons == []
    assert seen["tier"] == "Advanced"


def test_05_ssm_tier_advanced_to_standard_replaces_delete_first(change):
    # Same CustomizeDiff: Advanced -> Standard forces replacement; the program sets `name`, so
    # the bridge asks for delete-before-replace (schema.go nameRequiresDeleteBeforeReplace):
    # DeleteParameter, then PutParameter under the same name (no ParameterAlreadyExists).
    change.program("base", "components/known_good.py", TIER, 'tier="Advanced"')
    change.program("head", "components/known_good.py", TIER, 'tier="Standard"')
    seen = {}
    result = change.edit(lambda c: None).preview(after=lambda r: seen.update(tier=_tier()))
    s = step(result, "web-known-good-current")
    assert (s.op, s.delete_before_replace) == ("replace", True) and "tier" in s.replace_reasons
    assert s.calls[:2] == ["DeleteParameter", "PutParameter"] and not result.failures
    assert seen["tier"] == "Standard"


def test_06_ingress_rule_from_cidr_to_a_security_group_source_replaces(change):
    # terraform-provider-aws ec2/vpc_security_group_ingress_rule.go ModifyPlan: RequiresReplace
    # when the source kind changes (cidr_ipv4 -> referenced_security_group_id). A plugin-framework
    # resource: only the resource's own DeleteBeforeReplace applies (pf/tfbridge/provider_diff.go).
    change.program("head", "components/pool.py",
                   'from_port=443, to_port=443, cidr_ipv4="0.0.0.0/0",',
                   "from_port=443, to_port=443, referenced_security_group_id=alb_security_group_id,")
    result = change.edit(lambda c: None).preview()
    s = step(result, "web-pool-blue-https-out")
    assert s.op == "replace" and not s.delete_before_replace


def test_07_launch_template_description_makes_a_new_version(change):
    # description is updatable (ec2/ec2_launch_template.go: no ForceNew): CreateLaunchTemplateVersion;
    # the group's launch_template.version follows latest_version (an update of the group).
    change.program("head", "components/pool.py", "            update_default_version=True,",
                   '            update_default_version=True, description=f"pool {key}",')
    seen = {}

    def after(result):
        lt = next(r for r in result.head.resources if r.name == "web-pool-blue-lt")
        seen["versions"] = len(client("ec2").describe_launch_template_versions(LaunchTemplateId=lt.id)
                               ["LaunchTemplateVersions"])
    result = change.edit(lambda c: None).preview(after=after)
    assert step(result, "web-pool-blue-lt").op == "update"
    assert step(result, "web-pool-blue-asg").op == "update"
    assert seen["versions"] == 2 and not result.failures


# ------------------------------------------------------------------ 8: order-dependent failures


def test_08_rule_priority_race_fails_in_the_order_the_engine_may_take(change):
    # operations/up.go defaultParallel (4 x GOMAXPROCS): `api` 10 -> 5 and a new `beta` at 10
    # have no dependency; CreateRule does not retry PriorityInUse. The failing order is applied.
    def edit(c):
        c[P + "routing"]["rules"]["api"]["priority"] = 5
        c[P + "routing"]["rules"]["beta"] = {"priority": 10, "conditions": {"path": ["/beta/*"]},
                                             "forward": {"weights": {"blue": 50, "green": 50}}}
    result = change.edit(edit).preview()
    assert ("CreateRule", "PriorityInUse") in errors(result)
    assert result.races and "beta" in result.races[0] and "api" in result.races[0]
    fix = next(f.fix for f in result.failures if f.error == "PriorityInUse")
    assert "depends_on" in fix and "two steps" in fix


# ------------------------------------------------------------------ 9-10: protect


PROTECT_TG = "opts=pulumi.ResourceOptions(parent=self, delete_before_replace=False, protect=True),"


def test_09_protect_and_replace_is_refused_before_anything_is_created(change):
    # step_generator.go continueStepsFromDiff: `if new.Protect && old.Protect` -> "unable to
    # replace resource ... marked for protection"; in an update the engine bails at once
    # (before the create of a create-before-delete replacement).
    change.program("both", "components/pool.py", TG_OVERRIDE, PROTECT_TG)
    seen = {}
    result = change.edit(port).preview(after=lambda r: seen.update(arns=tg_arns()))
    assert [f.error for f in result.failures] == ["Protected"]
    s = step(result, "web-pool-blue-tg")
    assert s.calls == [] and s.status == "failed"
    assert len(seen["arns"]) == 2  # no replacement target group was created


def test_10_unprotect_and_replace_in_one_deploy(change):
    # "we do allow unprotecting and replacing to happen in a single update cycle, we don't look
    # at old.Protect here" (step_generator.go); the replaced delete is not a protected delete.
    change.program("base", "components/pool.py", TG_OVERRIDE, PROTECT_TG)
    result = change.edit(port).preview()
    assert result.failures == []
    assert step(result, "web-pool-blue-tg").op == "replace"


# ------------------------------------------------------------------ 11-12: aliases


def test_11_component_rename_with_an_alias_keeps_every_child(change):
    # step_generator.go generateAliases/inheritedChildAlias: a child named "<parent>-x" of an
    # aliased parent gets the alias "<old parent name>-x" under the parent's old URN; the chain
    # continues to grandchildren through sg.aliases.
    change.program("head", "__main__.py", 'tier = WebTier("web", settings)',
                   'tier = WebTier("site", settings, opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name="web")]))')
    result = change.edit(lambda c: None).preview()
    assert {s.op for s in result.steps} <= {"same", "update"}, [(s.name, s.op) for s in result.steps if s.op != "same"]
    # only the Name tags the components derive from the component name change
    assert all(p.startswith(("tags", "tagSpecifications", "launchTemplate.version")) for s in result.steps if s.op == "update" for p in s.diffs)
    assert step(result, "site-lb-alb").old_urn.endswith("::web-lb-alb") and step(result, "site-lb-alb").op == "same"
    assert result.failures == []


def test_12_alb_to_lb_type_with_an_alias_diffs_normally(change):
    # The engine never compares types: an aliased old resource is diffed by the new type's
    # provider (step_generator.go getOldResource then diff); aws:alb and aws:lb are one schema.
    change.program("base", "components/load_balancer.py", "self.alb = aws.lb.LoadBalancer(",
                   "self.alb = aws.alb.LoadBalancer(")
    change.program("head", "components/load_balancer.py", "            opts=pulumi.ResourceOptions(parent=self, **replacement_options(settings)),",
                   "            opts=pulumi.ResourceOptions(parent=self, **replacement_options(settings), aliases=[\n"
                   "                pulumi.Alias(type_=\"aws:alb/loadBalancer:LoadBalancer\")]),")
    result = change.edit(lambda c: c[P + "loadBalancer"].update(idleTimeoutSeconds=90)).preview()
    s = step(result, "web-lb-alb")
    assert s.type == "aws:lb/loadBalancer:LoadBalancer" and s.op == "update" and s.diffs == ["idleTimeout"]
    assert result.failures == []


def test_12b_type_change_without_an_alias_creates_and_deletes(change):
    # Without an alias the URN differs: a create of the new and a delete of the old; the fixed
    # name collides (DuplicateLoadBalancerName) or the protected old one cannot be deleted.
    change.program("base", "components/load_balancer.py", "self.alb = aws.lb.LoadBalancer(",
                   "self.alb = aws.alb.LoadBalancer(")
    result = change.edit(lambda c: None).preview()
    assert step(result, "web-lb-alb").op in ("create", "delete")
    assert result.failures


# ------------------------------------------------------------------ 13-14: internal flip


def test_13_internal_flip_is_refused_before_any_write(change):
    # The load balancer is protected (components/load_balancer.py replacement_options): the
    # engine refuses its replacement before anything is created; the fix names the setting.
    seen = {}
    result = change.edit(lambda c: c[P + "loadBalancer"].update(internal=True)).preview(
        after=lambda r: seen.update(lbs=elbv2().describe_load_balancers()["LoadBalancers"]))
    assert [f.error for f in result.failures] == ["Protected"]
    assert "acceptReplacementDowntime" in result.failures[0].fix
    assert [lb["Scheme"] for lb in seen["lbs"]] == ["internet-facing"] and result.writes == 0


def test_14_internal_flip_accepted_deletes_first_with_its_listeners(change):
    # acceptReplacementDowntime: delete_before_replace=True; calculateDependentReplacements:
    # listeners (loadBalancerArn ForceNew) and rules (listenerArn ForceNew) are deleted first,
    # last first, and re-created when they register. The windows are shown and accepted.
    seen = {}

    def after(result):
        seen["lbs"] = [lb["Scheme"] for lb in elbv2().describe_load_balancers()["LoadBalancers"]]
        seen["listeners"] = len(elbv2().describe_listeners(LoadBalancerArn=result.head.outputs["loadBalancerArn"])
                                ["Listeners"])
    result = change.edit(lambda c: c[P + "loadBalancer"].update(internal=True, acceptReplacementDowntime=True)).preview(
        after=after)
    assert result.failures == []
    assert (step(result, "web-lb-alb").op, step(result, "web-lb-alb").dbr_source) == ("replace", "program")
    assert step(result, "web-routing-https").dbr_source == "dependent"
    assert seen == {"lbs": ["internal"], "listeners": 2}
    gone = [w for w in result.windows if w.share == 1.0 and "deleted before" in w.cause]
    assert gone and all(w.accepted for w in gone) and gone[0].seconds >= 180


# ------------------------------------------------------------------ 15-22: ordinary edits


def test_15_health_check_port_adds_rules_without_a_window(change):
    result = change.edit(lambda c: c[P + "pools"]["blue"]["healthCheck"].update(port="8081")).preview()
    assert result.failures == [] and blocking(result) == []
    assert step(result, "web-pool-blue-tg").op == "update"  # health_check.port is not ForceNew


def test_16_pool_added_unrouted(change):
    result = change.edit(lambda c: c[P + "pools"].update(spare={
        "ami": "ami-0c7217cdde317cfec", "capacityRps": 100, "minSize": 1, "desiredCapacity": 1, "maxSize": 2})).preview()
    assert result.failures == [] and result.windows == []
    assert step(result, "web-pool-spare-tg").op == "create"


def test_17_pool_added_and_routed_moves_traffic_after_its_group(change):
    # The forward depends on the new group (components/routing.py after_pools); the group's
    # create waits for min_elb_capacity healthy targets (autoscaling/group.go resourceGroupCreate).
    def edit(c):
        c[P + "pools"]["spare"] = {"ami": "ami-0c7217cdde317cfec", "capacityRps": 100, "minSize": 2,
                                   "desiredCapacity": 2, "maxSize": 4}
        c[P + "routing"]["rules"]["api"]["forward"]["weights"] = {"blue": 50, "spare": 50}
    result = change.edit(edit).preview()
    assert result.failures == [] and blocking(result) == []
    rule = next(r for r in result.head.resources if r.name == "web-routing-rule-api")
    asg = next(r for r in result.head.resources if r.name == "web-pool-spare-asg")
    assert asg.urn in rule.dependencies


def test_18_pool_removed_after_its_routing(change):
    # Deletes run last (ScheduleDeletes): the rules stop forwarding first, then the group goes.
    def edit(c):
        del c[P + "pools"]["green"]
        c[P + "routing"]["default"]["forward"]["weights"] = {"blue": 100}
        c[P + "routing"]["rules"]["api"]["forward"]["weights"] = {"blue": 100}
    result = change.edit(edit).preview()
    assert result.failures == [] and blocking(result) == []
    assert step(result, "web-pool-green-tg").op == "delete"


def test_19_priority_swap_fix_names_the_holder_and_a_free_priority(change):
    def swap(c):
        rules = c[P + "routing"]["rules"]
        rules["api"]["priority"], rules["maintenance"]["priority"] = 20, 10
    result = change.edit(swap).preview()
    fixes = [f.fix for f in result.failures if f.error == "PriorityInUse"]
    assert fixes and any("web-routing-rule-" in f and "free priority" in f for f in fixes)


def test_20_weights_update_only_the_forwards(change):
    result = change.edit(lambda c: c[P + "routing"]["default"]["forward"].update(weights={"blue": 70, "green": 30})).preview()
    changed = {s.name for s in result.steps if s.custom and s.op != "same"}
    assert "web-routing-https" in changed and not any(s.op == "replace" for s in result.steps)
    st = step(result, "web-routing-https")
    assert any(c.path.endswith("weight") and (c.old, c.new) == (50, 70) for c in st.changes)


def test_21_desired_capacity_is_ignored(change):
    # processIgnoreChanges (step_generator.go) resets desiredCapacity to its old value.
    result = change.edit(lambda c: c[P + "pools"]["blue"].update(desiredCapacity=4)).preview()
    assert step(result, "web-pool-blue-asg").op == "same"


def test_22_protocol_change_replaces_create_before_delete(change):
    result = change.edit(lambda c: c[P + "pools"]["green"].update(protocol="HTTPS")).preview()
    s = step(result, "web-pool-green-tg")
    assert s.op == "replace" and not s.delete_before_replace and "protocol" in s.replace_reasons
    assert not any(f.error == "ResourceInUse" for f in result.failures)


def test_23_deregistration_delay_updates_in_place(change):
    result = change.edit(lambda c: c[P + "pools"]["blue"].update(deregistrationDelaySeconds=45)).preview()
    s = step(result, "web-pool-blue-tg")
    assert (s.op, s.calls) == ("update", ["ModifyTargetGroupAttributes"])
    assert any((c.path, c.old, c.new) == ("deregistrationDelay", 30, 45) for c in s.changes)


def test_24_tags_change_updates_only(change):
    result = change.edit(lambda c: c.update({P + "tags": {"team": "web"}})).preview()
    assert result.failures == [] and not any(s.op in ("replace", "create", "delete") for s in result.steps if s.custom)


def test_25_listener_ssl_policy_updates(change):
    result = change.edit(lambda c: c[P + "listeners"].update(sslPolicy="ELBSecurityPolicy-TLS13-1-3-2021-06")).preview()
    assert step(result, "web-routing-https").op == "update" and result.failures == []


# ------------------------------------------------------------------ 26-31: engine options


def test_26_state_without_defaults_never_triggers_the_name_rule(change, tmp_path):
    # schema.go nameRequiresDeleteBeforeReplace: no __defaults list -> false ("resources that
    # were created before the defaults list existed"); schema_test.go TestDeleteBeforeReplaceAutoname
    # step 5. A state saved without it (older stacks), the component without its override:
    from lbguard.offline.emulator import emulated_aws, run_program
    from lbguard.offline.preview import records_from_state, run_preview, state_document

    change.program("both", "components/pool.py", TG_OVERRIDE, "opts=pulumi.ResourceOptions(parent=self),")
    with emulated_aws("us-east-1"):
        doc = state_document(run_program(change.base.path, "dev"))
    for r in doc["resources"]:
        r["inputs"].pop("__defaults", None)
    change.edit(port)
    with emulated_aws("us-east-1"):
        result = run_preview(None, change.head.path, "dev", base_state=records_from_state(doc, "state"))
    s = step(result, "web-pool-blue-tg")
    assert (s.op, s.delete_before_replace) == ("replace", False)
    assert not any(f.error == "ResourceInUse" for f in result.failures)


def test_27_deleted_with_makes_no_delete_call(change):
    # step.go DeleteStep.Apply: isDeletedWith(s.old.DeletedWith, otherDeletions) -> no provider
    # Delete; calculateDependentReplacements replaces a resource deleted with a replaced one.
    change.program("both", "components/routing.py", "tags=tags, opts=child)",
                   "tags=tags, opts=pulumi.ResourceOptions(parent=self, deleted_with=load_balancer_arn_res))")
    change.program("both", "components/routing.py", "        child = pulumi.ResourceOptions(parent=self)\n        groups",
                   "        child = pulumi.ResourceOptions(parent=self)\n        load_balancer_arn_res = pool_groups.pop('__lb')\n        groups")
    change.program("both", "components/web_tier.py", "pool_groups={k: p.asg for k, p in self.pools.items()}",
                   "pool_groups={'__lb': self.load_balancer.alb, **{k: p.asg for k, p in self.pools.items()}}")
    result = change.edit(lambda c: c[P + "loadBalancer"].update(internal=True, acceptReplacementDowntime=True)).preview()
    http = next(s for s in result.steps if s.name == "web-routing-http" and s.op == "delete")
    assert http.calls == [] and result.failures == []


def test_28_replace_with_replaces_the_dependent(change):
    # step_generator.go diff: "marked for replacement because ... (in its ReplaceWith list) is
    # being replaced" -> ReplaceKeys ["replaceWith"].
    change.program("both", "components/pool.py", '''            opts=child,
        )
        self.register_outputs({''', '''            opts=pulumi.ResourceOptions(parent=self, replace_with=[self.target_group]),
        )
        self.register_outputs({''')
    result = change.edit(port).preview()
    s = step(result, "web-pool-blue-cpu")
    assert s.op == "replace" and s.replace_reasons == ["replaceWith"]
    assert step(result, "web-pool-green-cpu").op == "same"


def test_29_provider_change_replaces(change):
    # step_generator.go providerChanged: a new provider reference (not an alias of the old one)
    # whose config differs replaces the resource (ReplaceKeys ["provider"]).
    change.program("head", "components/pool.py", '''            opts=child,
        )
        self.register_outputs({''', '''            opts=pulumi.ResourceOptions(parent=self, provider=aws.Provider(f"{name}-explicit", region="us-east-1")),
        )
        self.register_outputs({''')
    result = change.edit(lambda c: None).preview()
    s = step(result, "web-pool-blue-cpu")
    assert s.op == "replace" and s.replace_reasons == ["provider"]


def test_30_not_found_after_it_is_gone_counts_as_deleted(change):
    # The provider's Delete treats NotFound as done (elbv2/listener.go resourceListenerDelete:
    # ListenerNotFoundException -> return). The http listener vanished behind Pulumi's back.
    def gone(base_run):
        arn = next(r.id for r in base_run.resources if r.name == "web-routing-http")
        client("elbv2").delete_listener(ListenerArn=arn)
    result = change.edit(lambda c: c[P + "listeners"].update(httpRedirect=False)).preview(between=gone)
    s = step(result, "web-routing-http")
    assert s.op == "delete" and s.status == "ok" and result.failures == []


def test_31_replace_on_changes(change):
    # applyReplaceOnChanges: a changed path under a replaceOnChanges entry forces replacement.
    change.program("both", "components/pool.py", '''            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["desiredCapacity"]),''',
                   '''            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["desiredCapacity"],
                                        replace_on_changes=["healthCheckGracePeriod"], delete_before_replace=True),''')
    result = change.edit(lambda c: c[P + "pools"]["blue"].update(healthCheckGraceSeconds=120)).preview()
    s = step(result, "web-pool-blue-asg")
    assert s.op == "replace" and s.replace_reasons == ["healthCheckGracePeriod"] and s.delete_before_replace


def test_32_changes_json_masks_secrets(change):
    # A secret input is compared by value and never shown (issue 29: secrets masked).
    from lbguard.core.plan.paths import MASK, changes, secret

    found = changes({"a": secret("x")}, {"a": secret("y")})
    assert [(c.path, c.old, c.new) for c in found] == [("a", MASK, MASK)]
    result = change.edit(lambda c: c[P + "routing"]["rules"]["maintenance"]["fixedResponse"].update(
        messageBody="back soon")).preview()
    st = step(result, "web-routing-rule-maintenance")
    assert json.dumps(st.to_json()["changes"])  # plain JSON
    assert any(c["new"] == "back soon" for c in st.to_json()["changes"])
