"""Every error path of the CLI: a bad input gets at most 3 lines on stderr (one, normally),
no traceback, exit 2, nothing written (issue 12). Each case fails before any program run or
AWS call, so the whole set runs in seconds."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from lbguard.cli.app import main
from tests.conftest import ROOT

R = str(ROOT)
CASES = [
    # (arguments, text the error must contain)
    (["preflight", "--stack", "dev"], "no Pulumi.yaml"),  # run outside any project
    (["preflight", "--stack", "nope", "--cwd", R], "stack 'nope' not found"),
    (["preflight", "--stack", "dev", "--cwd", "/nonexistent"], "/nonexistent"),
    (["preflight", "--stack", "dev", "--cwd", R, "--policy-pack", "/nonexistent"], "/nonexistent"),
    (["preflight", "--stack", "dev", "--cwd", R, "--json", "/nonexistent-dir/x.json"], "/nonexistent-dir"),
    (["preflight", "--stack", "dev", "--cwd", R, "--policy-pack-config", "/nonexistent.json"], "/nonexistent.json"),
    (["preflight", "--stack", "dev", "--cwd", R, "--freeze", "/nonexistent.json"], "/nonexistent.json"),
    (["preflight", "--bogus"], "--bogus"),
    (["route", "--stack", "dev", "--cwd", R, "--source-ip", "300.1.1.1"], "--source-ip"),
    (["route", "--stack", "dev", "--cwd", R, "--header", "novalue"], "--header"),
    (["route", "--stack", "dev", "--cwd", R, "--query", "novalue"], "--query"),
    (["route", "--stack", "nope", "--cwd", R], "stack 'nope' not found"),
    (["preview", "--stack", "dev", "--cwd", R, "--base", "no-such-rev-xyz"], "not a git revision"),
    (["preview", "--stack", "dev", "--cwd", R, "--policy-pack", "/nonexistent"], "no PulumiPolicy.yaml"),
    (["preview", "--stack", "dev", "--cwd", R, "--base-state", "/nonexistent.json"], "/nonexistent.json"),
    (["preview", "--stack", "dev", "--cwd", R, "--base", "HEAD", "--base-state", "x.json"], "two bases"),
    (["diff", "/nonexistent-a.json", "/nonexistent-b.json"], "nonexistent-a.json"),
    (["diff", "BAD_JSON", "BAD_JSON"], "BASE"),
    (["diff", "EMPTY_OBJ", "EMPTY_OBJ"], "BASE"),
    (["diff", "BAD_JSON", "BAD_JSON", "--json", "/nonexistent-dir/d.json"], "/nonexistent-dir"),
    (["serve", "--idle", "0"], "--idle"),
    (["serve", "--stop", "--status"], "give one of them"),
    (["serve", "--stop", "--json", "-"], "only with --status"),
    (["rehearse", "--stack", "dev", "--cwd", R, "--duration", "soon"], "--duration"),
    (["rehearse", "--stack", "dev", "--cwd", R, "--scale", "0"], "--scale"),
    (["rehearse", "--stack", "dev", "--cwd", R, "--scenario", "meteor"], "--scenario"),
    (["rehearse", "--stack", "dev", "--cwd", R, "--chart", "out.jpg"], "--chart"),
    (["profile", "--from-logs", "/nonexistent-logs", "-o", "out.yaml"], "/nonexistent-logs"),
    (["profile", "--from-logs", ".", "--since", "forever", "-o", "out.yaml"], "--since"),
    (["profile", "--from-logs", ".", "-o", "/nonexistent-dir/p.yaml"], "/nonexistent-dir"),
    (["profile", "--from-logs", "s3://", "-o", "out.yaml"], "s3://"),
    (["sandbox", "--stack", "nope", "--cwd", R], "nope"),
    (["freeze", "--stack", "dev", "--cwd", "/nonexistent"], "/nonexistent"),
    (["rollback", "--stack", "dev", "--cwd", R, "--snapshot", "/nonexistent.json"], "/nonexistent.json"),
    (["drill", "--undo", "--stack", "nope", "--cwd", R], "stack 'nope' not found"),
    (["drill", "--stack", "nope", "--cwd", R], "stack 'nope' not found"),
    (["drill", "--undo", "--stack", "../dev", "--cwd", R], "a stack name holds only"),
    (["drill", "--undo", "--stack", "dev", "--cwd", "/nonexistent"], "/nonexistent"),
    (["drill", "--scenario", "meteor", "--stack", "dev", "--cwd", R], "--scenario"),
    (["nosuchcommand"], "nosuchcommand"),
]


@pytest.mark.parametrize("args, needle", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input_is_short_exit_2_and_writes_nothing(tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    (tmp_path / "BAD_JSON").write_text("{not json")
    (tmp_path / "EMPTY_OBJ").write_text(json.dumps({}))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = CliRunner().invoke(main, args)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, (result.output, result.exception)
    assert 1 <= len(lines) <= 3 and "Traceback" not in result.output, lines
    assert needle in result.stderr, lines
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written


def test_at_least_25_bad_inputs_across_the_commands():
    assert len(CASES) >= 25 and len({a[0] for a, _ in CASES}) >= 9
