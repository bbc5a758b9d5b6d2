"""The engine's side of a component provider, served over gRPC by the test: an Engine endpoint
(logs) and a ResourceMonitor whose registrations create resources in lbguard's AWS emulator
(moto in this process, through the RecordingMonitor every preflight uses).

Pulumi's engine hands a provider's Construct the monitor's address (ConstructRequest
monitorEndpoint); the provider's SDK then registers the component and its children there
(pulumi/provider/server.py ``ProviderServicer._construct``: ``settings.reset_options(...,
monitor_address=request.monitorEndpoint)``), exactly as this serves them.
"""

from __future__ import annotations

import subprocess
import threading
from concurrent import futures
from pathlib import Path

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import (engine_pb2, engine_pb2_grpc, provider_pb2_grpc, resource_pb2,
                                  resource_pb2_grpc)

from lbguard.offline.emulator.core import AwsEmulator
from lbguard.offline.emulator.monitor import RecordingMonitor


class _Monitor(RecordingMonitor):
    """URNs for a fixed project and stack (MockMonitor asks the runtime of this process)."""

    def __init__(self, mocks: AwsEmulator, project: str, stack: str):
        super().__init__(mocks)
        self.project, self.stack = project, stack

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        if parent and parent.split("::")[2].split("$")[-1] == "pulumi:pulumi:Stack":
            parent = ""
        if parent:
            type_ = parent.split("::")[2].split("$").pop() + "$" + type_
        return "urn:pulumi:" + "::".join([self.stack, self.project, type_, name])


class MonitorServicer(resource_pb2_grpc.ResourceMonitorServicer):
    def __init__(self, monitor: _Monitor):
        self.monitor = monitor
        self.errors: list[str] = []

    def _guarded(self, fn, request, context):
        try:
            return fn(request)
        except Exception as err:  # noqa: BLE001 - reported to the caller as the engine would
            self.errors.append(f"{type(err).__name__}: {err}")
            context.abort(grpc.StatusCode.UNKNOWN, str(err))

    def SupportsFeature(self, request, context):  # noqa: N802 - gRPC names
        # As MockMonitor: no output values, so the emulator sees plain inputs.
        return resource_pb2.SupportsFeatureResponse(hasSupport=request.id != "outputValues")

    def GetDeploymentInfo(self, request, context):  # noqa: N802
        return self.monitor.GetDeploymentInfo(request)

    def RegisterResource(self, request, context):  # noqa: N802
        return self._guarded(self.monitor.RegisterResource, request, context)

    def RegisterResourceOutputs(self, request, context):  # noqa: N802
        return empty_pb2.Empty()

    def Invoke(self, request, context):  # noqa: N802
        return self._guarded(self.monitor.Invoke, request, context)

    def ReadResource(self, request, context):  # noqa: N802
        return self._guarded(self.monitor.ReadResource, request, context)

    def RegisterPackage(self, request, context):  # noqa: N802
        return resource_pb2.RegisterPackageResponse(ref=f"{request.name}-{request.version}")

    def RegisterStackTransform(self, request, context):  # noqa: N802
        return empty_pb2.Empty()

    def RegisterStackInvokeTransform(self, request, context):  # noqa: N802
        return empty_pb2.Empty()

    def SignalAndWaitForShutdown(self, request, context):  # noqa: N802
        return empty_pb2.Empty()


class EngineServicer(engine_pb2_grpc.EngineServicer):
    def __init__(self, root_urn: str):
        self.root_urn, self.logs = root_urn, []

    def Log(self, request, context):  # noqa: N802
        self.logs.append(request.message)
        return empty_pb2.Empty()

    def GetRootResource(self, request, context):  # noqa: N802
        return engine_pb2.GetRootResourceResponse(urn=self.root_urn)

    def SetRootResource(self, request, context):  # noqa: N802
        return engine_pb2.SetRootResourceResponse()


class Engine:
    """Engine + monitor servers on 127.0.0.1 (use inside ``emulated_aws``), and a provider plugin
    started as the language host starts it: ``python <plugin dir> <engine address>``."""

    def __init__(self, project: str, stack: str, region: str = "us-east-1"):
        self.project, self.stack = project, stack
        self.root_urn = f"urn:pulumi:{stack}::{project}::pulumi:pulumi:Stack::{project}-{stack}"
        self.mocks = AwsEmulator(region=region)
        self.monitor = _Monitor(self.mocks, project, stack)
        self.monitor_servicer = MonitorServicer(self.monitor)
        self.engine = EngineServicer(self.root_urn)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        resource_pb2_grpc.add_ResourceMonitorServicer_to_server(self.monitor_servicer, self.server)
        engine_pb2_grpc.add_EngineServicer_to_server(self.engine, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.address = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.stderr: list[str] = []

    def start_provider(self, python: Path, plugin_dir: Path, env: dict, timeout: float = 60):
        """The plugin's process; returns a ResourceProvider stub once it printed its port."""
        self.proc = subprocess.Popen([str(python), str(plugin_dir), self.address], cwd=plugin_dir.parent, env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()
        port: list[str] = []
        reader = threading.Thread(target=lambda: port.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not port or not port[0].strip().isdigit():
            self.close()
            raise AssertionError(f"the provider printed no port: {port} {''.join(self.stderr)[-3000:]}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port[0].strip()}")
        return provider_pb2_grpc.ResourceProviderStub(self.channel)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.server.stop(0)
