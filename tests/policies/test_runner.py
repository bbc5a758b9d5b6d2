"""The offline runner: engine-faithful config reconciliation, the engine's view of the
pack process (env, cwd, wire format), and failures reported as one line plus stderr."""

from __future__ import annotations

import json
import textwrap

import pytest

from lbguard.core.model import LbguardError
from lbguard.offline.policy_runner import PackProcess, pack_config_for_stack, parse_config, reconcile_config, run_pack
from pulumi.runtime.proto import analyzer_pb2
from tests.policies.conftest import CONFIGS, PACK
from tests.policies.fixtures import Stack, june_1

# ------------------------------------------------------------------ config


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_stack_configs_reconcile(pack, stack):
    cfg = reconcile_config(pack.info, CONFIGS[stack], f"policies/config/{stack}.json")
    assert set(cfg) == {p.name for p in pack.info.policies}
    assert all(c["enforcementLevel"] in ("advisory", "mandatory", "disabled") for c in cfg.values())
    if stack == "prod":
        assert {c["enforcementLevel"] for c in cfg.values()} == {"mandatory"}
        assert cfg["no-traffic-funnel"]["properties"] == {"maxInstanceShare": 0.25}
    assert cfg["capacity-covers-share"]["properties"]["headroom"] > 0  # schema default or the file's


def test_defaults_and_levels_without_a_file(pack):
    cfg = reconcile_config(pack.info, {})
    assert cfg["no-traffic-funnel"] == {"enforcementLevel": "mandatory", "properties": {"maxInstanceShare": 0.5}}
    assert cfg["alb-tls-policy"]["enforcementLevel"] == "advisory"
    assert cfg["target-group-health-check"]["properties"] == {"maxIntervalSeconds": 30, "maxDetectionSeconds": 60}


def test_all_then_per_policy_and_property_merge(pack):
    cfg = reconcile_config(pack.info, {"all": "advisory",
                                       "capacity-covers-share": {"enforcementLevel": "mandatory", "headroom": 0.4},
                                       "no-traffic-funnel": {"maxInstanceShare": 0.3}})
    assert cfg["even-target-weights"]["enforcementLevel"] == "advisory"
    assert cfg["capacity-covers-share"] == {"enforcementLevel": "mandatory",
                                            "properties": {"headroom": 0.4, "degradedMaxUtilisation": 1.0}}
    # Properties alone keep the level "all" gave.
    assert cfg["no-traffic-funnel"] == {"enforcementLevel": "advisory", "properties": {"maxInstanceShare": 0.3}}


@pytest.mark.parametrize("user,needle", [
    ({"no-such-policy": "mandatory"}, "cfg.json: no-such-policy: no such policy in pack 'lb-safety'"),
    ({"no-traffic-funnel": {"maxInstanceShare": "half"}}, "cfg.json: no-traffic-funnel.maxInstanceShare: 'half' is not of type 'number'"),
    ({"no-traffic-funnel": {"maxInstanceShare": 2}}, "cfg.json: no-traffic-funnel.maxInstanceShare: 2 is greater than the maximum of 1"),
    ({"even-target-weights": "sometimes"}, "cfg.json: even-target-weights: must be one of advisory, mandatory, disabled, remediate"),
    ({"even-target-weights": {"enforcementLevel": 1}}, "cfg.json: even-target-weights.enforcementLevel: must be a string"),
    ({"all": "loud"}, "cfg.json: all: must be one of"),
    ({"capacity-covers-share": {"headrom": 0.2}}, "cfg.json: capacity-covers-share.headrom: not a setting of this policy"),
    ({"alb-tls-policy": {"allowedPolicies": "ELBSecurityPolicy-TLS13-1-2-2021-06"}}, "cfg.json: alb-tls-policy.allowedPolicies:"),
    ({"even-target-weights": {"canaryExemptions": [{"name": "x"}]}}, "cfg.json: even-target-weights.canaryExemptions.0: 'maxShare' is a required property"),
    ({"no-traffic-funnel": 0.5}, "cfg.json: no-traffic-funnel: must be an enforcement level or an object, got 0.5"),
])
def test_bad_config_is_one_line_naming_policy_and_key(pack, user, needle):
    with pytest.raises(LbguardError) as err:
        reconcile_config(pack.info, user, "cfg.json")
    assert str(err.value).startswith(needle) and "\n" not in str(err.value), str(err.value)


