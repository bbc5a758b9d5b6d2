"""`lbguard preview`: the engine's plan from base to head, applied against the emulator."""

from __future__ import annotations

from pathlib import Path

import click

from lbguard.cli.commands.common import (check_json_target, console, header, json_option, progress, project_dir_option,
                                     resolve_project_dir, stack_option, write_json)
from lbguard.core.model import LbguardError

SYMBOLS = {"create": "+", "update": "~", "replace": "+-", "delete": "-", "same": " "}
WORDS = {"create": "to create", "update": "to update", "replace": "to replace", "delete": "to delete",
         "same": "unchanged"}


def plan_lines(doc: dict, *, show_same: bool = False) -> list[str]:
    """The plan as `pulumi preview --diff` prints it: a row per step, then the count summary."""
    steps = [s for s in doc["steps"] if show_same or s["op"] != "same"]
    lines: list[str] = []
    for s in steps:
        sym = "-+" if s["op"] == "replace" and s.get("deleteBeforeReplace") else SYMBOLS[s["op"]]
        line = f" {sym:<3}{s['type']:<52} {s['name']}"
        if s["diffs"]:
            shown = ", ".join(s["diffs"][:4]) + (f" (+{len(s['diffs']) - 4})" if len(s["diffs"]) > 4 else "")
            line += f"  [diff: {shown}]"
        if s["replaceReasons"]:
            line += f"  (forces replacement: {', '.join(s['replaceReasons'][:3])})"
        if s.get("status") == "failed":
            line += "  FAILS"
        lines.append(line)
    summary = doc["summary"]
    lines.append("Resources:")
    for op in ("create", "update", "replace", "delete"):
        if summary.get(op):
            lines.append(f"    {SYMBOLS[op]} {summary[op]} {WORDS[op]}")
    lines.append(f"    {summary.get('same', 0)} unchanged")
    return lines


def failure_lines(doc: dict) -> list[str]:
    names = {s["urn"]: s["name"] for s in doc["steps"]}
    lines = []
    for f in doc["failures"]:
        lines.append(f"  {names.get(f['urn'], f['urn'].rsplit('::', 1)[-1])}: {f['call']} -> {f['error']}: {f['message']}")
        if f.get("fix"):
            lines.append(f"      how to deploy it: {f['fix']}")
    return lines


@click.command(short_help="The plan base -> head, rehearsed against the emulator (offline).")
@stack_option
@project_dir_option
@click.option("--base", "base_ref", default=None,
              help="git revision of the base (default: the merge base of HEAD with main)")
@click.option("--base-state", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="the base as a state file written by an earlier `--save-state` (instead of --base)")
@click.option("--save-state", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="write the state head leaves behind, for a later --base-state")
@click.option("--policy-pack", type=click.Path(path_type=Path), default=None,
              help="policy pack directory (default: this project's policies/)")
@click.option("--policy-pack-config", type=click.Path(path_type=Path), default=None,
              help="pack config file (default: policies/config/<stack>.json if present)")
@click.option("--no-policy", is_flag=True, help="plan and apply only, no pack on head")
@click.option("--show-same", is_flag=True, help="list unchanged resources too")
@click.option("--freeze", "freeze_file", type=click.Path(dir_okay=False), default=None,
              help="refuse a head whose routing a rollback replaced: the export of `lbguard freeze --stack S --json FILE`")
