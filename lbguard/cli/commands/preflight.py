"""`lbguard preflight`: run the Pulumi program and the policy pack offline."""

from __future__ import annotations

from pathlib import Path

import click

from lbguard.cli.commands.common import (OFFLINE, check_json_target, console, header, json_option, progress,
                                         project_dir_option, resolve_project_dir, say, stack_option, table,
                                         write_json)
from lbguard.core import names
from lbguard.core.model import ProgramRun, Violation, violation_rank
from lbguard.offline.preflight import (default_pack, offline_message, pack_inputs, preflight_document,
                                       run_preflight)


def _short(value, limit: int = 90) -> str:
    text = value if isinstance(value, str) else __import__("json").dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def ordered_violations(violations: list[Violation]) -> list[Violation]:
    """Mandatory first (they block), then by severity, most severe first, then by policy."""
    return sorted(violations, key=lambda v: (*violation_rank(v.enforcement_level, v.severity), v.policy,
                                             v.name or v.urn))


def print_violations(out, violations: list[Violation], title: str = "policy violations",
                     renamer: names.Renamer | None = None) -> None:
    """One wrapped paragraph per violation, mandatory first and red, advisory after; resources
    named by the stack's keys (``renamer``: from the run's resources, else from the violations')."""
    if not violations:
        return
    renamer = renamer or names.Renamer((v.type, v.name) for v in violations)
    mandatory = sum(v.enforcement_level == "mandatory" for v in violations)
    out.print(f"{title}: {mandatory} mandatory, {len(violations) - mandatory} advisory", style="bold", markup=False)
    for v in ordered_violations(violations):
        style = "bold red" if v.enforcement_level == "mandatory" else "yellow"
        level = f"{v.enforcement_level}, {v.severity}" if v.severity else v.enforcement_level
        where = renamer.label(v.name, v.type) if v.name else v.urn or "the stack"
        text = offline_message(renamer.message(v.message, v.type, v.name))
        out.print(f"  [{level}] {v.policy}: {where}: {text}",
                  style=style, markup=False, **({"overflow": "fold"} if out.is_terminal else {"soft_wrap": True}))


def verdict_line(violations: list[Violation], refusal: str | None = None) -> str:
    """The last line, short enough for 80 columns: blocked or passed, and by how much."""
    mandatory = [v for v in violations if v.enforcement_level == "mandatory"]
    advisory = len(violations) - len(mandatory)
    counts = (f"{len(mandatory)} mandatory violation{'s' if len(mandatory) != 1 else ''}"
              + (f" ({len({v.policy for v in mandatory})} policies)" if len({v.policy for v in mandatory}) > 1 else "")
              + f", {advisory} advisory")
    if refusal:
        return f"BLOCKED: routing a rollback replaced (deploy freeze); {counts}"
    return f"BLOCKED: {counts}" if mandatory else f"passed: {counts}"


def print_summary(out, run: ProgramRun, violations: list[Violation], *, all_resources: bool,
                  show_outputs: bool = False, refusal: str | None = None) -> None:
    """What ran in one line (every resource with --resources, the outputs with --outputs), the
    emulator's caveats, the violations, and the verdict as the last line."""
    custom = [r for r in run.resources if r.custom]
    renamer = names.renamer_of(run.resources)
    echoed = [r for r in custom if not r.emulated]
    if all_resources:
        out.print(table(f"{run.project}/{run.stack}: {len(custom)} resources", ["type", "name", "Pulumi name"]
                        + (["emulated"] if echoed else []),
                        [[r.type, renamer.label(r.name, r.type), r.name] + (["yes" if r.emulated else "NO (echoed)"]
                                                                          if echoed else []) for r in custom]))
    else:
        types = len({r.type for r in custom})
        line = (f"{run.project}/{run.stack}: {len(custom)} resources of {types} types, {len(run.outputs)} stack "
                f"outputs (--resources, --outputs list them)")
        if echoed:
            line += f"; {len(echoed)} not emulated (their inputs echoed): --resources shows which"
        out.print(line, markup=False, **({"overflow": "fold"} if out.is_terminal else {"soft_wrap": True}))
    if show_outputs:
        out.print(table("outputs", ["name", "value"], [[k, _short(v)] for k, v in run.outputs.items()]))
    unconsumed = getattr(run, "unconsumed", {})
    if unconsumed:
        out.print(table("inputs the emulator did not send to AWS (the emulation ignores them)",
                        ["resource", "inputs"], [[renamer.label(k), ", ".join(v)] for k, v in sorted(unconsumed.items())]))
    print_violations(out, violations, renamer=renamer)
    if refusal:
        out.print(f"lbguard: {refusal}", style="bold red", markup=False,
                  **({"overflow": "fold"} if out.is_terminal else {"soft_wrap": True}))
    blocked = refusal or any(v.enforcement_level == "mandatory" for v in violations)
    out.print(verdict_line(violations, refusal), style="bold red" if blocked else "bold green", markup=False,
              **({"overflow": "fold"} if out.is_terminal else {"soft_wrap": True}))