def _info(policies, initial=None):
    info = analyzer_pb2.AnalyzerInfo(name="p", supportsConfig=True)
    for name, level, props in policies:
        p = info.policies.add(name=name, enforcementLevel=level)
        if props:
            p.configSchema.properties.update(props)
    for name, (level, props) in (initial or {}).items():
        cfg = analyzer_pb2.PolicyConfig(enforcementLevel=level)
        if props:
            cfg.properties.update(props)
        info.initialConfig[name].CopyFrom(cfg)
    return info


def test_initial_config_as_the_engine_reads_it():
    """initialConfig applies before the user's file; an entry's level is always on the wire,
    so an entry with properties only reads as advisory (the engine does the same)."""
    info = _info([("a", analyzer_pb2.MANDATORY, {"n": {"type": "number", "default": 1}}),
                  ("b", analyzer_pb2.MANDATORY, None)],
                 {"a": (analyzer_pb2.ADVISORY, {"n": 2})})
    assert reconcile_config(info, {}) == {"a": {"enforcementLevel": "advisory", "properties": {"n": 2}},
                                          "b": {"enforcementLevel": "mandatory", "properties": {}}}
    assert reconcile_config(info, {"a": {"enforcementLevel": "mandatory", "n": 3}})["a"] == \
        {"enforcementLevel": "mandatory", "properties": {"n": 3}}
    info = _info([("a", analyzer_pb2.MANDATORY, None), ("b", analyzer_pb2.ADVISORY, None)],
                 {"all": (analyzer_pb2.DISABLED, None)})
    assert {k: v["enforcementLevel"] for k, v in reconcile_config(info, {"b": "mandatory"}).items()} == \
        {"a": "disabled", "b": "mandatory"}


def test_config_file_parsing_as_the_engine():
    assert parse_config({"x": {}, "y": "mandatory", "z": {"enforcementLevel": "disabled", "k": 1}}) == {
        "y": {"enforcementLevel": "mandatory", "properties": {}},
        "z": {"enforcementLevel": "disabled", "properties": {"k": 1}}}


def test_pack_config_for_stack(tmp_path):
    assert pack_config_for_stack(PACK, "prod") == PACK / "config" / "prod.json"
    assert pack_config_for_stack(PACK, "nope") is None


def test_run_pack_with_a_bad_config_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"no-trafic-funnel": {"maxInstanceShare": 0.5}}))
    with pytest.raises(LbguardError) as err:
        run_pack(PACK, june_1(), config_file=bad, timeout=30)
    assert str(err.value).startswith(f"{bad}: no-trafic-funnel: no such policy") and "\n" not in str(err.value)
    bad.write_text("{not json")
    with pytest.raises(LbguardError, match="not valid JSON"):
        run_pack(PACK, june_1(), config_file=bad, timeout=30)


def test_run_pack_end_to_end_with_the_stack_file():
    violations = run_pack(PACK, june_1(), config_file=pack_config_for_stack(PACK, "dev"), timeout=60)
    funnel = [v for v in violations if v.policy == "no-traffic-funnel"]
    assert [(v.enforcement_level, v.name, v.type) for v in funnel] == [
        ("mandatory", "shop-catch-all", "aws:lb/listenerRule:ListenerRule")]
    assert json.loads(json.dumps([v.to_json() for v in violations]))  # the preflight --json shape


# ------------------------------------------------------------------ the engine's view


