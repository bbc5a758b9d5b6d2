"""Run a policy pack exactly as the Pulumi engine does, without the Pulumi CLI.

The engine starts a Python pack as ``python -u -m pulumi.policy <engine> <pack-dir>``
with the pack directory as working directory and ``PULUMI_PROJECT``,
``PULUMI_STACK``, ``PULUMI_DRY_RUN`` and ``PULUMI_CONFIG`` set; the pack prints the
port of its analyzer gRPC server. The engine then calls GetPluginInfo,
GetAnalyzerInfo, Configure (and ConfigureStack), Analyze once per resource (its
inputs) and AnalyzeStack once (every resource's outputs, including the
``pulumi:pulumi:Stack`` resource whose properties are the stack outputs).

Config is reconciled here, as the engine does it (the pack never sees the file), see
:func:`reconcile_config`. Every policy is sent with an explicit enforcement level: an
entry without one would silently downgrade the policy to advisory.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections import deque
from concurrent import futures
from pathlib import Path
from typing import Any, Iterable

import grpc
import jsonschema
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, engine_pb2, engine_pb2_grpc

from lbguard.accel.gcpause import paused
from lbguard.accel.pack import Captured, DecodeOnce, servicer_taken
from lbguard.accel.registry import active
from lbguard.core.model import LbguardError, ProgramRun, RecordedResource, Violation, is_secret

LEVELS = {"advisory": analyzer_pb2.ADVISORY, "mandatory": analyzer_pb2.MANDATORY,
          "disabled": analyzer_pb2.DISABLED, "remediate": analyzer_pb2.REMEDIATE}
LEVEL_NAMES = {v: k for k, v in LEVELS.items()}
# AnalyzeDiagnostic.severity (pulumi analyzer.proto PolicySeverity, pulumi 3.272): what the
# policy or its report declared; UNSPECIFIED (0) when neither did.
SEVERITY_NAMES = {analyzer_pb2.POLICY_SEVERITY_LOW: "low", analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
                  analyzer_pb2.POLICY_SEVERITY_HIGH: "high", analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical"}
STACK_TYPE = "pulumi:pulumi:Stack"
_MAX_MESSAGE = 400 * 1024 * 1024
_IN_FLIGHT = 32  # Analyze calls pipelined on the one channel


def pack_config_for_stack(pack_dir: Path, stack: str) -> Path | None:
    """The pack's config file for ``stack`` (``<pack>/config/<stack>.json``), if any."""
    path = Path(pack_dir) / "config" / f"{stack}.json"
    return path if path.is_file() else None


# ------------------------------------------------------------------ engine side


