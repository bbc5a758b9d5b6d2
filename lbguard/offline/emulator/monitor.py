"""The recording resource monitor: every registration as the engine would see it."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from lbguard.accel.registry import active
from lbguard.core.model import RecordedResource

if TYPE_CHECKING:
    from lbguard.offline.emulator.core import AwsEmulator

_STACK = "pulumi:pulumi:Stack"  # MockMonitor hands the root stack's registration to no mock


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """MockMonitor that keeps every registration (type, name, URN, parent, dependencies,
    property dependencies, inputs, custom, provider) in registration order.

    ``Mocks.new_resource`` only sees type, name and inputs; the dependency graph is only
    visible here. Stack outputs never reach the monitor (the runner reads them from the
    root stack resource).
    """

    def __init__(self, mocks: "AwsEmulator"):
        # The registry's "pulumi-mock-inputs": the inputs MockMonitor decodes for the mocks are
        # recorded instead of decoding the request a second time.
        self._decode_inputs = not active("pulumi-mock-inputs")
        super().__init__(mocks if self._decode_inputs else _InputsRecorder(mocks))
        self.records: list[RecordedResource] = []
        self.by_urn: dict[str, RecordedResource] = {}
        self.invokes: list[tuple[str, dict]] = []  # (token, args) in call order
        self._lock = threading.Lock()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """URNs as the engine makes them: a child of the root stack has no parent type in
        its qualified type (``...::aws:lb/listener:Listener::https``); a component's child has
        ``Component$Child``."""
        if parent and parent.split("::")[2].split("$")[-1] == "pulumi:pulumi:Stack":
            parent = ""
        return super().make_urn(parent, type_, name)

    def RegisterResource(self, request):  # noqa: N802 - gRPC name
        urn = self.make_urn(request.parent, request.type, request.name)
        rec = RecordedResource(
            urn=urn, type=request.type, name=request.name, custom=bool(request.custom),
            parent=request.parent or None, dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            # inputs: recorded by _InputsRecorder from what MockMonitor decoded for the mocks
            # (the same deserialize_properties of request.object), or decoded here when off
            inputs=rpc_props(request.object) if self._decode_inputs and request.type != _STACK else {},
            provider=request.provider or None, protect=bool(request.protect),
            delete_before_replace=bool(request.deleteBeforeReplace) if request.deleteBeforeReplaceDefined else None,
            ignore_changes=list(request.ignoreChanges), replace_on_changes=list(request.replaceOnChanges),
            aliases=self._alias_urns(request), alias_specs=self._alias_specs(request),
            retain_on_delete=bool(request.retainOnDelete), deleted_with=request.deletedWith or None,
            replace_with=list(request.replace_with),
        )
        with self._lock:
            self.records.append(rec)
            self.by_urn[urn] = rec
        self.mocks.registering.rec = rec  # the mocks' new_resource runs on this thread, next
        try:
            response = super().RegisterResource(request)
        finally:
            self.mocks.registering.rec = None
        if request.type != "pulumi:pulumi:Stack":
            rec.id = response.id or None
            rec.outputs = rpc_props(response.object)
            rec.emulated = not request.custom or self.mocks.emulates(request.type, request.importId or None)
        return response

    def _alias_urns(self, request) -> list[str]:
        """Aliases as URNs: given as URNs, or as a spec (name/type/parent) resolved as the engine does."""
        urns = list(request.aliasURNs)
        for alias in request.aliases:
            if alias.urn:
                urns.append(alias.urn)
            elif alias.HasField("spec"):
                spec = alias.spec
                parent = "" if spec.noParent else (spec.parentUrn or request.parent)
                urns.append(self.make_urn(parent, spec.type or request.type, spec.name or request.name))
        return urns

    @staticmethod
    def _alias_specs(request) -> list[dict]:
        """The aliases as sent, for the engine's own resolution (lbguard.core.plan.engine.generate_aliases)."""
        out: list[dict] = [{"urn": u} for u in request.aliasURNs]
        for alias in request.aliases:
            if alias.urn:
                out.append({"urn": alias.urn})
            elif alias.HasField("spec"):
                s = alias.spec
                out.append({k: v for k, v in {"name": s.name, "type": s.type, "stack": s.stack, "project": s.project,
                                              "parent": s.parentUrn, "noParent": s.noParent}.items() if v})
        return out

    def ReadResource(self, request):  # noqa: N802 - gRPC name
        """``Resource.get(...)``: recorded, echoed, never emulated (nothing is created)."""
        urn = self.make_urn(request.parent, request.type, request.name)
        rec = RecordedResource(urn=urn, type=request.type, name=request.name, custom=True,
                               parent=request.parent or None, dependencies=list(request.dependencies),
                               inputs=rpc_props(request.properties), provider=request.provider or None,
                               id=request.id or None, emulated=False)
        with self._lock:
            self.records.append(rec)
            self.by_urn[urn] = rec
        response = super().ReadResource(request)
        rec.outputs = rpc_props(response.properties)
        return response

    def Invoke(self, request):  # noqa: N802 - gRPC name
        if request.tok != "pulumi:pulumi:getResource":
            with self._lock:
                self.invokes.append((request.tok, rpc_props(request.args)))
        return super().Invoke(request)


class _InputsRecorder:
    """The mocks as MockMonitor calls them, with each registration's inputs (as MockMonitor
    deserialized them from the request) recorded on the resource being registered before
    the mocks see them. Everything else is the mocks' own."""

    def __init__(self, mocks: "AwsEmulator"):
        self._mocks = mocks

    def __getattr__(self, name: str):
        return getattr(self._mocks, name)

    def new_resource(self, args):
        rec = getattr(self._mocks.registering, "rec", None)
        if rec is not None:
            rec.inputs = plain(args.inputs)
        return self._mocks.new_resource(args)


def rpc_props(struct) -> dict:
    """Deserialize a protobuf Struct of properties into plain Python values."""
    pulumi_mocks._ensure_event_loop()
    return plain(rpc.deserialize_properties(struct))


def plain(value: Any) -> Any:
    """Engine values as plain JSON-able Python: integral floats become ints."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
