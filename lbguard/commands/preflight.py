"""`lbguard preflight`: run the Pulumi program and the policy pack offline."""

from __future__ import annotations

from pathlib import Path

import click

from lbguard.commands.common import (PACKAGE_ROOT, console, project_dir_option, resolve_project_dir,
                                     stack_option, table, write_json)
from lbguard.model import LbguardError, ProgramRun, Violation


def run_preflight(project_dir: Path, stack: str, *, policy_pack: Path | None, policy_config: Path | None,
                  use_pack: bool = True) -> tuple[ProgramRun, list[Violation]]:
    """Program in the in-process AWS emulator, then the pack as the engine runs it.

    The pack's process starts before the program runs (its imports overlap the program's
    on a second core); the pack directory and config file are checked before either starts.
    """
    from lbguard.emulator import emulated_aws, load_stack_config, run_program

    name, config = load_stack_config(project_dir, stack)
    starting = start_pack(name, stack, policy_pack, policy_config, project_dir=project_dir) if use_pack else None
    try:
        with emulated_aws(config.get("aws:region", "us-east-1")):
            run = run_program(project_dir, stack)
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
    """A policy pack process being started in the background while the program runs."""

    def __init__(self, project: str, stack: str, pack: Path, config_file: Path | None):
        from concurrent.futures import ThreadPoolExecutor

        from lbguard.policy_runner import PackProcess, read_config_file

        self.config_file = config_file
        self.user = read_config_file(config_file) if config_file else {}  # a bad file fails before the run
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pack-start")
        self._future = self._pool.submit(PackProcess, pack, project=project, stack=stack)

    def evaluate(self, run: ProgramRun) -> list[Violation]:
        from lbguard.policy_runner import evaluate_with

        return evaluate_with(self._future.result(), run, self.user, self.config_file)

    def close(self) -> None:
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


@click.command()
@stack_option
@project_dir_option
@click.option("--policy-pack", type=click.Path(path_type=Path), default=None,
              help="policy pack directory (default: this project's policies/)")
@click.option("--policy-pack-config", type=click.Path(path_type=Path), default=None,
              help="pack config file (default: policies/config/<stack>.json if present)")
@click.option("--no-policy", is_flag=True, help="run the program only")
@click.option("--freeze", "freeze_file", type=click.Path(dir_okay=False), default=None,
              help="refuse routing a rollback replaced: the export of `lbguard freeze --stack S --json FILE`")
@click.option("--json", "json_path", default=None, help="write the result as JSON to FILE ('-' for stdout)")
def preflight(stack: str, cwd: Path | None, policy_pack: Path | None, policy_pack_config: Path | None,
              no_policy: bool, freeze_file: str | None, json_path: str | None) -> int:
    """Run the stack's program and policy pack offline: no AWS account, no Pulumi CLI."""
    from lbguard import freeze
    from lbguard.emulator.config import load_project

    project_dir = resolve_project_dir(cwd)
    record = freeze.load_export(freeze_file, project=load_project(project_dir)["name"], stack=stack) \
        if freeze_file else None
    run, violations = run_preflight(project_dir, stack, policy_pack=policy_pack,
                                    policy_config=policy_pack_config, use_pack=not no_policy)
    refusal = freeze.freeze_refusal(record, run.outputs.get("rollback"))
    if json_path:
        write_json(json_path, {**preflight_document(run, violations), "freeze": {"file": freeze_file, "refusal": refusal}})
    if json_path != "-":
        out = console()
        custom = [r for r in run.resources if r.custom]
        out.print(table(f"{run.project}/{run.stack}: {len(custom)} resources",
                        ["type", "name", "emulated"],
                        [[r.type, r.name, "yes" if r.emulated else "NO (echoed)"] for r in custom]))
        out.print(table("outputs", ["name", "value"], [[k, _short(v)] for k, v in run.outputs.items()]))
        if violations:
            out.print(table("policy violations", ["policy", "level", "resource", "message"],
                            [[v.policy, v.enforcement_level, v.name or v.urn, v.message] for v in violations]))
        unconsumed = getattr(run, "unconsumed", {})
        if unconsumed:
            out.print(table("inputs the emulator did not send to AWS (the emulation ignores them)",
                            ["resource", "inputs"], [[k, ", ".join(v)] for k, v in sorted(unconsumed.items())]))
        mandatory = sum(v.enforcement_level == "mandatory" for v in violations)
        not_emulated = len(run.not_emulated)
        out.print(f"{len(custom)} resources ({not_emulated} not emulated), {len(violations)} violations "
                  f"({mandatory} mandatory)")
    if refusal:
        click.echo(f"lbguard: {refusal}", err=True)
    return 1 if refusal or any(v.enforcement_level == "mandatory" for v in violations) else 0
