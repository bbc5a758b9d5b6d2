"""The preflight service: a stack's program in the in-process AWS emulator, then the policy
pack as the Pulumi engine runs it, and the preflight JSON document (``lbguard preflight --json``)."""

from __future__ import annotations

from pathlib import Path

import lbguard
from lbguard.core.model import LbguardError, ProgramRun, Violation

# The checkout lbguard runs from, when it runs from one (an editable install): its pack judges
# base and head alike (preview, rehearse). Installed from a wheel this has no policies/.
CHECKOUT = Path(lbguard.__file__).resolve().parents[1]


def run_preflight(project_dir: Path, stack: str, *, policy_pack: Path | None, policy_config: Path | None,
                  use_pack: bool = True, timeout: float | None = None) -> tuple[ProgramRun, list[Violation]]:
    """Program in the in-process AWS emulator, then the pack as the engine runs it.
    ``timeout`` bounds the program run (run_program's default otherwise).

    The pack runs in this interpreter after the program (see ``_StartingPack``); the pack
    directory and config file are checked before either starts.
    """
    from lbguard.offline.emulator import emulated_aws, load_stack_config, run_program

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
    checkout = CHECKOUT / "policies"
    if (checkout / "PulumiPolicy.yaml").is_file() or project_dir is None:
        return checkout
    return Path(project_dir) / "policies"


def pack_inputs(stack: str, policy_pack: Path | None, policy_config: Path | None, *,
                project_dir: Path | None = None) -> tuple[Path, Path | None]:
    """(pack directory, config file) as preflight uses them; bad ones raise one line."""
    from lbguard.offline.policy_runner import pack_config_for_stack

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
    :class:`lbguard.offline.policy_runner.InProcessPack`), or, with ``LBGUARD_PACK_PROCESS=1`` or
    the in-process acceleration off, its own process started in the background while the
    program runs."""

    def __init__(self, project: str, stack: str, pack: Path, config_file: Path | None):
        from lbguard.offline.policy_runner import PackProcess, in_process, read_config_file

        self.project, self.stack, self.pack = project, stack, pack
        self.config_file = config_file
        self.user = read_config_file(config_file) if config_file else {}  # a bad file fails before the run
        self._pool = self._future = None
        if not in_process():
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pack-start")
            self._future = self._pool.submit(PackProcess, pack, project=project, stack=stack)

    def evaluate(self, run: ProgramRun) -> list[Violation]:
        from lbguard.offline.policy_runner import InProcessPack, evaluate_with

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
    from lbguard.offline.policy_runner import run_pack

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


def offline_message(message: str) -> str:
    """The policy SDK words an evaluation it skipped as "can't run policy P from policy pack
    K during preview": offline there is no preview, only this run."""
    return message.replace(" during preview: ", " in this offline run: ")


def default_pack(project_dir: Path) -> Path | None:
    """The project's own policies/ when it has one, else the pack shipped with lbguard."""
    return project_dir / "policies" if (project_dir / "policies" / "PulumiPolicy.yaml").is_file() else None