@click.command(short_help="Run the program and policy pack offline (no AWS, no Pulumi CLI).",
               epilog="Example: lbguard preflight --stack prod --json preflight.json")
@stack_option
@project_dir_option
@click.option("--policy-pack", type=click.Path(path_type=Path), default=None,
              help="policy pack directory (default: the project's policies/)")
@click.option("--policy-pack-config", type=click.Path(path_type=Path), default=None,
              help="pack config file (default: policies/config/<stack>.json if present)")
@click.option("--no-policy", is_flag=True, help="run the program only")
@click.option("--resources", "all_resources", is_flag=True, help="list every resource (default: one summary line)")
@click.option("--outputs", "show_outputs", is_flag=True, help="show the stack outputs (default: their count)")
@click.option("--freeze", "freeze_file", type=click.Path(dir_okay=False), default=None,
              help="refuse routing a rollback replaced: the export of `lbguard freeze --stack S --json FILE`")
@json_option()
def preflight(stack: str, cwd: Path | None, policy_pack: Path | None, policy_pack_config: Path | None,
              no_policy: bool, all_resources: bool, show_outputs: bool, freeze_file: str | None,
              json_path: str | None) -> int:
    """Run the stack's program and policy pack offline: no AWS account, no Pulumi CLI.

    Prints what ran in one line, the violations (mandatory first, then by severity; resources
    named by the stack's keys) and the verdict as the last line. Exit 0: no mandatory
    violation; 1: a mandatory violation (in red) or a frozen routing; 2: error.
    """
    from lbguard.core import freeze
    from lbguard.offline.emulator import load_stack_config
    from lbguard.core.stackconfig import load_project

    project_dir = resolve_project_dir(cwd)
    header("preflight", project_dir, stack, OFFLINE, json_path=json_path)
    check_json_target(json_path)
    load_stack_config(project_dir, stack)  # a bad stack file fails before anything starts
    if not no_policy:
        pack_inputs(stack, policy_pack or default_pack(project_dir), policy_pack_config)
    record = freeze.load_export(freeze_file, project=load_project(project_dir)["name"], stack=stack) \
        if freeze_file else None
    with progress(f"running {stack}'s program in the emulator and the policy pack"):
        run, violations = run_preflight(project_dir, stack, policy_pack=policy_pack or default_pack(project_dir),
                                        policy_config=policy_pack_config, use_pack=not no_policy)
    refusal = freeze.freeze_refusal(record, run.outputs.get("rollback"))
    if json_path:
        doc = preflight_document(run, violations)
        for v in doc["violations"]:
            v["message"] = offline_message(v["message"])
        write_json(json_path, {**doc, "freeze": {"file": freeze_file, "refusal": refusal}})
    if json_path != "-":
        print_summary(console(), run, violations, all_resources=all_resources, show_outputs=show_outputs,
                      refusal=refusal)
    elif refusal:
        say(f"lbguard: {refusal}", err=True, style="bold red")
    return 1 if refusal or any(v.enforcement_level == "mandatory" for v in violations) else 0


