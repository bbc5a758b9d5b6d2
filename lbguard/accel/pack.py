"""The in-process policy pack's accelerations of pulumi_policy (lbguard.accel.registry):
taking the pack's analyzer servicer instead of serving it over gRPC, and decoding each
resource's properties once per batch instead of once per policy. ``lbguard.offline.policy_runner``
asks the registry whether each may run and calls these; with either off it runs the pack
as the engine does (its own process) or with pulumi_policy's own decoding."""

from __future__ import annotations

import contextlib
import functools
import inspect
from typing import Any, Iterator

from google.protobuf import struct_pb2

from lbguard.accel.registry import swap
from lbguard.core.memo import ByIdentity


class Captured(Exception):
    """Raised in place of the pack's server start: its servicer has been taken."""


@contextlib.contextmanager
def servicer_taken(sdk) -> Iterator[dict]:
    """Inside the block, ``PolicyPack(...)`` in ``sdk`` (``pulumi_policy.policy``) hands its
    servicer to the returned dict (key ``"servicer"``) and raises :class:`Captured` where it
    would start its gRPC server, print the port and block.

    pulumi_policy 1.21 ``pulumi_policy/policy.py`` ``PolicyPack.__init__`` builds the
    servicer, then calls the module globals ``grpc.server(...)`` and
    ``analyzer_pb2_grpc.add_AnalyzerServicer_to_server(servicer, server)`` before
    ``server.add_insecure_port``; nothing else in the module uses either name."""
    taken: dict = {}

    class _Grpc:
        @staticmethod
        def server(*_a, **_k):
            return None

    class _Register:
        @staticmethod
        def add_AnalyzerServicer_to_server(servicer, _server):  # noqa: N802 - grpc name
            taken["servicer"] = servicer
            raise Captured

    restores = (swap(sdk, "grpc", lambda _real: _Grpc), swap(sdk, "analyzer_pb2_grpc", lambda _real: _Register))
    try:
        yield taken
    finally:
        for restore in reversed(restores):
            restore()


class DecodeOnce:
    """Each resource's properties decoded once per pack instead of once per policy.

    pulumi_policy's servicer turns every resource's property Struct into plain values
    (``json_format.MessageToDict``, then ``deserialize_properties``, then
    ``unknown_checking_proxy``) in ``Analyze`` and again for every stack policy in
    ``AnalyzeStack``: 11 decodes of each resource for this pack, 0.6 s of a 470-resource
    preflight (issue 15). During those two calls in this process the three steps answer
    from a cache: the Struct by its bytes (equal bytes, equal message), each later step by
    the object the step before returned. A policy therefore sees the same read-only
    proxies another policy saw; pulumi_policy's servicer code, the requests and the
    responses are unchanged (tests/policies/test_decode_once.py compares the responses
    with the stock decoding on every stack). The runtime set-up each call repeats inspects
    ``pulumi.runtime.Settings``' signature (0.05 ms a call); that answer is kept too. The
    pack the engine starts is not touched.
    """

    METHODS = ("Analyze", "AnalyzeStack")

    def __init__(self) -> None:
        self._structs: dict[bytes, Any] = {}
        self._decoded: ByIdentity | None = None  # made on first use, around the SDK's own functions
        self._proxied: ByIdentity | None = None

    @contextlib.contextmanager
    def installed(self, sdk) -> Iterator[None]:
        """``sdk`` (``pulumi_policy.policy``) decoding through this instance's caches inside
        the block; its own functions back after."""
        if self._decoded is None:
            self._decoded = ByIdentity(sdk.deserialize_properties)
            self._proxied = ByIdentity(sdk.unknown_checking_proxy)
        decoded, structs = self._decoded, self._structs

        def deserialize_once(real):
            def deserialize_properties(props, proxy_secrets: bool = False):
                # Remediate's variant (secrets proxied) is not cached
                return real(props, proxy_secrets) if proxy_secrets else decoded(props)
            return deserialize_properties

        restores = (swap(sdk, "json_format", lambda real: _JsonFormatOnce(real, structs)),
                    swap(sdk, "deserialize_properties", deserialize_once),
                    swap(sdk, "unknown_checking_proxy", lambda _real: self._proxied),
                    swap(sdk, "signature", lambda _real: _signature))
        try:
            yield
        finally:
            for restore in reversed(restores):
                restore()


_signature = functools.lru_cache(maxsize=64)(inspect.signature)  # a class's signature does not change


class _JsonFormatOnce:
    """``google.protobuf.json_format`` with ``MessageToDict`` of a Struct cached by its bytes,
    and, for one installation (one batch of requests, which nothing mutates while it is
    handled), by the message object itself: protobuf hands out the same object for a field
    each time it is read, so AnalyzeStack's later policies skip serializing each resource's
    properties only to find them in the cache."""

    def __init__(self, real, cache: dict):
        self._real, self._cache = real, cache
        self._by_object = ByIdentity(self._by_bytes)  # lives as long as this installation

    def __getattr__(self, name):
        return getattr(self._real, name)

    def MessageToDict(self, message, *args, **kwargs):  # noqa: N802 - the protobuf name
        if args or kwargs or not isinstance(message, struct_pb2.Struct):
            return self._real.MessageToDict(message, *args, **kwargs)
        return self._by_object(message)

    def _by_bytes(self, message):
        key = message.SerializeToString(deterministic=True)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._real.MessageToDict(message)
        return hit
