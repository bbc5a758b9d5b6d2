"""`lbguard preview`: the engine's plan from base to head, applied against the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lbguard.cli.commands.common import (check_json_target, console, header, json_option, progress, project_dir_option,
                                     resolve_project_dir, stack_option, write_json)
from lbguard.core import names
from lbguard.core.model import LbguardError

SYMBOLS = {"create": "+", "update": "~", "replace": "+-", "delete": "-", "same": " "}
WORDS = {"create": "to create", "update": "to update", "replace": "to replace", "delete": "to delete",
         "same": "unchanged"}
STYLES = {"+": "green", "~": "yellow", "+-": "magenta", "-+": "magenta", "-": "red", " ": ""}
MAX_CHANGES = 6  # old -> new lines shown per step (the JSON has them all)


def _short_type(type_token: str) -> str:
    """``aws:lb/listenerRule:ListenerRule`` -> ``lb:ListenerRule`` (the module and the class)."""
    pkg, _, rest = type_token.partition(":")
    module, _, cls = rest.rpartition(":")
    return f"{module.split('/')[0]}:{cls}" if pkg == "aws" else cls or type_token


def _value(v: object, limit: int) -> str:
    text = "(none)" if v is None else v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def step_symbol(s: dict) -> str:
    return "-+" if s["op"] == "replace" and s.get("deleteBeforeReplace") else SYMBOLS[s["op"]]


def plan_lines(doc: dict, *, show_same: bool = False, width: int = 80) -> list[tuple[str, str]]:
    """The plan as `pulumi preview --diff` prints it, fitted to ``width``: per step its symbol and
    name (never cut), its type, and one ``path: old -> new`` line per changed property (secrets
    masked); then the count summary. Returns (line, style) pairs."""
    lines: list[tuple[str, str]] = []
    renamer = names.renamer_of(doc["steps"])
    for s in doc["steps"]:
        if not show_same and s["op"] == "same":
            continue
        sym = step_symbol(s)
        tail = f"  ({_short_type(s['type'])})"
        if s.get("status") == "failed":
            tail += "  FAILS"
        elif s.get("status") == "skipped":
            tail += "  not reached"
        head = f" {sym:<3}{renamer.label(s['name'], s['type'])}"
        lines.append((head + (tail if len(head) + len(tail) <= width else ""), "red" if s.get("status") == "failed"
                      else STYLES[sym]))
        if s["op"] in ("update", "replace"):
            forced = set(s.get("replaceReasons") or [])
            changes = s.get("changes") or [{"path": p, "old": None, "new": None} for p in s.get("diffs", [])]
            for c in changes[:MAX_CHANGES]:
                mark = "  (forces replacement)" if c["path"] in forced else ""
                room = max(8, (width - 10 - len(c["path"]) - len(mark)) // 2)
                lines.append((f"       {c['path']}: {_value(c['old'], room)} -> {_value(c['new'], room)}{mark}", ""))
            if len(changes) > MAX_CHANGES:
                lines.append((f"       ... {len(changes) - MAX_CHANGES} more (--json has them all)", ""))
            engine_keys = [r for r in forced if r not in {c["path"] for c in changes}]
            if engine_keys:
                lines.append((f"       replaced: {', '.join(engine_keys)}", ""))
    summary = doc["summary"]
    lines.append(("Resources:", ""))
    for op in ("create", "update", "replace", "delete"):
        if summary.get(op):
            lines.append((f"    {SYMBOLS[op]} {summary[op]} {WORDS[op]}", STYLES[SYMBOLS[op]]))
    lines.append((f"    {summary.get('same', 0)} unchanged", ""))
    return lines


def failure_lines(doc: dict) -> list[str]:
    """Each failing call with the way to deploy it; things named by the stack's keys."""
    renamer = names.renamer_of(doc["steps"])
    steps = {s["urn"]: s for s in doc["steps"]}
    lines = []
    for f in doc["failures"]:
        step = steps.get(f["urn"])
        who = renamer.label(step["name"], step["type"]) if step else f["urn"].rsplit("::", 1)[-1]
        lines.append(f"  {who}: {f['call']} -> {f['error']}: {renamer.text(f['message'])}")
        if f.get("fix"):
            lines.append(f"      how to deploy it: {renamer.text(f['fix'])}")
    return lines


def window_lines(doc: dict) -> list[str]:
    """``https: 50% to dev-blue-1f2e for ~15 s with no healthy target`` and how to avoid it."""
    renamer = names.renamer_of(doc["steps"])
    lines = []
    for w in doc.get("windows") or []:
        target = f" to {renamer.text(w['target'])}" if w.get("target") else ""
        state = " (accepted by the settings)" if w.get("accepted") else ""
        lines.append(f"  {renamer.text(w['listener'])}: {w['share']:.0%}{target} for ~{w['seconds']:g} s: "
                     f"{renamer.text(w['cause'])}{state}")
        if w.get("fix") and not w.get("accepted"):
            lines.append(f"      how to avoid it: {renamer.text(w['fix'])}")
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
    return 1 if result.failures or mandatory or refusal or result.blocking_windows() else 0


def _print(doc: dict, result, show_same: bool) -> None:
    from lbguard.cli.commands.preflight import print_violations

    out = console()
    out.print(f"Previewing update ({doc['stack']}): base {doc['base']} -> head (working tree)", markup=False)
    for line, style in plan_lines(doc, show_same=show_same, width=out.width):
        out.print(line, markup=False, style=style or None, overflow="fold")
    if doc["failures"]:
        out.print(f"Would fail at apply time ({len(doc['failures'])}):", markup=False)
        for line in failure_lines(doc):
            out.print(line, markup=False, style="red", overflow="fold")
    blocking = result.blocking_windows()
    if doc.get("windows"):
        out.print(f"Traffic during the apply ({len(blocking)} blocking window(s), estimated lengths):", markup=False)
        for line in window_lines(doc):
            out.print(line, markup=False, style="red" if blocking else None, overflow="fold")
    mandatory = [v for v in result.violations if v.enforcement_level == "mandatory"]
    print_violations(out, result.violations, "policy violations on head")
    verdict = "NOT deployable" if doc["failures"] or mandatory or blocking else "deployable"
    out.print(f"{verdict}: {len(doc['failures'])} failing steps, {len(blocking)} traffic windows, "
              f"{len(mandatory)} mandatory violations, {doc['writes']} AWS writes in the rehearsal", markup=False,
              style="bold red" if verdict != "deployable" else "bold green", overflow="fold")
