"""Run a policy pack exactly as the Pulumi engine does, without the Pulumi CLI.

The engine starts a Python pack as ``python -u -m pulumi.policy <engine> <pack-dir>``
with the pack directory as working directory and ``PULUMI_PROJECT``,
``PULUMI_STACK``, ``PULUMI_DRY_RUN`` and ``PULUMI_CONFIG`` set; the pack prints the
port of its analyzer gRPC server. The engine then calls GetPluginInfo,
GetAnalyzerInfo, Configure, Analyze once per resource (its inputs) and AnalyzeStack
once (every resource's outputs, including the ``pulumi:pulumi:Stack`` resource whose
properties are the stack outputs).

Config is reconciled here, as the engine does it (the pack never sees the file):
schema defaults, then the pack's ``initialConfig``, then the user's config file
(``all`` first, then per policy), each policy validated against its JSON schema, and
every policy sent with an explicit enforcement level.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from concurrent import futures
from pathlib import Path
from typing import Any, Iterable

import grpc
import jsonschema
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, engine_pb2_grpc

from lbguard.model import LbguardError, ProgramRun, RecordedResource, Violation, is_secret

LEVELS = {"advisory": analyzer_pb2.ADVISORY, "mandatory": analyzer_pb2.MANDATORY,
          "disabled": analyzer_pb2.DISABLED, "remediate": analyzer_pb2.REMEDIATE}
LEVEL_NAMES = {v: k for k, v in LEVELS.items()}
_MAX_MESSAGE = 400 * 1024 * 1024


def pack_config_for_stack(pack_dir: Path, stack: str) -> Path | None:
    """The pack's config file for ``stack`` (``<pack>/config/<stack>.json``), if any."""
    path = Path(pack_dir) / "config" / f"{stack}.json"
    return path if path.is_file() else None


# ------------------------------------------------------------------ engine side