class _Engine(engine_pb2_grpc.EngineServicer):
    """The engine endpoint the pack is given: it may log through it."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def Log(self, request, context):  # noqa: N802 - gRPC name
        self.messages.append(request.message)
        return empty_pb2.Empty()

    def GetRootResource(self, request, context):  # noqa: N802
        return engine_pb2.GetRootResourceResponse()

    def SetRootResource(self, request, context):  # noqa: N802
        return engine_pb2.SetRootResourceResponse()


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


def _struct(props: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(_jsonable(props or {}))
    return s


class PackProcess:
    """A running policy pack and a channel to it; use as a context manager.

    The subprocess is killed on close, whatever happened.
    """

    def __init__(self, pack_dir: Path, *, project: str, stack: str, dry_run: bool = False,
                 config: dict[str, str] | None = None, timeout: float = 60.0, python: str | None = None):
        # python: the interpreter of the pack's own virtualenv (PulumiPolicy.yaml's
        # `virtualenv`), as the engine starts it; default: this process's (the checkout's model).
        python = python or sys.executable
        self.pack_dir = Path(pack_dir).resolve()
        self.name = self.pack_dir.name
        if not (self.pack_dir / "PulumiPolicy.yaml").is_file():
            raise LbguardError(f"policy pack {self.pack_dir}: no PulumiPolicy.yaml there")
        self.project, self.stack, self.dry_run, self.config = project, stack, dry_run, dict(config or {})
        self.timeout = timeout
        self.channel = None
        self._stderr: deque[str] = deque(maxlen=200)
        self._engine = _Engine()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        engine_pb2_grpc.add_EngineServicer_to_server(self._engine, self._server)
        engine_port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        env = dict(os.environ, PULUMI_PROJECT=project, PULUMI_STACK=stack,
                   PULUMI_DRY_RUN="true" if dry_run else "false", PULUMI_CONFIG=json.dumps(self.config))
        try:
            self.proc = subprocess.Popen(
                [python, "-u", "-m", "pulumi.policy", f"127.0.0.1:{engine_port}", str(self.pack_dir)],
                cwd=self.pack_dir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True)
        except OSError as err:
            self._server.stop(0)
            raise LbguardError(f"policy pack {self.name}: cannot start {python}: {err.strerror}") from None
        self._stderr_done = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_done.start()
        try:
            port = self._read_port()
        except BaseException:
            self.close()
            raise
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[
            ("grpc.max_receive_message_length", _MAX_MESSAGE), ("grpc.max_send_message_length", _MAX_MESSAGE)])
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)

    def _drain_stderr(self) -> None:
        for line in self.proc.stderr:  # type: ignore[union-attr]
            self._stderr.append(line.rstrip("\n"))

    def stderr_tail(self, lines: int = 20) -> str:
        if self.proc.poll() is not None:
            self._stderr_done.join(timeout=2)
        else:
            time.sleep(0.1)  # let a traceback being printed arrive
        return "\n".join(list(self._stderr)[-lines:])

    def _fail(self, summary: str) -> LbguardError:
        tail = self.stderr_tail()
        return LbguardError(summary + (f"\n{tail}" if tail else ""))

    def _read_port(self) -> int:
        q: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: q.put(self.proc.stdout.readline()), daemon=True).start()  # type: ignore
        try:
            line = q.get(timeout=self.timeout)
        except queue.Empty:
            self.proc.kill()
            raise self._fail(f"policy pack {self.name}: did not print its port within {self.timeout:g}s") from None
        try:
            return int(line.strip())
        except ValueError:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            tail = self.stderr_tail()
            last = next((l.strip() for l in reversed(tail.splitlines()) if l.strip()), line.strip() or "no output")
            raise LbguardError(f"policy pack {self.name} failed to start: {last}\n{tail}") from None

    def _rpc_error(self, method: str, err: grpc.RpcError) -> LbguardError:
        if err.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            return self._fail(f"policy pack {self.name}: {method} timed out after {self.timeout:g}s")
        detail = (err.details() or str(err.code())).strip().splitlines()
        last = next((l.strip() for l in reversed(detail) if l.strip()), str(err.code()))
        return self._fail(f"policy pack {self.name}: {method} failed: {last}")

    def call(self, method: str, request):
        try:
            return getattr(self.stub, method)(request, timeout=self.timeout)
        except grpc.RpcError as err:
            raise self._rpc_error(method, err) from None

    def call_many(self, method: str, requests: Iterable) -> list:
        """Pipeline ``requests`` on the channel (bounded in flight); responses in order."""
        rpc = getattr(self.stub, method)
        pending: deque = deque()
        out = []
        deadline = time.monotonic() + self.timeout

        def settle() -> None:
            try:
                out.append(pending.popleft().result())
            except grpc.RpcError as err:
                for f in pending:
                    f.cancel()
                raise self._rpc_error(method, err) from None

        for req in requests:
            pending.append(rpc.future(req, timeout=max(0.001, deadline - time.monotonic())))
            if len(pending) >= _IN_FLIGHT:
                settle()
        while pending:
            settle()
        return out

    def configure_stack(self, request) -> None:
        try:
            self.stub.ConfigureStack(request, timeout=self.timeout)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.UNIMPLEMENTED:  # older packs: the engine carries on too
                raise self._rpc_error("ConfigureStack", err) from None

    def close(self) -> None:
        if self.channel is not None:
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


class _Context:
    """The ``context`` argument a gRPC servicer method receives (the pack only ignores it)."""

    def abort(self, code, details):  # noqa: D401 - grpc API
        raise LbguardError(str(details))

    def set_code(self, code) -> None:
        self.code = code

    def set_details(self, details) -> None:
        self.details = details


_IN_PROCESS_LOCK = threading.Lock()


class InProcessPack:
    """The pack's analyzer servicer in this interpreter, spoken to with the same protobuf
    requests the engine sends (each serialized and parsed back, as the wire would).

    What is not the engine's is only the transport: the pack's ``__main__.py`` runs as
    ``python -m pulumi.policy`` runs it (its directory as cwd and on ``sys.path``,
    ``PULUMI_PROJECT``/``PULUMI_STACK``/``PULUMI_DRY_RUN``/``PULUMI_CONFIG`` set), but where
    ``PolicyPack`` would start its gRPC server and print the port, the servicer it built is
    kept and called directly. That saves a second interpreter importing pulumi, grpc and
    the pack (about 0.35 s wall, 0.8 s CPU on prod), and makes a forked worker safe (no
    gRPC threads). The pack's own modules are imported afresh for each pack and forgotten
    after; its prints are kept as the "stderr" tail. ``LBGUARD_PACK_PROCESS=1``, or the
    acceleration ``pulumi_policy-in-process`` off (:func:`in_process`), selects the
    subprocess (:class:`PackProcess`).
    """

    def __init__(self, pack_dir: Path, *, project: str, stack: str, dry_run: bool = False,
                 config: dict[str, str] | None = None, timeout: float = 60.0, python: str | None = None,
                 decode_once: bool = True):
        self.pack_dir = Path(pack_dir).resolve()
        self.name = self.pack_dir.name
        if not (self.pack_dir / "PulumiPolicy.yaml").is_file():
            raise LbguardError(f"policy pack {self.pack_dir}: no PulumiPolicy.yaml there")
        main = self.pack_dir / "__main__.py"
        if not main.is_file():
            raise LbguardError(f"policy pack {self.name} failed to start: no __main__.py in {self.pack_dir}")
        self.project, self.stack, self.dry_run, self.config = project, stack, dry_run, dict(config or {})
        self.timeout = timeout
        self._out: deque[str] = deque(maxlen=200)
        self._env = {"PULUMI_PROJECT": project, "PULUMI_STACK": stack,
                     "PULUMI_DRY_RUN": "true" if dry_run else "false", "PULUMI_CONFIG": json.dumps(self.config)}
        self._names = _pack_modules(self.pack_dir)
        self.servicer = None
        self._decode_once = DecodeOnce() if decode_once and active("pulumi_policy-decode-once") else None
        self._sdk = None
        with self._inside(), paused():
            import pulumi.runtime
            from pulumi_policy import policy as sdk

            # What `python -m pulumi.policy` does before it runs the pack.
            for k, v in pulumi.runtime.get_config_env().items():
                pulumi.runtime.set_config(k, v)
            pulumi.runtime.configure(pulumi.runtime.Settings(project=project, stack=stack, dry_run=dry_run,
                                                             organization="organization"))
            with servicer_taken(sdk) as taken:
                try:
                    import runpy

                    runpy.run_path(str(main), run_name="__main__")
                except Captured:
                    pass
                except SystemExit as err:
                    raise LbguardError(f"policy pack {self.name} failed to start: exited {err.code}") from None
                except Exception as err:  # noqa: BLE001 - the pack's own failure: one line, then its traceback
                    import traceback

                    tail = "\n".join(traceback.format_exc().splitlines()[-20:])
                    raise LbguardError(f"policy pack {self.name} failed to start: {type(err).__name__}: "
                                       f"{' '.join(str(err).split())}\n{tail}") from None
            if "servicer" not in taken:
                raise LbguardError(f"policy pack {self.name} failed to start: its __main__.py built no PolicyPack")
            self.servicer = taken["servicer"]
            self._sdk = sdk

    @contextlib.contextmanager
    def _inside(self):
        """cwd, sys.path, environment and stdout as the pack's own process has them."""
        import io

        _IN_PROCESS_LOCK.acquire()
        old_cwd, old_path = os.getcwd(), list(sys.path)
        old_env = {k: os.environ.get(k) for k in self._env}
        buffer = io.StringIO()
        os.environ.update(self._env)
        os.chdir(self.pack_dir)
        sys.path.insert(0, str(self.pack_dir))
        try:
            with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                yield
        finally:
            os.chdir(old_cwd)
            sys.path[:] = old_path
            for k, v in old_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            self._out.extend(buffer.getvalue().splitlines())
            _IN_PROCESS_LOCK.release()

    def stderr_tail(self, lines: int = 20) -> str:
        return "\n".join(list(self._out)[-lines:])

    def call(self, method: str, request):
        return self.call_many(method, (request,))[0]

    def call_many(self, method: str, requests: Iterable) -> list:
        """Each request serialized and parsed back, handled, its response serialized and
        parsed back, as over the wire; the pack's cwd, path, environment and output
        capture are set up once for the batch (the same for every request of it)."""
        handler = getattr(self.servicer, method, None)
        if handler is None:
            raise LbguardError(f"policy pack {self.name}: {method} failed: not implemented")
        once = self._decode_once if method in DecodeOnce.METHODS else None
        responses, failure = [], None
        with self._inside(), (once.installed(self._sdk) if once else contextlib.nullcontext()):
            for request in requests:
                wire = type(request).FromString(request.SerializeToString())
                try:
                    responses.append(handler(wire, _Context()))
                except LbguardError:
                    raise
                except Exception as err:  # noqa: BLE001 - worded as grpc reports a servicer's exception
                    lines = [l.strip() for l in str(err).splitlines() if l.strip()]
                    failure = f"Exception calling application: {lines[-1] if lines else type(err).__name__}"
                    break
        if failure is not None:
            tail = self.stderr_tail()
            raise LbguardError(f"policy pack {self.name}: {method} failed: {failure}" + (f"\n{tail}" if tail else ""))
        return [type(r).FromString(r.SerializeToString()) for r in responses]

    def configure_stack(self, request) -> None:
        if getattr(self.servicer, "ConfigureStack", None) is not None:  # older packs: the engine carries on
            self.call("ConfigureStack", request)

    def close(self) -> None:
        root = str(self.pack_dir) + os.sep
        for name, module in list(sys.modules.items()):
            path = getattr(module, "__file__", None) or ""
            if name.split(".", 1)[0] in self._names and path.startswith(root):
                del sys.modules[name]
        self.servicer = None
        self._decode_once = DecodeOnce() if self._decode_once is not None else None

    def __enter__(self) -> "InProcessPack":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# A pack may carry lbguard's core as source (the lb-safety pack does: tools/vendor_core.py). In
