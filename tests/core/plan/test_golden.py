"""Golden tables ported from the sources' own test vectors, run against lbguard.core.plan.

* pulumi-terraform-bridge pkg/tfbridge/schema_test.go ``TestDeleteBeforeReplaceAutoname``
  (commit 59de6c661df1): a schema with an auto-named ``inputA`` and a ForceNew ``inputB``;
  plus ``nameRequiresDeleteBeforeReplace``'s UniqueNameFields branch (schema.go) and the
  plugin-framework rule (pf/tfbridge/provider_diff.go: only the resource's own flag).
* pulumi/pulumi pkg/engine/lifecycletest/delete_before_replace_test.go (commit 1b5949891b3c):
  ``TestDeleteBeforeReplace`` (the A..L graph), ``TestExplicitDeleteBeforeReplace`` (the
  three-state option), ``TestDependencyChangeDBR``; alias_test.go ``TestAliases``
  (renames, type changes, parents of parents).
"""

from __future__ import annotations

import pytest

from lbguard.core.model import RecordedResource
from lbguard.core import provider_facts as facts
from lbguard.core.plan import bridge, engine

TYPE = "module:index:importableResource"


@pytest.fixture
def schema(monkeypatch):
    """The test provider of TestDeleteBeforeReplaceAutoname: input_a auto-named, input_b ForceNew."""
    state = {"auto": "inputA", "unique": (), "framework": "sdkv2", "own": False}
    monkeypatch.setattr(facts, "auto_name_property", lambda t: state["auto"])
    monkeypatch.setattr(facts, "unique_name_fields", lambda t: state["unique"])
    monkeypatch.setattr(facts, "framework", lambda t: state["framework"])
    monkeypatch.setattr(facts, "resource_delete_before_replace", lambda t: state["own"])
    monkeypatch.setattr(facts, "schema_defaults", lambda t: {})
    monkeypatch.setattr(facts, "forces_replacement", lambda t, p, **kw: p.split(".")[0] in ("inputB", "inputC"))
    return state


def _created(news: dict) -> dict:
    """Steps 1-2: Check without olds, then Create: the state's inputs (auto-name filled in)."""
    checked = bridge.check(TYPE, news)
    return {k: ("myResource-abc1234" if v == bridge.AUTO else v) for k, v in checked.items()}


def _diff(olds: dict, news: dict, *, drop_defaults: bool = False) -> bridge.Diff:
    checked = bridge.check(TYPE, news, olds)
    if drop_defaults:
        checked.pop(bridge.DEFAULTS)
    return bridge.diff(TYPE, olds, olds, checked)


def test_step3_auto_named_and_forcenew_change_is_create_before_delete(schema):
    olds = _created({"inputB": "foo"})
    assert olds[bridge.DEFAULTS] == ["inputA"]
    d = _diff(olds, {"inputB": "bar"})
    assert d.replace_keys == ["inputB"] and d.delete_before_replace is False


def test_step4_program_set_name_and_forcenew_change_is_delete_before_replace(schema):
    d = _diff(_created({"inputB": "foo"}), {"inputA": "myResource", "inputB": "bar"})
    assert d.replace_keys and d.delete_before_replace is True and d.name_rule


def test_step5_no_defaults_list_is_the_back_compat_case(schema):
    d = _diff(_created({"inputB": "foo"}), {"inputA": "myResource", "inputB": "bar"}, drop_defaults=True)
    assert d.replace_keys and d.delete_before_replace is False


def test_step6_no_auto_name_in_the_schema(schema):
    schema["auto"] = None
    d = _diff(_created({"inputB": "foo"}), {"inputA": "myResource", "inputB": "bar"})
    assert d.replace_keys and d.delete_before_replace is False


def test_legacy_state_check_keeps_no_defaults_list(schema):
    olds = {"inputA": "myResource", "inputB": "foo"}  # a state written before the list existed
    checked = bridge.check(TYPE, {"inputA": "myResource", "inputB": "bar"}, olds, legacy=True)
    assert bridge.DEFAULTS not in checked
    assert bridge.diff(TYPE, olds, olds, checked).delete_before_replace is False


def test_an_auto_name_survives_updates(schema):
    # applyDefaults: "If we already have a default value from a previous version of this resource, use that instead."
    olds = _created({"inputB": "foo"})
    checked = bridge.check(TYPE, {"inputB": "foo"}, olds)
    assert checked["inputA"] == olds["inputA"] and bridge.diff(TYPE, olds, olds, checked).changes == []


