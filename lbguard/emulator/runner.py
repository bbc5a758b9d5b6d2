"""Run a Pulumi program under the mock runtime with the AWS emulator behind it."""

from __future__ import annotations

import contextlib
import os
import runpy
import sys
import threading
import warnings
from pathlib import Path
from typing import Any, Iterator

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.settings import SETTINGS, set_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from lbguard.emulator.aws import AwsEmulator
from lbguard.emulator.config import load_stack_config as _load_full
from lbguard.model import LbguardError, ProgramRun, RecordedResource

_LOCK = threading.Lock()  # the Pulumi runtime is process-global: one program at a time


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """MockMonitor that keeps every registration as the engine would see it."""

    def __init__(self, mocks: "AwsEmulator"):
        super().__init__(mocks)
        self.records: list[RecordedResource] = []
        self.by_urn: dict[str, RecordedResource] = {}

    def RegisterResource(self, request):  # noqa: N802 - gRPC name
        urn = self.make_urn(request.parent, request.type, request.name)
        inputs = {} if request.type == "pulumi:pulumi:Stack" else rpc_props(request.object)
        rec = RecordedResource(
            urn=urn, type=request.type, name=request.name, custom=bool(request.custom),
            parent=request.parent or None, dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            inputs=inputs, provider=request.provider or None, protect=bool(request.protect),
            delete_before_replace=bool(request.deleteBeforeReplace),
        )
        self.records.append(rec)
        self.by_urn[urn] = rec
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            rec.id = response.id or None
            rec.outputs = rpc_props(response.object)
        return response


def rpc_props(struct) -> dict:
    """Deserialize a protobuf Struct of properties into plain Python values."""
    pulumi_mocks._ensure_event_loop()
    value = rpc.deserialize_properties(struct)
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@contextlib.contextmanager
def _in_project(project_dir: Path) -> Iterator[None]:
    """cwd and sys.path as the language host sets them; modules the program imports
    from its directory are forgotten afterwards, so the next run imports them afresh."""
    old_cwd, old_path = os.getcwd(), list(sys.path)
    before = set(sys.modules)
    os.chdir(project_dir)
    sys.path.insert(0, str(project_dir))
    try:
        yield
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path
        root = str(project_dir) + os.sep
        for name in set(sys.modules) - before:
            path = getattr(sys.modules[name], "__file__", None) or ""
            if path and os.path.realpath(path).startswith(root) and "site-packages" not in path:
                del sys.modules[name]


def _one_line(err: BaseException) -> str:
    if isinstance(err, LbguardError) or getattr(type(err), "one_line", False):
        return str(err).splitlines()[0] if str(err) else type(err).__name__
    text = " ".join(str(err).split())
    return f"program failed: {type(err).__name__}: {text[:400]}"


def _main_file(project_dir: Path, project: dict | None = None) -> Path:
    main = project_dir / "__main__.py"
    if not main.is_file():
        raise LbguardError(f"{project_dir}: no __main__.py (the Python program to run)")
    return main


def run_program(project_dir: Path, stack: str, *, config_overrides: dict[str, str] | None = None) -> ProgramRun:
    """Run ``project_dir``'s program for ``stack``; every AWS resource lands in the emulator.

    The caller provides the AWS side: an active ``moto.mock_aws()`` (see
    :func:`lbguard.emulator.emulated_aws`) or ``AWS_ENDPOINT_URL`` pointing at a
    moto server.
    """
    project_dir = Path(project_dir).resolve()
    name, config, secret_keys = _load_full(project_dir, stack)
    config.update(config_overrides or {})
    main = _main_file(project_dir)
    region = config.get("aws:region") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"

    with _LOCK, _in_project(project_dir), warnings.catch_warnings():
        # moto warns about its own error shapes; pulumi_aws about deprecated modules it imports.
        warnings.simplefilter("ignore")
        mocks = AwsEmulator(region=region)
        monitor = RecordingMonitor(mocks)
        pulumi.runtime.set_all_config(config, secret_keys)
        set_root_resource(None)
        pulumi.runtime.set_mocks(mocks, project=name, stack=stack, preview=False, monitor=monitor)
        SETTINGS.rpc_manager.clear()
        SETTINGS.outputs.clear()
        root = pulumi.runtime.get_root_resource()
        try:
            _sync_await(run_pulumi_func(lambda: runpy.run_path(str(main), run_name="__main__")))
            outputs, secret_outputs = {}, set()
            for key, value in dict(root.outputs).items():
                out = pulumi.Output.from_input(value)
                outputs[key] = _plain(_sync_await(out.future()))
                if _sync_await(out.is_secret()):
                    secret_outputs.add(key)
        except LbguardError as err:
            raise LbguardError(_one_line(err)) from err
        except Exception as err:  # noqa: BLE001 - any program failure becomes one line
            raise LbguardError(_one_line(err)) from err
        finally:
            set_root_resource(None)
            SETTINGS.rpc_manager.clear()
            SETTINGS.outputs.clear()
            pulumi.runtime.set_all_config({}, [])

    stack_urn = f"urn:pulumi:{stack}::{name}::pulumi:pulumi:Stack::{name}-{stack}"
    for rec in monitor.records:
        if rec.type == "pulumi:pulumi:Stack":
            rec.outputs = outputs
        rec.emulated = (rec.type, rec.name) not in mocks.not_emulated
    if not any(r.type == "pulumi:pulumi:Stack" for r in monitor.records):
        monitor.records.insert(0, RecordedResource(urn=stack_urn, type="pulumi:pulumi:Stack",
                                                   name=f"{name}-{stack}", custom=False, outputs=outputs))
    return ProgramRun(project=name, stack=stack, resources=monitor.records, outputs=outputs,
                      secret_outputs=secret_outputs)


def load_stack_config(project_dir: Path, stack: str) -> tuple[str, dict[str, str]]:
    name, config, _ = _load_full(Path(project_dir), stack)
    return name, config


@contextlib.contextmanager
def emulated_aws(region: str = "us-east-1") -> Iterator[None]:
    """Fake credentials, and an in-process moto unless ``AWS_ENDPOINT_URL`` names a server."""
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                            "AWS_DEFAULT_REGION", "AWS_PROFILE")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=region)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    try:
        if os.environ.get("AWS_ENDPOINT_URL"):
            yield
        else:
            from moto import mock_aws

            with mock_aws():
                yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