# this process the host's own lbguard serves it (one core per interpreter: the pack's and the
# caller's topology, profile and model classes must be the same objects), which is right only
# while the pack's copy equals the host's; open_pack runs a differing pack in its own process.
SHARED = "lbguard"


def vendored_core_differs(pack_dir: Path) -> bool:
    """True if ``pack_dir`` carries an lbguard core that is not byte-identical to this one."""
    import filecmp

    theirs = Path(pack_dir) / SHARED / "core"
    if not theirs.is_dir():
        return False
    ours = Path(__file__).resolve().parents[1] / "core"

    def listing(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*")
                if p.is_file() and p.suffix in (".py", ".json") and "__pycache__" not in p.parts}

    names = listing(ours)
    if names != listing(theirs):
        return True
    return any(not filecmp.cmp(ours / n, theirs / n, shallow=False) for n in names)


def _pack_modules(pack_dir: Path) -> set[str]:
    """Top-level modules the pack imports from its own directory; forgotten before it loads
    (a previous pack's ``lb_safety`` must not answer for this one). The vendored lbguard core is
    not one of them: the host's identical core answers for it (see :data:`SHARED`)."""
    names = {e.stem for e in pack_dir.glob("*.py")} | {e.name for e in pack_dir.iterdir()
                                                        if e.is_dir() and (e / "__init__.py").is_file()}
    names.discard("__main__")
    names.discard(SHARED)
    for name, module in list(sys.modules.items()):
        if name.split(".", 1)[0] in names and "site-packages" not in (getattr(module, "__file__", None) or ""):
            del sys.modules[name]
    return names