@pytest.mark.parametrize("old_c, new_c, set_name, expected", [
    ("x", "y", True, False),   # a unique-name field changed: the name is unique again
    ("x", "x", True, True),    # unchanged: the set name collides
    ("x", "x", False, False),  # the unique field is the auto-name and was defaulted
])
def test_unique_name_fields(schema, old_c, new_c, set_name, expected):
    schema["unique"] = ("inputC",) if set_name else ("inputA",)
    olds = {"inputA": "n", "inputB": "foo", "inputC": old_c, bridge.DEFAULTS: [] if set_name else ["inputA"]}
    news = {"inputB": "bar", "inputC": new_c, **({"inputA": "n"} if set_name else {})}
    assert bridge.diff(TYPE, olds, olds, bridge.check(TYPE, news, olds)).delete_before_replace is expected


def test_plugin_framework_applies_only_the_resource_flag(schema):
    schema["framework"] = "pf"
    olds = _created({"inputB": "foo"})
    assert _diff(olds, {"inputA": "myResource", "inputB": "bar"}).delete_before_replace is False
    schema["own"] = True
    assert _diff(olds, {"inputB": "bar"}).delete_before_replace is True


# ------------------------------------------------------------------ the engine


def urn(name: str, type_token: str = "pkgA:m:typA", parent: str | None = None) -> str:
    return engine.make_urn("test", "test", parent, type_token, name)


def res(name: str, *, provider: str | None = None, props: dict | None = None, custom: bool = True,
        type_token: str = "pkgA:m:typA", **kw) -> RecordedResource:
    deps = sorted({u for us in (props or {}).values() for u in us})
    return RecordedResource(urn=kw.pop("urn", urn(name, type_token)), type=type_token, name=name, custom=custom,
                            provider=provider, property_dependencies=props or {}, dependencies=deps, **kw)


def test_lifecycle_delete_before_replace_complex_graph():
    """TestDeleteBeforeReplace: replacing provider A replaces B, C, E, F and K."""
    prov = "pulumi:providers:pkgA"
    a, c, d = urn("A", prov), urn("C", prov), urn("D", prov)
    olds = [
        res("A", type_token=prov, urn=a),
        res("B", provider=f"{a}::0"),
        res("C", type_token=prov, urn=c, props={"A": [a]}),
        res("D", type_token=prov, urn=d, props={"B": [a]}),
        res("E", provider=f"{c}::2"),
        res("F", props={"A": [c]}),
        res("G", props={"B": [c]}),
        res("H", provider=f"{d}::3"),
        res("I", props={"A": [d]}),
        res("J", props={"B": [d]}),
        res("K", props={"A": [urn("F"), urn("G")]}),
        res("L", props={"B": [urn("F"), urn("G")]}),
    ]
    chain = engine.dependent_replacements(olds[0], olds, set(), lambda t, k: k == "A")
    assert {engine.urn_name(r.urn) for r in chain} == {"B", "C", "E", "F", "K"}
    order = [engine.urn_name(r.urn) for r in chain]
    assert order.index("C") < order.index("E") and order.index("F") < order.index("K")  # dependency order


def test_lifecycle_dependency_change_dbr():
    """TestDependencyChangeDBR: resB re-registered first without its dependency is not deleted."""
    a = res("resA")
    b = res("resB", props={"A": [a.urn]})
    assert engine.dependent_replacements(a, [a, b], {b.urn}, lambda t, k: True) == []
    assert [r.name for r in engine.dependent_replacements(a, [a, b], set(), lambda t, k: True)] == ["resB"]


@pytest.mark.parametrize("provider_dbr, option, expected", [
    (False, None, False), (False, True, True), (True, None, True), (True, False, False), (False, False, False),
])
def test_lifecycle_explicit_delete_before_replace(provider_dbr, option, expected):
    """TestExplicitDeleteBeforeReplace: the program's option, true or false, wins over the provider."""
    old = res("resA")
    new = res("resA", delete_before_replace=option)
    diff = bridge.Diff([bridge.Change("A", "foo", "bar")], ["A"], provider_dbr)
    d = engine.decide(new, old, diff, replacing=set())
    assert d.op == "replace" and d.delete_before_replace is expected


