"""Inputs a handler never reads are reported (a field silently dropped makes the emulation lie)."""

from __future__ import annotations

from types import SimpleNamespace

from lbguard.offline.emulator import core
from lbguard.offline.emulator.core import AwsEmulator, Tracked


def test_unread_paths_nested_and_in_lists():
    t = Tracked({"a": 1, "b": {"c": 2, "d": 3}, "e": [{"f": 1, "g": 2}], "h": None})
    t["a"]
    t["b"].get("c")
    t["e"][0]["f"]
    assert sorted(t.unread()) == ["b.d", "e.g", "h"]
    t.consume("b", "e", "h")
    assert t.unread() == []


def test_items_and_values_count_as_read():
    t = Tracked({"tags": {"x": "1"}, "other": 2})
    dict(t["tags"].items())
    assert t.unread() == ["other"]


def test_emulator_reports_what_a_handler_ignored(monkeypatch):
    def handler(em, args, i):
        return "id-1", {"seen": i["used"]}

    monkeypatch.setitem(core.HANDLERS, "test:index/thing:Thing", handler)
    em = AwsEmulator()
    args = SimpleNamespace(typ="test:index/thing:Thing", name="t1", custom=True, resource_id="", inputs={})
    rid, out = em.create(args, {"used": 1, "dropped": {"deep": True}, "tagsAll": {}})
    assert rid == "id-1" and out["seen"] == 1
    assert em.unconsumed == {"test:index/thing:Thing::t1": ["dropped"]}  # tagsAll is the provider's own
