"""Run a Pulumi program under the mock runtime with the AWS emulator behind it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import runpy
import sys
import threading
import warnings
from pathlib import Path
from typing import Any, Iterator

import pulumi
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.settings import SETTINGS, set_root_resource
from pulumi.runtime.stack import run_pulumi_func

from lbguard.offline.emulator.core import AwsEmulator
from lbguard.accel.gcpause import paused
from lbguard.core.stackconfig import load_stack_config as _load_full
from lbguard.offline.emulator.monitor import RecordingMonitor, plain
from lbguard.accel.registry import applied
from lbguard.core.model import LbguardError, ProgramRun, RecordedResource

__all__ = ["RecordingMonitor", "emulated_aws", "load_stack_config", "run_program", "DEFAULT_TIMEOUT"]

_LOCK = threading.Lock()  # the Pulumi runtime is process-global: one program at a time
DEFAULT_TIMEOUT = 120.0  # seconds; LBGUARD_PROGRAM_TIMEOUT overrides
# Never purged between runs: the emulator's own package (LbguardError must stay one class)
# and test harness modules that happen to live in a project directory.
_KEEP = {__name__.split(".")[0], "tests", "conftest", "__main__"}


# ------------------------------------------------------------------ project modules


def _program_modules(project_dir: Path) -> set[str]:
    """Top-level module names the program can import from its own directory."""
    names = set()
    try:
        entries = list(project_dir.iterdir())
    except OSError:
        return names
    for entry in entries:
        if entry.suffix == ".py" and entry.is_file():
            names.add(entry.stem)
        elif entry.is_dir() and entry.name.isidentifier() and ((entry / "__init__.py").is_file() or any(entry.glob("*.py"))):
            names.add(entry.name)
    return names - _KEEP


def _purge(project_dir: Path, names: set[str], extra: set[str] = frozenset()) -> None:
    """Forget modules the program imported from its directory so the next run imports them afresh."""
    root = str(project_dir) + os.sep
    for name, module in list(sys.modules.items()):
        top = name.split(".", 1)[0]
        if top in _KEEP:
            continue
        path = getattr(module, "__file__", None) or ""
        in_site = "site-packages" in path or "dist-packages" in path
        if (top in names and not in_site) or (name in extra and path.startswith(root) and not in_site):
            del sys.modules[name]


@contextlib.contextmanager
def _in_project(project_dir: Path) -> Iterator[None]:
    """cwd and sys.path as the language host sets them; the program's own modules are
    purged before and after the run (a second run must import them afresh)."""
    old_cwd, old_path = os.getcwd(), list(sys.path)
    names = _program_modules(project_dir)
    _purge(project_dir, names)
    before = set(sys.modules)
    os.chdir(project_dir)
    sys.path.insert(0, str(project_dir))
    try:
        yield
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path
        _purge(project_dir, names, extra=set(sys.modules) - before)


# ------------------------------------------------------------------ errors


def _one_line(err: BaseException) -> str:
    if isinstance(err, LbguardError) or getattr(type(err), "one_line", False):
        text = str(err).strip()
        return text.splitlines()[0] if text else type(err).__name__
    failed = _resource_failure(err)
    if failed is not None:
        return f"program failed: {failed}"
    text = " ".join(str(err).split())
    return f"program failed: {type(err).__name__}: {text[:400]}".rstrip(": ")


def _resource_failure(err: BaseException) -> str | None:
    """The first resource failure in ``err``'s cause/context chain: the Pulumi runtime
    re-raises a mock's exception wrapped or bare, depending on where it surfaced."""
    from lbguard.offline.emulator.core import ResourceFailed

    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, ResourceFailed):
            return str(err)
        err = err.__cause__ or err.__context__
    return None


def _quiet_loop_errors(loop: asyncio.AbstractEventLoop) -> None:
    """One failed resource fails every future that awaits it; asyncio reports each one it
    garbage-collects unread ("Future exception was never retrieved") with a traceback,
    thousands of lines after the one that matters. The first failure is raised by the run;
    these echoes are dropped (the handler stays on the loop after it closes, where the
    collected futures report)."""
    def handler(loop, context):
        message = context.get("message", "")
        if "exception was never retrieved" in message or isinstance(context.get("exception"), asyncio.CancelledError):
            return
        if os.environ.get("LBGUARD_DEBUG"):
            loop.default_exception_handler(context)
    loop.set_exception_handler(handler)


def _main_file(project_dir: Path, project: dict | None = None) -> Path:
    main = project_dir / "__main__.py"
    if not main.is_file():
        raise LbguardError(f"{project_dir}: no __main__.py (the Python program to run)")
    return main