def test_protect_refuses_only_when_old_and_new_are_protected():
    diff = bridge.Diff([bridge.Change("A", "foo", "bar")], ["A"], False)
    assert engine.decide(res("r", protect=True), res("r", protect=True), diff, replacing=set()).refused
    assert not engine.decide(res("r", protect=False), res("r", protect=True), diff, replacing=set()).refused
    assert not engine.decide(res("r", protect=True), res("r", protect=False), diff, replacing=set()).refused
    update = bridge.Diff([bridge.Change("B", "1", "2")], [], False)
    assert engine.decide(res("r", protect=True), res("r", protect=True), update, replacing=set()).op == "update"


def test_replace_with_and_deleted_with_and_provider_changes():
    same = bridge.Diff([], [], False)
    x = urn("x")
    assert engine.decide(res("r", replace_with=[x]), res("r"), same, replacing={x}).reasons == ["replaceWith"]
    assert engine.decide(res("r", deleted_with=x), res("r"), same, replacing={x}).reasons == ["deletedWith"]
    assert engine.decide(res("r", deleted_with=x), res("r"), same, replacing=set()).op == "same"
    moved = engine.decide(res("r", provider="urn:p::two::2"), res("r", provider="urn:p::one::1"), same, replacing=set())
    assert moved.reasons == ["provider"]
    aliased = engine.decide(res("r", provider="urn:p::two::1"), res("r", provider="urn:p::one::1"), same,
                            replacing=set(), aliased={"urn:p::two": "urn:p::one"})
    assert aliased.op == "same"


def _find(rec, olds, resolved):
    return engine.find_old(rec, {o.urn: o for o in olds}, resolved, {})[0]


def test_aliases_rename_and_type_change():
    """TestAliases: a rename, a type change, and both, each continue the old resource."""
    old = res("n1", type_token="pkgA:index:t1")
    for new in (res("n2", type_token="pkgA:index:t1", alias_specs=[{"name": "n1"}]),
                res("n1", type_token="pkgA:othermod:t3", alias_specs=[{"type": "pkgA:index:t1"}]),
                res("n2", type_token="pkgA:index:t4", alias_specs=[{"type": "pkgA:index:t1", "name": "n1"}])):
        assert _find(new, [old], {}) is old
    assert _find(res("n2", type_token="pkgA:index:t1"), [old], {}) is None


def test_aliases_of_parents_of_parents():
    """TestAliases "n1-name-change": n1 -> n1-new with an alias; the children follow through
    their parent's alias (inherited child aliases), the grandchild through its parent's."""
    p1 = res("n1", type_token="pkgA:index:t1")
    p2 = res("n1-sub", type_token="pkgA:index:t2", urn=urn("n1-sub", "pkgA:index:t2", p1.urn), parent=p1.urn)
    p3 = res("n1-sub-sub", type_token="pkgA:index:t3", urn=urn("n1-sub-sub", "pkgA:index:t3", p2.urn), parent=p2.urn)
    olds, resolved = [p1, p2, p3], {}
    n1 = res("n1-new", type_token="pkgA:index:t1-new", alias_specs=[{"type": "pkgA:index:t1", "name": "n1"}])
    n2 = res("n1-new-sub", type_token="pkgA:index:t2", parent=n1.urn, urn=urn("n1-new-sub", "pkgA:index:t2", n1.urn))
    n3 = res("n1-new-sub-sub", type_token="pkgA:index:t3", parent=n2.urn,
             urn=urn("n1-new-sub-sub", "pkgA:index:t3", n2.urn))
    assert [_find(r, olds, resolved) for r in (n1, n2, n3)] == [p1, p2, p3]


def test_two_resources_claiming_one_alias_is_an_error():
    """TestAliases "t1-fail-duplicate"."""
    old = res("n1", type_token="pkgA:index:t1")
    claimed, resolved, olds = {}, {}, {old.urn: old}
    first = res("n2", type_token="pkgA:index:t1", alias_specs=[{"name": "n1"}])
    second = res("n3", type_token="pkgA:index:t2", alias_specs=[{"type": "pkgA:index:t1", "name": "n1"}])
    assert engine.find_old(first, olds, resolved, claimed) == (old, None)
    assert engine.find_old(second, olds, resolved, claimed)[1]


def test_deletes_run_dependents_first():
    a = res("a")
    b = res("b", props={"x": [a.urn]})
    c = res("c", props={"x": [b.urn]})
    chains = engine.schedule_deletes([a, b, c], [a, b, c])
    assert [[r.name for r in chain] for chain in chains] == [["c"], ["b"], ["a"]]
    assert engine.deleted_with_skip(res("d", deleted_with=a.urn), {a.urn})