ECHO_PACK = textwrap.dedent('''
    import json, os
    from collections.abc import Mapping
    from pulumi_policy import (EnforcementLevel, PolicyConfigSchema, PolicyPack, ResourceValidationPolicy,
                               StackValidationPolicy)

    def resource(args, report):
        report(json.dumps({"port": args.props["port"], "password": args.props.get("password"),
                           "cfg": args.get_config(), "env": {k: os.environ.get(k) for k in
                           ("PULUMI_PROJECT", "PULUMI_STACK", "PULUMI_DRY_RUN", "PULUMI_CONFIG")},
                           "cwd": os.getcwd()}))

    def plain(v):
        if isinstance(v, Mapping):
            return {k: plain(v[k]) for k in v}
        return v

    def stack(args, report):
        root = next(r for r in args.resources if r.resource_type == "pulumi:pulumi:Stack")
        other = next(r for r in args.resources if r.name == "web-thing")
        report(json.dumps({"outputs": plain(root.props), "deps": {k: [d.urn for d in v]
                           for k, v in other.property_dependencies.items()}}), root.urn)

    PolicyPack(name="echo", enforcement_level=EnforcementLevel.MANDATORY, policies=[
        ResourceValidationPolicy(name="echo-resource", description="d", validate=resource,
                                 config_schema=PolicyConfigSchema({"k": {"type": "string", "default": "v"}})),
        StackValidationPolicy(name="echo-stack", description="d", validate=stack)])
''')


def _write_pack(path, body):
    path.mkdir(parents=True, exist_ok=True)
    (path / "PulumiPolicy.yaml").write_text(f"name: {path.name}\nruntime: python\n")
    (path / "__main__.py").write_text(body)
    return path


def test_engine_view_env_cwd_wire_format(tmp_path):
    pack_dir = _write_pack(tmp_path / "echo", ECHO_PACK)
    s = Stack("staging")
    s.add("aws:lb/targetGroup:TargetGroup", "web-tg", {"port": 80}, {"arn": "arn:tg"})
    s.add("aws:rds/instance:Instance", "web-thing",
          {"port": 5432, "password": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                                      "value": "hunter2"}},
          deps={"vpcSecurityGroupIds": ["web-tg"]})
    run = s.run({"url": "https://x", "rollback": {"schemaVersion": 1}})
    violations = run_pack(pack_dir, run, dry_run=True, program_config={"web-tier:env": "staging"}, timeout=30)
    resource = [json.loads(v.message) for v in violations if v.policy == "echo-resource" and v.name == "web-thing"][0]
    assert resource["port"] == 5432.0 and isinstance(resource["port"], float)  # numbers arrive as floats
    assert resource["password"] == "hunter2"  # secrets unwrapped
    assert resource["cfg"] == {"k": "v"}  # schema default applied by the "engine"
    assert resource["env"] == {"PULUMI_PROJECT": "web-tier", "PULUMI_STACK": "staging", "PULUMI_DRY_RUN": "true",
                               "PULUMI_CONFIG": json.dumps({"web-tier:env": "staging"})}
    assert resource["cwd"] == str(pack_dir.resolve())
    [st] = [v for v in violations if v.policy == "echo-stack"]
    assert st.type == "pulumi:pulumi:Stack" and st.enforcement_level == "mandatory"
    assert json.loads(st.message) == {"outputs": {"url": "https://x", "rollback": {"schemaVersion": 1}},
                                      "deps": {"vpcSecurityGroupIds": [s.by_name["web-tg"].urn]}}


# ------------------------------------------------------------------ failures


def test_pack_that_cannot_start(tmp_path):
    pack_dir = _write_pack(tmp_path / "broken", "raise RuntimeError('cannot load policies')\n")
    with pytest.raises(LbguardError) as err:
        run_pack(pack_dir, june_1(), timeout=30)
    first, _, rest = str(err.value).partition("\n")
    assert first.startswith("policy pack broken failed to start:") and "cannot load policies" in rest


def test_no_pack_there(tmp_path):
    with pytest.raises(LbguardError, match="no PulumiPolicy.yaml"):
        run_pack(tmp_path, june_1())