def in_process() -> bool:
    """Whether packs run in this interpreter: not with ``LBGUARD_PACK_PROCESS=1``, nor with the
    acceleration that takes their servicer off (lbguard.accel.registry)."""
    return os.environ.get("LBGUARD_PACK_PROCESS") != "1" and active("pulumi_policy-in-process")


def open_pack(pack_dir: Path, **kwargs):
    """The pack as preflight and preview run it: in this interpreter, or its own process
    with ``LBGUARD_PACK_PROCESS=1`` or the acceleration that takes its servicer off (not
    :func:`in_process`), an explicit ``python``, or when the pack carries an lbguard core that
    differs from this one (a pack published from another version)."""
    if kwargs.get("python") or not in_process() or vendored_core_differs(pack_dir):
        return PackProcess(pack_dir, **kwargs)
    return InProcessPack(pack_dir, **kwargs)


# ------------------------------------------------------------------ config


def read_config_file(path: Path) -> dict:
    """A ``--policy-pack-config`` file as a JSON document, checked with :func:`parse_config`
    before any pack is started."""
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise LbguardError(f"policy pack config {source}: cannot read: {err.strerror}") from None
    if not text.strip():
        return {}
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise LbguardError(f"policy pack config {source}: not valid JSON: {err.msg} at line {err.lineno}") from None
    parse_config(doc, source)
    return doc


