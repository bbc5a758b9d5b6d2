"""`lbguard preflight`: run the Pulumi program and the policy pack offline."""

from __future__ import annotations

from pathlib import Path

import click

from lbguard.commands.common import (OFFLINE, PACKAGE_ROOT, check_json_target, console, header, json_option,
                                     progress, project_dir_option, resolve_project_dir, say, stack_option, table,
                                     write_json)
from lbguard.model import LbguardError, ProgramRun, Violation


def run_preflight(project_dir: Path, stack: str, *, policy_pack: Path | None, policy_config: Path | None,
                  use_pack: bool = True, timeout: float | None = None) -> tuple[ProgramRun, list[Violation]]:
    """Program in the in-process AWS emulator, then the pack as the engine runs it.
    ``timeout`` bounds the program run (run_program's default otherwise).

    The pack runs in this interpreter after the program (see ``_StartingPack``); the pack
    directory and config file are checked before either starts.
    """
    from lbguard.emulator import emulated_aws, load_stack_config, run_program

    name, config = load_stack_config(project_dir, stack)
    starting = start_pack(name, stack, policy_pack, policy_config, project_dir=project_dir) if use_pack else None
    try:
        with emulated_aws(config.get("aws:region", "us-east-1")):
            run = run_program(project_dir, stack, timeout=timeout)
        violations = starting.evaluate(run) if starting else []
    finally:
        if starting:
            starting.close()
    return run, violations


def default_pack_dir(project_dir: Path | None = None) -> Path:
    """The checkout's pack when lbguard runs from a checkout (base and head are judged by the
    same pack), else the project's own ``policies/`` (lbguard installed from a wheel)."""
    checkout = PACKAGE_ROOT / "policies"
    if (checkout / "PulumiPolicy.yaml").is_file() or project_dir is None:
        return checkout
    return Path(project_dir) / "policies"


def pack_inputs(stack: str, policy_pack: Path | None, policy_config: Path | None, *,
                project_dir: Path | None = None) -> tuple[Path, Path | None]:
    """(pack directory, config file) as preflight uses them; bad ones raise one line."""
    from lbguard.policy_runner import pack_config_for_stack

    pack = (policy_pack or default_pack_dir(project_dir)).resolve()
    if not (pack / "PulumiPolicy.yaml").is_file():
        raise LbguardError(f"--policy-pack {pack}: no PulumiPolicy.yaml there")
    if policy_config is None:
        policy_config = pack_config_for_stack(pack, stack)
    elif not policy_config.is_file():
        raise LbguardError(f"--policy-pack-config {policy_config}: file not found")
    return pack, policy_config


class _StartingPack:
    """The policy pack for a preflight: in this interpreter after the program (the default,
    :class:`lbguard.policy_runner.InProcessPack`), or, with ``LBGUARD_PACK_PROCESS=1``, its
    own process started in the background while the program runs."""

    def __init__(self, project: str, stack: str, pack: Path, config_file: Path | None):
        import os

        from lbguard.policy_runner import PackProcess, read_config_file

        self.project, self.stack, self.pack = project, stack, pack
        self.config_file = config_file
        self.user = read_config_file(config_file) if config_file else {}  # a bad file fails before the run
        self._pool = self._future = None
        if os.environ.get("LBGUARD_PACK_PROCESS") == "1":
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pack-start")
            self._future = self._pool.submit(PackProcess, pack, project=project, stack=stack)

    def evaluate(self, run: ProgramRun) -> list[Violation]:
        from lbguard.policy_runner import InProcessPack, evaluate_with

        if self._future is not None:
            return evaluate_with(self._future.result(), run, self.user, self.config_file)
        with InProcessPack(self.pack, project=self.project, stack=self.stack) as pack:
            return evaluate_with(pack, run, self.user, self.config_file)

    def close(self) -> None:
        if self._future is None:
            return
        try:
            self._future.result().close()
        except Exception:  # noqa: BLE001 - a pack that failed to start has nothing to close
            pass
        self._pool.shutdown(wait=False)


def start_pack(project: str, stack: str, policy_pack: Path | None, policy_config: Path | None, *,
               project_dir: Path | None = None) -> _StartingPack:
    pack, config_file = pack_inputs(stack, policy_pack, policy_config, project_dir=project_dir)
    return _StartingPack(project, stack, pack, config_file)


def evaluate_pack(run: ProgramRun, stack: str, policy_pack: Path | None, policy_config: Path | None) -> list[Violation]:
    """The pack over a program run, as the engine runs it (default pack and config as preflight's)."""
    from lbguard.policy_runner import run_pack

    pack, config_file = pack_inputs(stack, policy_pack, policy_config)
    return run_pack(pack, run, config_file=config_file)


def preflight_document(run: ProgramRun, violations: list[Violation]) -> dict:
    return {
        "stack": run.stack,
        "project": run.project,
        "resources": [dict(r.to_json(), parent=r.parent, id=r.id, arn=r.outputs.get("arn"),
                           arnSuffix=r.outputs.get("arnSuffix"), inputs=r.inputs,
                           propertyDependencies=r.property_dependencies) for r in run.resources],
        "outputs": run.outputs,
        "violations": [v.to_json() for v in violations],
        "unconsumedInputs": dict(getattr(run, "unconsumed", {})),
    }


def _short(value, limit: int = 90) -> str:
    text = value if isinstance(value, str) else __import__("json").dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def offline_message(message: str) -> str:
    """The policy SDK words an evaluation it skipped as "can't run policy P from policy pack
    K during preview": offline there is no preview, only this run."""
    return message.replace(" during preview: ", " in this offline run: ")


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
    from lbguard import freeze
    from lbguard.emulator import load_stack_config
    from lbguard.stackconfig import load_project

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


def default_pack(project_dir: Path) -> Path | None:
    """The project's own policies/ when it has one, else the pack shipped with lbguard."""
    return project_dir / "policies" if (project_dir / "policies" / "PulumiPolicy.yaml").is_file() else None