@json_option("the plan")
def preview(stack: str, cwd: Path | None, base_ref: str | None, base_state: Path | None, save_state: Path | None,
            policy_pack: Path | None, policy_pack_config: Path | None, no_policy: bool, show_same: bool,
            freeze_file: str | None, json_path: str | None) -> int:
    """Plan base -> head as `pulumi up` would, apply it against the emulator, report every step AWS refuses.

    \b
    Example:
      lbguard preview --stack prod --base main --json plan.json
    Exit 0: deployable; 1: a step would fail or a mandatory policy fails
    on head; 2: error.
    """
    from lbguard.core import freeze
    from lbguard.offline import gitbase
    from lbguard.offline.preflight import evaluate_pack
    from lbguard.offline.emulator import emulated_aws, load_stack_config
    from lbguard.core.stackconfig import load_project
    from lbguard.cli.commands.common import read_json
    from lbguard.offline.preview import records_from_state, run_preview, state_document

    head_dir = resolve_project_dir(cwd)
    check_json_target(json_path)
    if base_ref and base_state:
        raise LbguardError("--base and --base-state name two bases: give one")
    prior = records_from_state(read_json(base_state, "--base-state"), f"--base-state {base_state}") \
        if base_state else None
    if policy_pack is not None and not (policy_pack / "PulumiPolicy.yaml").is_file():
        raise LbguardError(f"--policy-pack {policy_pack}: no PulumiPolicy.yaml there")
    if policy_pack_config is not None and not policy_pack_config.is_file():
        raise LbguardError(f"--policy-pack-config {policy_pack_config}: file not found")
    _, config = load_stack_config(head_dir, stack)
    record = freeze.load_export(freeze_file, project=load_project(head_dir)["name"], stack=stack) \
        if freeze_file else None
    if save_state is not None and not save_state.parent.is_dir():
        raise LbguardError(f"--save-state {save_state}: no directory {save_state.parent}")
    region = config.get("aws:region", "us-east-1")
    if prior is None:  # the base revision is input too: resolved before anything is said or run
        rev = base_ref or gitbase.default_base(head_dir)
        commit = gitbase.resolve(head_dir, rev)
    header("preview", head_dir, stack, "offline (plan rehearsed in the in-process emulator; AWS_ENDPOINT_URL and "
                                      "credentials unused)", json_path=json_path)
    if prior is not None:
        with emulated_aws(region), progress("planning and applying base -> head in the emulator"):
            result = run_preview(None, head_dir, stack, base_label=str(base_state), base_state=prior)
    else:
        label = f"{rev} ({commit[:8]})" if rev != commit else commit[:8]
        with gitbase.project_at(head_dir, commit) as base_dir:
            try:
                load_stack_config(base_dir, stack)
            except LbguardError:  # a stack the base does not have yet: everything is created
                base_dir, label = None, f"{label}, where stack {stack!r} does not exist"
            with emulated_aws(region), progress(f"planning and applying {label} -> head in the emulator"):
                result = run_preview(base_dir, head_dir, stack, base_label=label)
    if save_state is not None:
        write_json(str(save_state), state_document(result.head))
    if not no_policy:
        with progress("running the policy pack on head"):
            result.violations = evaluate_pack(result.head, stack, policy_pack, policy_pack_config)
    refusal = freeze.freeze_refusal(record, result.head.outputs.get("rollback"))
    doc = result.to_json()
    if freeze_file:
        doc["freeze"] = {"file": freeze_file, "refusal": refusal}
    if json_path:
        write_json(json_path, doc)
    if json_path != "-":
        _print(doc, result, show_same)
    if refusal:
        click.echo(f"lbguard: {refusal}", err=True)
    mandatory = [v for v in result.violations if v.enforcement_level == "mandatory"]
    return 1 if result.failures or mandatory or refusal else 0


def _print(doc: dict, result, show_same: bool) -> None:
    from lbguard.cli.commands.preflight import print_violations

    out = console()
    out.print(f"Previewing update ({doc['stack']}): base {doc['base']} -> head (working tree)", markup=False)
    for line in plan_lines(doc, show_same=show_same):
        out.print(line, markup=False)
    if doc["failures"]:
        out.print(f"Would fail at apply time ({len(doc['failures'])}):", markup=False)
        for line in failure_lines(doc):
            out.print(line, markup=False, style="red")
    mandatory = [v for v in result.violations if v.enforcement_level == "mandatory"]
    print_violations(out, result.violations, "policy violations on head")
    verdict = "NOT deployable" if doc["failures"] or mandatory else "deployable"
    out.print(f"{verdict}: {len(doc['failures'])} failing steps, {len(mandatory)} mandatory violations, "
              f"{doc['writes']} AWS writes in the rehearsal", markup=False,
              style="bold red" if verdict != "deployable" else "bold green")