class _Engine(engine_pb2_grpc.EngineServicer):
    """The engine's Log endpoint: the pack may log through it."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def Log(self, request, context):  # noqa: N802 - gRPC name
        self.messages.append(request.message)
        return empty_pb2.Empty()

    def GetRootResource(self, request, context):  # noqa: N802
        from pulumi.runtime.proto import engine_pb2

        return engine_pb2.GetRootResourceResponse()

    def SetRootResource(self, request, context):  # noqa: N802
        from pulumi.runtime.proto import engine_pb2

        return engine_pb2.SetRootResourceResponse()


def _struct(props: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(_jsonable(props))
    return s


def _jsonable(value: Any) -> Any:
    """Props as the engine sends them to analyzers: secrets unwrapped, plain JSON."""
    if isinstance(value, dict):
        if is_secret(value):
            return _jsonable(value.get("value"))
        return {str(k): _jsonable(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class PackProcess:
    """A running policy pack and a channel to it; use as a context manager."""

    def __init__(self, pack_dir: Path, *, project: str, stack: str, dry_run: bool = False,
                 config: dict[str, str] | None = None, timeout: float = 60.0):
        self.pack_dir = Path(pack_dir).resolve()
        if not (self.pack_dir / "PulumiPolicy.yaml").is_file():
            raise LbguardError(f"policy pack {self.pack_dir}: no PulumiPolicy.yaml there")
        self.timeout = timeout
        self._engine = _Engine()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        engine_pb2_grpc.add_EngineServicer_to_server(self._engine, self._server)
        engine_port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        env = dict(os.environ, PULUMI_PROJECT=project, PULUMI_STACK=stack,
                   PULUMI_DRY_RUN="true" if dry_run else "false", PULUMI_CONFIG=json.dumps(config or {}))
        self._stderr: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.policy", f"127.0.0.1:{engine_port}", str(self.pack_dir)],
            cwd=self.pack_dir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        port = self._read_port()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[
            ("grpc.max_receive_message_length", _MAX_MESSAGE), ("grpc.max_send_message_length", _MAX_MESSAGE)])
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)

    def _drain_stderr(self) -> None:
        for line in self.proc.stderr:  # type: ignore[union-attr]
            self._stderr.append(line.rstrip("\n"))

    def stderr_tail(self, lines: int = 15) -> str:
        time.sleep(0.05)
        return "\n".join(self._stderr[-lines:])

    def _read_port(self) -> int:
        q: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: q.put(self.proc.stdout.readline()), daemon=True).start()  # type: ignore
        try:
            line = q.get(timeout=self.timeout)
        except queue.Empty:
            self.close()
            raise LbguardError(f"policy pack {self.pack_dir.name}: did not start within {self.timeout:.0f}s") from None
        try:
            return int(line.strip())
        except ValueError:
            self.proc.wait(timeout=5)
            tail = self.stderr_tail()
            self.close()
            first = next((l for l in reversed(tail.splitlines()) if l.strip()), "no output")
            raise LbguardError(f"policy pack {self.pack_dir.name} failed to start: {first}\n{tail}") from None

    def call(self, method: str, request):
        try:
            return getattr(self.stub, method)(request, timeout=self.timeout)
        except grpc.RpcError as err:
            tail = self.stderr_tail()
            detail = (err.details() or str(err.code())).strip().splitlines()
            first = next((l for l in reversed(detail) if l.strip()), str(err.code()))
            raise LbguardError(f"policy pack {self.pack_dir.name}: {method} failed: {first}"
                               + (f"\n{tail}" if tail else "")) from None

    def close(self) -> None:
        if getattr(self, "channel", None) is not None:
            self.channel.close()
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._server.stop(0)

    def __enter__(self) -> "PackProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ------------------------------------------------------------------ config


def _read_user_config(path: Path) -> dict:
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as err:
        raise LbguardError(f"policy pack config {path}: cannot read: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise LbguardError(f"policy pack config {path}: not valid JSON: {err.msg} at line {err.lineno}") from None
    if not isinstance(doc, dict):
        raise LbguardError(f"policy pack config {path}: must be a JSON object of policy name -> config")
    return doc


def reconcile_config(info: analyzer_pb2.AnalyzerInfo, user: dict | None, source: str = "config") -> dict[str, dict]:
    """Policy name -> {"enforcementLevel": str, "properties": dict}, validated."""
    policies = {p.name: p for p in info.policies}
    schemas: dict[str, dict] = {}
    result: dict[str, dict] = {}
    for p in info.policies:
        props = json_format.MessageToDict(p.configSchema.properties) if p.HasField("configSchema") else {}
        schemas[p.name] = {"type": "object", "properties": props, "additionalProperties": False,
                           "required": list(p.configSchema.required) if p.HasField("configSchema") else []}
        defaults = {k: v["default"] for k, v in props.items() if isinstance(v, dict) and "default" in v}
        result[p.name] = {"enforcementLevel": LEVEL_NAMES.get(p.enforcementLevel, "advisory"), "properties": defaults}

    def apply(name: str, value: Any, where: str) -> None:
        if isinstance(value, str):
            level, props = value, {}
        elif isinstance(value, dict):
            props = {k: v for k, v in value.items() if k != "enforcementLevel"}
            level = value.get("enforcementLevel")
        else:
            raise LbguardError(f"{where}: {name}: must be an enforcement level or an object, got {json.dumps(value)}")
        if level is not None:
            if level not in LEVELS:
                raise LbguardError(f"{where}: {name}.enforcementLevel: must be one of "
                                   f"{', '.join(LEVELS)}, got {json.dumps(level)}")
            result[name]["enforcementLevel"] = level
        result[name]["properties"].update(props)

    for name, cfg in (info.initialConfig or {}).items():
        if name in result:
            entry: dict[str, Any] = json_format.MessageToDict(cfg.properties) if cfg.HasField("properties") else {}
            if cfg.enforcementLevel or name == "all":
                entry["enforcementLevel"] = LEVEL_NAMES.get(cfg.enforcementLevel, "advisory")
            apply(name, entry, "initialConfig")

    user = dict(user or {})
    if "all" in user:
        value = user.pop("all")
        level = value if isinstance(value, str) else (value or {}).get("enforcementLevel")
        if level not in LEVELS:
            raise LbguardError(f"{source}: all: must be one of {', '.join(LEVELS)}, got {json.dumps(level)}")
        for name in result:
            result[name]["enforcementLevel"] = level
    for name, value in user.items():
        if name not in policies:
            raise LbguardError(f"{source}: {name}: no such policy in pack '{info.name}' "
                               f"(known: {', '.join(sorted(policies))})")
        apply(name, value, source)

    for name, entry in result.items():
        errors = sorted(jsonschema.Draft7Validator(schemas[name]).iter_errors(entry["properties"]),
                        key=lambda e: list(e.path))
        if errors:
            err = errors[0]
            key = ".".join(str(p) for p in err.path) or (err.message.split("'")[1] if "'" in err.message else "")
            raise LbguardError(f"{source}: {name}.{key}: {err.message}")
    return result


# ------------------------------------------------------------------ analysis


def _options(r: RecordedResource) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(protect=r.protect, deleteBeforeReplace=r.delete_before_replace,
                                                parent=r.parent or "")


def _provider(r: RecordedResource, by_urn: dict[str, RecordedResource]) -> analyzer_pb2.AnalyzerProviderResource | None:
    if not r.provider:
        return None
    urn = r.provider.rsplit("::", 1)[0]  # a provider reference is "<urn>::<id>"
    p = by_urn.get(urn)
    if p is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(type=p.type, urn=p.urn, name=p.name, properties=_struct(p.inputs))


def analyze(pack: PackProcess, resources: Iterable[RecordedResource], outputs: dict, *,
            config: dict[str, dict]) -> list[Violation]:
    resources = list(resources)
    by_urn = {r.urn: r for r in resources}
    pack.call("GetPluginInfo", empty_pb2.Empty())
    pack.call("Configure", analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={
        name: analyzer_pb2.PolicyConfig(enforcementLevel=LEVELS[c["enforcementLevel"]], properties=_struct(c["properties"]))
        for name, c in config.items()}))

    diagnostics: list[tuple[Any, str]] = []
    for r in resources:
        if not r.custom:
            continue
        req = analyzer_pb2.AnalyzeRequest(type=r.type, properties=_struct(r.inputs), urn=r.urn, name=r.name,
                                          options=_options(r))
        prov = _provider(r, by_urn)
        if prov is not None:
            req.provider.CopyFrom(prov)
        for d in pack.call("Analyze", req).diagnostics:
            diagnostics.append((d, r.urn))

    stack_resources = []
    for r in resources:
        props = outputs if r.type == "pulumi:pulumi:Stack" else (r.outputs or r.inputs)
        ar = analyzer_pb2.AnalyzerResource(
            type=r.type, properties=_struct(props), urn=r.urn, name=r.name, options=_options(r),
            parent=r.parent or "", dependencies=r.dependencies,
            propertyDependencies={k: analyzer_pb2.AnalyzerPropertyDependencies(urns=v)
                                  for k, v in r.property_dependencies.items()})
        prov = _provider(r, by_urn)
        if prov is not None:
            ar.provider.CopyFrom(prov)
        stack_resources.append(ar)
    stack_urn = next((r.urn for r in resources if r.type == "pulumi:pulumi:Stack"), "")
    for d in pack.call("AnalyzeStack", analyzer_pb2.AnalyzeStackRequest(resources=stack_resources)).diagnostics:
        diagnostics.append((d, stack_urn))

    violations = []
    for d, default_urn in diagnostics:
        urn = d.urn or default_urn
        res = by_urn.get(urn)
        message = d.message
        if d.description and message.startswith(d.description + "\n"):
            message = message[len(d.description) + 1:]
        violations.append(Violation(policy=d.policyName, enforcement_level=LEVEL_NAMES.get(d.enforcementLevel, "advisory"),
                                    message=message, urn=urn, type=res.type if res else "", name=res.name if res else ""))
    return violations


def run_pack(pack_dir: Path, run: ProgramRun, *, config_file: Path | None = None, dry_run: bool = False,
             timeout: float = 60.0, program_config: dict[str, str] | None = None) -> list[Violation]:
    """Evaluate ``run`` with the pack in ``pack_dir``; see the module docstring."""
    user = _read_user_config(config_file) if config_file else None
    with PackProcess(pack_dir, project=run.project, stack=run.stack, dry_run=dry_run, config=program_config,
                     timeout=timeout) as pack:
        info = pack.call("GetAnalyzerInfo", empty_pb2.Empty())
        config = reconcile_config(info, user, str(config_file) if config_file else "config")
        return analyze(pack, run.resources, run.outputs, config=config)
