"""`lbguard preflight`: run the Pulumi program and the policy pack offline."""

from __future__ import annotations

from pathlib import Path

import click

from lbguard.cli.commands.common import (OFFLINE, check_json_target, console, header, json_option, progress,
                                         project_dir_option, resolve_project_dir, say, stack_option, table,
                                         write_json)
from lbguard.core.model import ProgramRun, Violation
from lbguard.offline.preflight import (default_pack, offline_message, pack_inputs, preflight_document,
                                       run_preflight)


def _short(value, limit: int = 90) -> str:
    text = value if isinstance(value, str) else __import__("json").dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def ordered_violations(violations: list[Violation]) -> list[Violation]:
    """Mandatory first (they block), then advisory, each by policy."""
    return sorted(violations, key=lambda v: (v.enforcement_level != "mandatory", v.policy, v.name or v.urn))


def print_violations(out, violations: list[Violation], title: str = "policy violations") -> None:
    """One wrapped paragraph per violation, mandatory first and red, advisory after."""
    if not violations:
        return
    mandatory = sum(v.enforcement_level == "mandatory" for v in violations)
    out.print(f"{title}: {mandatory} mandatory, {len(violations) - mandatory} advisory", style="bold", markup=False)
    for v in ordered_violations(violations):
        style = "bold red" if v.enforcement_level == "mandatory" else "yellow"
        out.print(f"  [{v.enforcement_level}] {v.policy}: {v.name or v.urn}: {offline_message(v.message)}",
                  style=style, markup=False, **({"overflow": "fold"} if out.is_terminal else {"soft_wrap": True}))


def print_summary(out, run: ProgramRun, violations: list[Violation], *, all_resources: bool) -> None:
    """Counts by resource type (or every resource with --resources), violations, outputs."""
    from collections import Counter

    custom = [r for r in run.resources if r.custom]
    if all_resources:
        out.print(table(f"{run.project}/{run.stack}: {len(custom)} resources", ["type", "name", "emulated"],
                        [[r.type, r.name, "yes" if r.emulated else "NO (echoed)"] for r in custom]))
    else:
        counts = Counter(r.type for r in custom)
        echoed = Counter(r.type for r in custom if not r.emulated)
        out.print(table(f"{run.project}/{run.stack}: {len(custom)} resources by type (--resources lists each)",
                        ["type", "count", "not emulated"],
                        [[typ, n, echoed.get(typ) or ""] for typ, n in sorted(counts.items())]))
    print_violations(out, violations)
    out.print(table("outputs", ["name", "value"], [[k, _short(v)] for k, v in run.outputs.items()]))
    unconsumed = getattr(run, "unconsumed", {})
    if unconsumed:
        out.print(table("inputs the emulator did not send to AWS (the emulation ignores them)",
                        ["resource", "inputs"], [[k, ", ".join(v)] for k, v in sorted(unconsumed.items())]))
    mandatory = sum(v.enforcement_level == "mandatory" for v in violations)
    line = (f"{len(custom)} resources ({len(run.not_emulated)} not emulated), {len(violations)} violations "
            f"({mandatory} mandatory)")
    out.print(line, style="bold red" if mandatory else None, markup=False)


@click.command(short_help="Run the program and policy pack offline (no AWS, no Pulumi CLI).",
               epilog="Example: lbguard preflight --stack prod --json preflight.json")
@stack_option
@project_dir_option
@click.option("--policy-pack", type=click.Path(path_type=Path), default=None,
              help="policy pack directory (default: the project's policies/)")
@click.option("--policy-pack-config", type=click.Path(path_type=Path), default=None,
              help="pack config file (default: policies/config/<stack>.json if present)")
@click.option("--no-policy", is_flag=True, help="run the program only")
@click.option("--resources", "all_resources", is_flag=True, help="list every resource (default: counts by type)")
@click.option("--freeze", "freeze_file", type=click.Path(dir_okay=False), default=None,
              help="refuse routing a rollback replaced: the export of `lbguard freeze --stack S --json FILE`")
@json_option()
def preflight(stack: str, cwd: Path | None, policy_pack: Path | None, policy_pack_config: Path | None,
              no_policy: bool, all_resources: bool, freeze_file: str | None, json_path: str | None) -> int:
    """Run the stack's program and policy pack offline: no AWS account, no Pulumi CLI.

    Exit 0: no mandatory violation; 1: a mandatory violation (listed first, in red); 2: error.
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
        print_summary(console(), run, violations, all_resources=all_resources)
    if refusal:
        say(f"lbguard: {refusal}", err=True, style="bold red")
    return 1 if refusal or any(v.enforcement_level == "mandatory" for v in violations) else 0