# ------------------------------------------------------------------ runtime state


def _reset_runtime() -> None:
    """Forget the root stack, outstanding RPCs/outputs and config of the previous program."""
    set_root_resource(None)
    SETTINGS.rpc_manager.clear()
    with SETTINGS.lock:
        SETTINGS.outputs.clear()
    pulumi.runtime.set_all_config({}, [])
    # set_mocks replaces the settings' context; drop monitor and engine so nothing talks
    # to a finished run's mocks.
    pulumi_settings.SETTINGS.monitor = None
    pulumi_settings.SETTINGS.engine = None


async def _resolve(value: Any) -> Any:
    """A stack output as plain JSON (resources become their URN, assets their path/text)."""
    if isinstance(value, pulumi.Resource):
        return await value.urn.future()
    if isinstance(value, dict):
        return {k: await _resolve(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [await _resolve(v) for v in value]
    if isinstance(value, (pulumi.FileAsset, pulumi.FileArchive)):
        return value.path
    if isinstance(value, pulumi.StringAsset):
        return value.text
    return plain(value)


async def _program_and_outputs(main: Path) -> tuple[dict, set[str]]:
    root = pulumi.runtime.get_root_resource()
    await run_pulumi_func(lambda: runpy.run_path(str(main), run_name="__main__"))
    outputs: dict[str, Any] = {}
    secret: set[str] = set()
    for key, value in dict(root.outputs).items():
        out = pulumi.Output.from_input(value)
        outputs[key] = await _resolve(await out.future(with_unknowns=False))
        if await out.is_secret():
            secret.add(key)
    return outputs, secret


# ------------------------------------------------------------------ public API


def run_program(project_dir: Path, stack: str, *, config_overrides: dict[str, str] | None = None,
                timeout: float | None = None, mocks: AwsEmulator | None = None) -> ProgramRun:
    """Run ``project_dir``'s program for ``stack``; every AWS resource lands in the emulator.

    The caller provides the AWS side: an active ``moto.mock_aws()`` (see
    :func:`lbguard.offline.emulator.emulated_aws`) or ``AWS_ENDPOINT_URL`` pointing at a
    moto server. Any failure of the program (also inside ``apply`` callbacks) raises
    :class:`LbguardError` with one line; the original exception is its ``__cause__``.
    The run is bounded by ``timeout`` seconds (default ``LBGUARD_PROGRAM_TIMEOUT`` or 120).
    ``mocks`` replaces the default :class:`AwsEmulator` (``lbguard.offline.preview`` passes one
    that plans and applies changes against a prior state).
    """
    project_dir = Path(project_dir).resolve()
    name, config, secret_keys = _load_full(project_dir, stack)
    for key, value in (config_overrides or {}).items():
        config[key if ":" in key else f"{name}:{key}"] = value
    main = _main_file(project_dir)
    region = config.get("aws:region") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    if timeout is None:
        timeout = float(os.environ.get("LBGUARD_PROGRAM_TIMEOUT") or DEFAULT_TIMEOUT)

    with _LOCK, _in_project(project_dir), warnings.catch_warnings(), paused(), applied("program"):
        # moto warns about its own error shapes; pulumi_aws about deprecated modules it imports.
        warnings.simplefilter("ignore")
        mocks = mocks or AwsEmulator(region=region)
        monitor = RecordingMonitor(mocks)
        _reset_runtime()
        pulumi.runtime.set_all_config(config, secret_keys)
        try:
            try:
                previous = asyncio.get_event_loop_policy().get_event_loop()
            except RuntimeError:
                previous = None
            # set_mocks creates the root stack's futures on the current loop: make it ours.
            loop = asyncio.new_event_loop()
            _quiet_loop_errors(loop)
            asyncio.set_event_loop(loop)
            try:
                pulumi.runtime.set_mocks(mocks, project=name, stack=stack, preview=False, monitor=monitor)
                outputs, secret_outputs = _run_on(loop, main, timeout)
            finally:
                asyncio.set_event_loop(previous)
        except asyncio.TimeoutError as err:
            raise LbguardError(f"program did not settle within {timeout:g}s (an output or resource never "
                               f"resolved)") from err
        except LbguardError as err:
            raise LbguardError(_one_line(err)) from err
        except Exception as err:  # noqa: BLE001 - any program failure becomes one line
            raise LbguardError(_one_line(err)) from err
        finally:
            _reset_runtime()

    records = list(monitor.records)
    stack_urn = f"urn:pulumi:{stack}::{name}::pulumi:pulumi:Stack::{name}-{stack}"
    root = next((r for r in records if r.type == "pulumi:pulumi:Stack"), None)
    if root is None:
        root = RecordedResource(urn=stack_urn, type="pulumi:pulumi:Stack", name=f"{name}-{stack}", custom=False)
        records.insert(0, root)
    root.outputs = outputs
    run = ProgramRun(project=name, stack=stack, resources=records, outputs=outputs, secret_outputs=secret_outputs)
    # Extra detail for diagnostics (not part of the dataclass contract).
    run.invokes = list(monitor.invokes)  # type: ignore[attr-defined]
    run.unknown_invokes = list(mocks.unknown_invokes)  # type: ignore[attr-defined]
    run.certificate_stand_ins = dict(mocks.certificates)  # type: ignore[attr-defined]
    run.unconsumed = dict(mocks.unconsumed)  # type: ignore[attr-defined]
    run.emulator = mocks  # type: ignore[attr-defined]
    return run


def _run_on(loop: asyncio.AbstractEventLoop, main: Path, timeout: float) -> tuple[dict, set[str]]:
    """Run the program on ``loop`` (already current), bounded by ``timeout``; close the loop after."""
    try:
        return loop.run_until_complete(asyncio.wait_for(_program_and_outputs(main), timeout))
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            with contextlib.suppress(BaseException):
                loop.run_until_complete(asyncio.wait(pending, timeout=5))
        loop.close()  # the default executor shuts down without waiting for a stuck mock call


def load_stack_config(project_dir: Path, stack: str) -> tuple[str, dict[str, str]]:
    """(project name, full config map ``"proj:key" -> string``) as the CLI hands it to the program."""
    name, config, _ = _load_full(Path(project_dir), stack)
    return name, config


@contextlib.contextmanager
def emulator_accelerations() -> Iterator[None]:
    """botocore's and moto's accelerations (lbguard.accel.registry) inside the block; without
    moto installed, only botocore's (the emulator then reports the missing extra)."""
    import importlib.util

    scopes = ("botocore", "moto") if importlib.util.find_spec("moto") is not None else ("botocore",)
    with applied(*scopes):
        yield


# What could point boto3 at a real account or another endpoint: credentials, profiles,
# config files (which may name endpoint_url), and every endpoint variable.
_ISOLATED = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_PROFILE",
             "AWS_SECURITY_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL",
             "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "MOTO_LAMBDA_CONCURRENCY_QUOTA",
             # FIPS and dual-stack endpoint variants: none in the emulator (also what keeps the
             # shared botocore loader equivalent, lbguard.accel.speed.share_botocore_loaders)
             "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT")


@contextlib.contextmanager
def emulated_aws(region: str = "us-east-1", endpoint: str | None = None) -> Iterator[None]:
    """Fake credentials and an in-process moto; with ``endpoint``, the moto server there instead.

    Offline runs never follow ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_<SERVICE>``, or an
    ``endpoint_url`` in an AWS config file) from the caller's shell: a game-day ``export``
    must not turn a preflight into a deploy. Only an explicit ``endpoint`` is used.
    """
    names = set(_ISOLATED) | {k for k in os.environ if k.startswith("AWS_ENDPOINT_URL_")}
    saved = {k: os.environ.get(k) for k in names}
    for var in names:
        os.environ.pop(var, None)
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=region,
                      AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    # Lambda's regional concurrency quota (Lambda quotas: 1,000 by default; some new accounts
    # have less): moto only enforces the 100-unreserved minimum when it knows the quota.
    os.environ["MOTO_LAMBDA_CONCURRENCY_QUOTA"] = os.environ.get("LBGUARD_LAMBDA_CONCURRENCY_QUOTA", "1000")
    try:
        if endpoint:
            os.environ["AWS_ENDPOINT_URL"] = endpoint
            with applied("botocore"):
                yield
        else:
            os.environ["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true"
            with contextlib.ExitStack() as mocked:
                with paused():  # moto's import and backends: long-lived, no garbage
                    # moto's and botocore's accelerations (lbguard.accel.registry) from before
                    # moto is imported until the emulated AWS is gone
                    mocked.enter_context(emulator_accelerations())
                    try:
                        from moto import mock_aws
                    except ModuleNotFoundError as err:  # lbguard installed without its emulator extra
                        raise LbguardError(f"the offline AWS emulator needs {err.name}: "
                                           "pip install 'lbguard[cli,emulator]'") from None
                    mocked.enter_context(mock_aws())
                yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
