"""The traffic-profile file format (lbguard.core.profile): parse, normalise, refuse bad input."""

import pytest

from lbguard.core.model import LbguardError
from lbguard.core.profile import dump_profile, load_profile, parse_profile


def _doc(**extra):
    return {"version": 1, "classes": [
        {"name": "api", "weight": 30, "path": "/api/v1/items", "port": 443},
        {"name": "home", "weight": 70, "host": "www.example.com"},
        {"name": "admin", "weight": 10, "host": "admin.example.com", "port": 80},
    ], **extra}


def test_shares_are_normalised_per_listener_port():
    p = parse_profile(_doc())
    on_443 = {c.name: s for c, s in p.for_port(443)}
    assert on_443 == pytest.approx({"api": 0.3, "home": 0.7})
    on_80 = {c.name: s for c, s in p.for_port(80)}
    assert on_80 == pytest.approx({"home": 70 / 80, "admin": 10 / 80})


def test_request_of_a_class():
    r = parse_profile(_doc()).classes[1].request
    assert (r.host, r.path, r.method) == ("www.example.com", "/", "GET")


@pytest.mark.parametrize("patch, needle", [
    ({"version": 2}, "version"),
    ({"classes": []}, "classes"),
    ({"classes": [{"name": "a", "weight": 0}]}, "classes.0.weight"),
    ({"classes": [{"name": "a", "weight": 1, "path": "api"}]}, "must start with /"),
    ({"classes": [{"name": "a", "weight": 1, "method": "FETCH"}]}, "method"),
    ({"classes": [{"name": "a", "weight": 1, "sourceIp": "10.0.0.0/8"}]}, "sourceIp"),
    ({"classes": [{"name": "a", "weight": 1}, {"name": "a", "weight": 2}]}, "appears twice"),
    ({"colour": "red"}, "colour"),
])
def test_bad_profiles_one_line(patch, needle):
    with pytest.raises(LbguardError) as err:
        parse_profile({**_doc(), **patch}, "p.yaml")
    text = str(err.value)
    assert "\n" not in text and needle in text and text.startswith("p.yaml: ")


def test_round_trip_yaml_and_json(tmp_path):
    p = parse_profile(_doc(peakRequestsPerSecond=250))
    for name in ("t.yaml", "t.json"):
        dump_profile(p, tmp_path / name)
        assert load_profile(tmp_path / name) == p


def test_unreadable_files(tmp_path):
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "bad.yaml").write_text("classes: [unclosed")
    for name in ("bin.yaml", "bad.yaml", "missing.yaml"):
        with pytest.raises(LbguardError):
            load_profile(tmp_path / name)