def parse_config(doc: Any, source: str = "policy pack config") -> dict[str, dict]:
    """A config document parsed as the engine parses it: policy name ->
    ``{"enforcementLevel": str | None, "properties": dict}``. A value is a level string
    or an object whose optional ``enforcementLevel`` is split from its properties;
    entries with neither are dropped."""
    if not isinstance(doc, dict):
        raise LbguardError(f"{source}: must be a JSON object of policy name -> enforcement level or object")
    out: dict[str, dict] = {}
    for name, value in doc.items():
        if isinstance(value, str):
            level, props = value, {}
        elif isinstance(value, dict):
            props = {k: v for k, v in value.items() if k != "enforcementLevel"}
            level = value.get("enforcementLevel")
            if level is not None and not isinstance(level, str):
                raise LbguardError(f"{source}: {name}.enforcementLevel: must be a string, got {json.dumps(level)}")
        else:
            raise LbguardError(f"{source}: {name}: must be an enforcement level or an object, got {json.dumps(value)}")
        if level is not None and level not in LEVELS:
            where = name if isinstance(value, str) else f"{name}.enforcementLevel"
            raise LbguardError(f"{source}: {where}: must be one of {', '.join(LEVELS)}, got {json.dumps(level)}")
        if level is None and not props:
            continue
        out[name] = {"enforcementLevel": level, "properties": props}
    return out


def _schema(policy: analyzer_pb2.PolicyInfo) -> dict:
    has = policy.HasField("configSchema")
    props = json_format.MessageToDict(policy.configSchema.properties) if has else {}
    # The engine injects enforcementLevel into every schema; additionalProperties is ours
    # (the engine lets a misspelt key pass silently and the policy then uses its default).
    props["enforcementLevel"] = {"type": "string", "enum": list(LEVELS)}
    return {"type": "object", "properties": props, "additionalProperties": False,
            "required": list(policy.configSchema.required) if has else []}