def test_policy_that_raises(tmp_path):
    pack_dir = _write_pack(tmp_path / "raising", textwrap.dedent('''
        from pulumi_policy import PolicyPack, ResourceValidationPolicy, EnforcementLevel
        def boom(args, report):
            raise ValueError("policy bug in " + args.name)
        PolicyPack(name="raising", enforcement_level=EnforcementLevel.MANDATORY,
                   policies=[ResourceValidationPolicy(name="boom", description="d", validate=boom)])
    '''))
    with pytest.raises(LbguardError) as err:
        run_pack(pack_dir, june_1(), timeout=30)
    assert str(err.value) == "policy pack raising: Analyze failed: Exception calling application: policy bug in web-subnet-a"


def test_lb_safety_policy_that_raises_shows_its_traceback():
    """Malformed props crash a policy: one summary line, then the pack's stderr with the
    traceback and the policy's name (lb-safety prints it; gRPC alone would swallow it)."""
    s = Stack("dev")
    s.add("aws:lb/targetGroup:TargetGroup", "odd-tg", {"port": 80, "protocol": "HTTP", "healthCheck": "yes"})
    with pytest.raises(LbguardError) as err:
        run_pack(PACK, s.run(), timeout=30)
    first, _, rest = str(err.value).partition("\n")
    assert first.startswith("policy pack policies: Analyze failed: Exception calling application:")
    assert "policy target-group-health-check raised:" in rest and "Traceback" in rest


def test_timeout_kills_the_pack(tmp_path):
    pack_dir = _write_pack(tmp_path / "slow", textwrap.dedent('''
        import sys, time
        from pulumi_policy import PolicyPack, StackValidationPolicy, EnforcementLevel
        def slow(args, report):
            print("thinking hard", file=sys.stderr, flush=True)
            time.sleep(30)
        PolicyPack(name="slow", enforcement_level=EnforcementLevel.MANDATORY,
                   policies=[StackValidationPolicy(name="slow", description="d", validate=slow)])
    '''))
    run = june_1()
    with PackProcess(pack_dir, project=run.project, stack=run.stack, timeout=5.0) as process:
        from lbguard.offline.policy_runner import analyze
        from google.protobuf import empty_pb2
        info = process.call("GetAnalyzerInfo", empty_pb2.Empty())
        with pytest.raises(LbguardError) as err:
            analyze(process, run.resources, run.outputs, config=reconcile_config(info, {}))
    assert str(err.value).startswith("policy pack slow: AnalyzeStack timed out after 5s")
    assert "thinking hard" in str(err.value)
    assert process.proc.poll() is not None  # killed on the way out


def test_severity_reaches_the_violation_and_orders_them(tmp_path):
    """The engine's AnalyzeDiagnostic.severity (a policy's declared severity, or the one its report
    gives) is kept; preflight lists mandatory first, then by severity, most severe first."""
    from lbguard.cli.commands.preflight import ordered_violations

    pack_dir = _write_pack(tmp_path / "graded", textwrap.dedent('''
        from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy, Severity
        def only_subnets(severity):
            def validate(args, report):
                if args.name == "web-subnet-a":
                    report("found " + args.name)
            return validate
        PolicyPack(name="graded", enforcement_level=EnforcementLevel.MANDATORY, policies=[
            ResourceValidationPolicy(name="a-low", description="d", validate=only_subnets(None), severity=Severity.LOW),
            ResourceValidationPolicy(name="b-critical", description="d", validate=only_subnets(None),
                                     severity=Severity.CRITICAL),
            ResourceValidationPolicy(name="c-none", description="d", validate=only_subnets(None)),
            ResourceValidationPolicy(name="d-high-advisory", description="d", validate=only_subnets(None),
                                     severity=Severity.HIGH, enforcement_level=EnforcementLevel.ADVISORY)])
    '''))
    violations = run_pack(pack_dir, june_1(), timeout=30)
    assert {v.policy: v.severity for v in violations} == {"a-low": "low", "b-critical": "critical", "c-none": "",
                                                          "d-high-advisory": "high"}
    assert [v.policy for v in ordered_violations(violations)] == ["b-critical", "a-low", "c-none", "d-high-advisory"]
    assert {v["policy"]: v["severity"] for v in (x.to_json() for x in violations)}["b-critical"] == "critical"
