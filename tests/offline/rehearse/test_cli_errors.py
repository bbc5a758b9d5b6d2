"""Bad input to `lbguard rehearse`: one line on stderr, exit 2, nothing written, no process left."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from lbguard.cli.app import main


@pytest.mark.parametrize("args,needle", [
    (["--duration", "soon"], "--duration 'soon': expected seconds"),
    (["--duration", "1h"], "--duration"),
    (["--duration", "900s"], "between 2s and 300s"),
    (["--scale", "0"], "--scale 0: must be > 0"),
    (["--scale", "1.5"], "--scale 1.5"),
    (["--scenario", "meteor"], "--scenario meteor: must be one of all-healthy, instance-lost, az-lost"),
    (["--chart", "out.jpg"], "--chart out.jpg: must end in .png"),
    (["--json", "/nonexistent-dir/r.json"], "directory /nonexistent-dir does not exist"),
    (["--profile", "no-such-profile.yaml"], "--profile"),
    (["--max-error-rate", "2"], "--max-error-rate between 0 and 1"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["rehearse", "--stack", "dev", *args, "--json", str(tmp_path / "r.json")]
                                if "--json" not in args else ["rehearse", *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lbguard: error:") and needle in lines[0], lines
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_missing_haproxy_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither haproxy nor wrk on PATH
    result = CliRunner().invoke(main, ["rehearse", "--stack", "dev"])
    assert result.exit_code == 2
    assert "haproxy is not installed" in result.stderr and "apt-get install -y haproxy wrk" in result.stderr


def test_bad_profile_is_one_line(tmp_path):
    bad = tmp_path / "traffic.yaml"
    bad.write_text("version: 1\nclasses:\n  - name: a\n    weight: 0\n")
    result = CliRunner().invoke(main, ["rehearse", "--stack", "dev", "--profile", str(bad)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "classes.0.weight" in lines[0], lines