def reconcile_config(info: analyzer_pb2.AnalyzerInfo, user: dict | None, source: str = "policy pack config"
                     ) -> dict[str, dict]:
    """Policy name -> ``{"enforcementLevel": str, "properties": dict}``, validated.

    As the engine (``ReconcilePolicyPackConfig``): start from each policy's level and
    its schema defaults; apply the pack's ``initialConfig``, then the user's config.
    Applying a config: an ``all`` entry with a level sets every policy's level (keeping
    properties); then each named entry overrides the level if it has one and merges its
    properties key by key. An ``initialConfig`` entry always carries a level on the wire
    (unset reads as advisory), exactly as the engine reads it. Then each policy's
    properties are validated against its JSON schema.

    Stricter than the engine, on purpose: a policy name the pack does not have, and a
    property its schema does not declare, are errors (the engine ignores both).
    ``user`` is the config document (as in a ``--policy-pack-config`` file).
    """
    policies = {p.name: p for p in info.policies}
    result = {p.name: {"enforcementLevel": LEVEL_NAMES.get(p.enforcementLevel, "advisory"),
                       "properties": {k: v["default"] for k, v in _schema(p)["properties"].items()
                                      if isinstance(v, dict) and "default" in v}}
              for p in info.policies}

    initial = {name: {"enforcementLevel": LEVEL_NAMES.get(cfg.enforcementLevel, "advisory"),
                      "properties": json_format.MessageToDict(cfg.properties) if cfg.HasField("properties") else {}}
               for name, cfg in info.initialConfig.items()}
    parsed = parse_config(user or {}, source)

    def apply(config: dict[str, dict], where: str) -> None:
        all_level = (config.get("all") or {}).get("enforcementLevel")
        if all_level:
            for entry in result.values():
                entry["enforcementLevel"] = all_level
        for name, given in config.items():
            if name == "all":
                continue
            if name not in policies:
                raise LbguardError(f"{where}: {name}: no such policy in pack '{info.name}' "
                                   f"(known: {', '.join(sorted(policies))})")
            if given.get("enforcementLevel"):
                result[name]["enforcementLevel"] = given["enforcementLevel"]
            result[name]["properties"].update(given.get("properties") or {})

    apply(initial, f"policy pack '{info.name}' initialConfig")
    apply(parsed, source)

    for name, entry in result.items():
        errors = sorted(jsonschema.Draft7Validator(_schema(policies[name])).iter_errors(entry["properties"]),
                        key=lambda e: (list(e.absolute_path), e.message))
        if errors:
            err = errors[0]
            path = ".".join(str(p) for p in err.absolute_path)
            if not path and err.validator == "additionalProperties":
                extra = sorted(set(entry["properties"]) - set(_schema(policies[name])["properties"]))
                path = extra[0] if extra else ""
                message = f"not a setting of this policy (settings: {', '.join(sorted(_schema(policies[name])['properties']))})"
            else:
                message = err.message
            raise LbguardError(f"{source}: {name}{'.' + path if path else ''}: {message}".replace("\n", " "))
    return result


# ------------------------------------------------------------------ analysis


def _options(r: RecordedResource) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(protect=r.protect, deleteBeforeReplace=bool(r.delete_before_replace),
                                                deleteBeforeReplaceDefined=r.delete_before_replace is not None, parent=r.parent or "")


def _provider(r: RecordedResource, by_urn: dict[str, RecordedResource]) -> analyzer_pb2.AnalyzerProviderResource | None:
    if not r.provider:
        return None
    p = by_urn.get(r.provider.rsplit("::", 1)[0])  # a provider reference is "<urn>::<id>"
    if p is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(type=p.type, urn=p.urn, name=p.name, properties=_struct(p.inputs))


def configure(pack: PackProcess, config: dict[str, dict]) -> None:
    pack.call("Configure", analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={
        name: analyzer_pb2.PolicyConfig(enforcementLevel=LEVELS[c["enforcementLevel"]],
                                        properties=_struct(c["properties"]))
        for name, c in config.items()}))
    pack.configure_stack(analyzer_pb2.AnalyzerStackConfigureRequest(
        stack=pack.stack, project=pack.project, organization="organization", dry_run=pack.dry_run,
        config=pack.config))


def analyze(pack: PackProcess, resources: Iterable[RecordedResource], outputs: dict, *,
            config: dict[str, dict]) -> list[Violation]:
    """Configure the pack, then Analyze every custom resource's inputs and AnalyzeStack
    every resource's outputs (the root stack's are ``outputs``)."""
    resources = list(resources)
    by_urn = {r.urn: r for r in resources}
    pack.call("GetPluginInfo", empty_pb2.Empty())
    configure(pack, config)

    custom = [r for r in resources if r.custom]

    def analyze_request(r: RecordedResource) -> analyzer_pb2.AnalyzeRequest:
        req = analyzer_pb2.AnalyzeRequest(type=r.type, properties=_struct(r.inputs), urn=r.urn, name=r.name,
                                          options=_options(r))
        prov = _provider(r, by_urn)
        if prov is not None:
            req.provider.CopyFrom(prov)
        return req

    diagnostics: list[tuple[Any, str]] = []
    for r, resp in zip(custom, pack.call_many("Analyze", (analyze_request(r) for r in custom))):
        diagnostics.extend((d, r.urn) for d in resp.diagnostics)

    stack_resources = []
    for r in resources:
        props = outputs if r.type == STACK_TYPE else (r.outputs or r.inputs)
        ar = analyzer_pb2.AnalyzerResource(
            type=r.type, properties=_struct(props), urn=r.urn, name=r.name, options=_options(r),
            parent=r.parent or "", dependencies=r.dependencies,
            propertyDependencies={k: analyzer_pb2.AnalyzerPropertyDependencies(urns=v)
                                  for k, v in r.property_dependencies.items()})
        prov = _provider(r, by_urn)
        if prov is not None:
            ar.provider.CopyFrom(prov)
        stack_resources.append(ar)
    stack_urn = next((r.urn for r in resources if r.type == STACK_TYPE), "")
    for d in pack.call("AnalyzeStack", analyzer_pb2.AnalyzeStackRequest(resources=stack_resources)).diagnostics:
        diagnostics.append((d, stack_urn))

    violations = []
    for d, default_urn in diagnostics:
        urn = d.urn or default_urn
        res = by_urn.get(urn)
        message = d.message
        if d.description and message.startswith(d.description + "\n"):
            message = message[len(d.description) + 1:]
        violations.append(Violation(policy=d.policyName,
                                    enforcement_level=LEVEL_NAMES.get(d.enforcementLevel, "advisory"),
                                    message=message, urn=urn, type=res.type if res else "",
                                    name=res.name if res else "", severity=SEVERITY_NAMES.get(d.severity, "")))
    return violations


def run_pack(pack_dir: Path, run: ProgramRun, *, config_file: Path | None = None, dry_run: bool = False,
             timeout: float = 60.0, program_config: dict[str, str] | None = None,
             python: str | None = None) -> list[Violation]:
    """Evaluate ``run`` with the pack in ``pack_dir`` as the engine would; see the module
    docstring. ``program_config`` (``"<project>:<key>" -> str``) becomes PULUMI_CONFIG;
    by default the run's own ``config`` if it carries one, else ``{}``."""
    user = read_config_file(config_file) if config_file else {}
    config_env = program_config if program_config is not None else dict(getattr(run, "config", None) or {})
    with open_pack(pack_dir, project=run.project, stack=run.stack, dry_run=dry_run, config=config_env,
                   timeout=timeout, python=python) as pack:
        return evaluate_with(pack, run, user, config_file)


def evaluate_with(pack: PackProcess, run: ProgramRun, user: dict, config_file: Path | None = None) -> list[Violation]:
    """GetAnalyzerInfo, the reconciled config, Analyze and AnalyzeStack on a started pack."""
    with paused():
        info = pack.call("GetAnalyzerInfo", empty_pb2.Empty())
        config = reconcile_config(info, user, str(config_file) if config_file else "policy pack config")
        return analyze(pack, run.resources, run.outputs, config=config)
