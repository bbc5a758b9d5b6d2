"""Pulumi mocks that create, update and delete each resource through the real boto3 API.

Behind boto3 sits moto (in-process, or a moto server at ``AWS_ENDPOINT_URL``).
Each AWS service has its own module under ``lbguard.offline.emulator.services`` with a
handler per resource type and operation, registered here:

* ``@creates(type)``: ``fn(em, args, inputs) -> (id, outputs)`` — the API calls the
  provider makes on create, then a read-back (``describe_*``) returned under the
  output names pulumi-aws uses. botocore validates every request against the service
  model before moto sees it, so wrong types, missing fields and out-of-range numbers
  fail here as they would against AWS.
* ``@updates(type)``: ``fn(em, args, inputs, old, diffs) -> outputs`` — the calls the
  provider's Update makes for the properties in ``diffs`` (top-level input names).
  Types whose create is an idempotent "put" register ``@creates(type, put=True)`` and
  are updated by calling create again, as the provider does.
* ``@deletes(type)``: ``fn(em, old)`` — the provider's Delete.

Inputs arrive camelCase with numbers as floats (the engine's wire format); handlers
convert at the edge. Every handler sees its inputs as a :class:`Tracked` mapping: an
input key no handler read is reported (``unconsumed``), because a field silently
dropped makes the emulation lie. Types without a handler are echoed and reported as
not emulated.
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import boto3
import botocore
import pulumi
from botocore.config import Config as BotoConfig

from lbguard.accel.registry import active
from lbguard.core.model import is_secret

ACCOUNT = "123456789012"
# A fixed AMI used where the program asks AWS for one (``getAmi``) and for instances
# launched without an image. ``describe_images`` is slow in moto.
DEFAULT_AMI = "ami-12c6146b"

Handler = Callable[["AwsEmulator", Any, dict], tuple[str, dict]]
Updater = Callable[["AwsEmulator", Any, dict, "Prior", set], dict]
Deleter = Callable[["AwsEmulator", "Prior"], None]
Invoke = Callable[["AwsEmulator", dict], dict]

HANDLERS: dict[str, Handler] = {}  # create, by type token (aws:lb/... form)
UPDATERS: dict[str, Updater] = {}
DELETERS: dict[str, Deleter] = {}
PUT_STYLE: set[str] = set()  # types whose create call is an idempotent put: update = create again
INVOKES: dict[str, Invoke] = {}


@dataclass
class Prior:
    """What the state holds for a resource before a change: its id, inputs and outputs."""

    type: str
    name: str
    id: str
    inputs: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)


def canonical_type(typ: str) -> str:
    return typ.replace("aws:alb/", "aws:lb/", 1)


def creates(*types: str, put: bool = False):
    def register(fn: Handler) -> Handler:
        for t in types:
            HANDLERS[t] = fn
            if put:
                PUT_STYLE.add(t)
        return fn
    return register


handles = creates  # the name the first emulator used


def updates(*types: str):
    def register(fn: Updater) -> Updater:
        for t in types:
            UPDATERS[t] = fn
        return fn
    return register


def deletes(*types: str):
    def register(fn: Deleter) -> Deleter:
        for t in types:
            DELETERS[t] = fn
        return fn
    return register


def invoke(*tokens: str):
    def register(fn: Invoke) -> Invoke:
        for t in tokens:
            INVOKES[t] = fn
        return fn
    return register


# ------------------------------------------------------------------ tracked inputs


class Tracked(dict):
    """A dict that remembers which keys were read (``[]``, ``get``, ``items``...).

    Nested mappings are tracked too, so ``healthCheck.port`` left unread is reported
    even when ``healthCheck`` itself was read.
    """

    def __init__(self, data: Mapping[str, Any], path: str = "", sink: set | None = None):
        super().__init__()
        self._path, self._sink = path, (set() if sink is None else sink)
        for k, v in data.items():
            dict.__setitem__(self, k, _track(v, f"{path}{k}.", self._sink))

    def _mark(self, key: Any) -> None:
        self._sink.add(f"{self._path}{key}")

    def __getitem__(self, key):
        self._mark(key)
        return dict.__getitem__(self, key)

    def get(self, key, default=None):
        self._mark(key)
        return dict.get(self, key, default)

    def _mark_all(self) -> None:
        for k in dict.keys(self):
            self._mark(k)

    def items(self):
        self._mark_all()
        return dict.items(self)

    def values(self):
        self._mark_all()
        return dict.values(self)

    def consume(self, *keys: str) -> None:
        """Mark ``keys`` and everything under them as read: inputs the provider itself acts
        on (waits, refresh triggers, default-version moves) and never sends on this call."""
        for key in keys:
            self._mark(key)
            value = dict.get(self, key)
            for item in (value if isinstance(value, list) else [value]):
                if isinstance(item, Tracked):
                    item.consume(*dict.keys(item))

    def unread(self) -> list[str]:
        """Input paths never read (a parent left unread hides its children)."""
        out: list[str] = []
        for k, v in dict.items(self):
            here = f"{self._path}{k}"
            if here not in self._sink:
                out.append(here)
            elif isinstance(v, Tracked):
                out.extend(v.unread())
            elif isinstance(v, list):
                for item in v:
                    if isinstance(item, Tracked):
                        out.extend(p for p in item.unread() if p not in out)
        return out


def _track(value: Any, path: str, sink: set) -> Any:
    if isinstance(value, dict) and not isinstance(value, Tracked):
        return Tracked(value, path, sink)
    if isinstance(value, list):
        return [_track(v, path, sink) for v in value]
    return value


def untracked(value: Any) -> Any:
    """Plain dicts/lists again (for echoing inputs back as outputs)."""
    if isinstance(value, dict):
        return {k: untracked(v) for k, v in dict.items(value)}
    if isinstance(value, list):
        return [untracked(v) for v in value]
    return value


# Inputs that are the engine's or the provider's, never sent to an AWS API.
PROVIDER_ONLY = {"tagsAll", "forceDestroy", "skipDestroy", "region"}


# ------------------------------------------------------------------ helpers


def _int(v: Any) -> int | None:
    return None if v is None else int(v)


def _bool(v: Any) -> bool:
    return v in (True, "true", "True", 1)


def _tags_list(tags: Mapping[str, str] | None) -> list[dict]:
    return [{"Key": k, "Value": str(v)} for k, v in (tags or {}).items()]


def _drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None and v != [] and v != {}}


def _auto_name(logical: str, max_len: int = 255, lower: bool = False, sep: str = "-") -> str:
    """pulumi-style auto-name: logical name plus a 7-hex random suffix, within ``max_len``."""
    suffix = secrets.token_hex(4)[:7]
    base = logical[: max_len - len(suffix) - 1]
    name = f"{base}{sep}{suffix}"
    return name.lower() if lower else name


def _floats_to_ints(value: Any) -> Any:
    """Engine wire values to what the API takes: integral floats -> int, secrets unwrapped
    (the provider sees secret inputs in plain text too)."""
    if isinstance(value, dict):
        if is_secret(value):
            return _floats_to_ints(value.get("value"))
        return {k: _floats_to_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats_to_ints(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _arn(service: str, resource: str, region: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


def tag_changes(old: Mapping[str, str] | None, new: Mapping[str, str] | None) -> tuple[dict, list[str]]:
    """(tags to set, keys to remove) between two tag maps."""
    old, new = dict(old or {}), dict(new or {})
    return {k: v for k, v in new.items() if old.get(k) != v}, [k for k in old if k not in new]


def update_tags(old: Prior, inputs: Mapping[str, Any], diffs: set, *, untag: Callable[[list[str]], Any],
                tag: Callable[[dict], Any]) -> None:
    """The provider's tag update, one home for every service: the removed keys in one untag
    call first, then the added or changed tags in one tag call; nothing when the tags did not
    change. terraform-provider-aws v6, internal/generate/tags templates, the ``updateTags``
    generated into each service's ``tags_gen.go`` (``oldTags.Removed(newTags)`` -> Untag*,
    then ``oldTags.Updated(newTags)`` -> Tag*)."""
    if "tags" not in diffs:
        return
    add, remove = tag_changes(old.inputs.get("tags"), inputs.get("tags"))
    if remove:
        untag(remove)
    if add:
        tag(add)


# ------------------------------------------------------------------ the mocks


_BOTO_CONFIG = BotoConfig(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"})
# In-process moto reads no signature: it takes the account from the access key in the
# Authorization header, and the emulator's key ("testing") and no key at all both give its
# default account, ACCOUNT (moto 5.2 moto/core/responses.py BaseResponse.get_current_account,
# moto/iam/models.py get_account_id_from). SigV4 signing was 9% of every call's cost (issue
# 15), so those calls go unsigned (lbguard.accel.registry's "moto-unsigned-calls"). Kept signed: calls to a moto server (AWS_ENDPOINT_URL: another process,
# possibly with IAM checks on), S3 (moto's S3 treats an anonymous request as anonymous), and
# STS and IAM (the caller's identity and "current user" are the access key's).
_UNSIGNED_CONFIG = _BOTO_CONFIG.merge(BotoConfig(signature_version=botocore.UNSIGNED))
_SIGNED_SERVICES = {"s3", "sts", "iam"}
READ_PREFIXES = ("Describe", "Get", "List", "Head")


class ResourceFailed(Exception):
    """A resource AWS (or its handler) refused, named after the resource: the runner
    reports it as ``program failed: <text>``."""


def describe_error(err: BaseException) -> str:
    """``CreateRule: ValidationError: <AWS message>`` for a botocore ClientError, else
    ``<Type>: <text>``, on one line."""
    response = getattr(err, "response", None)
    if isinstance(response, dict) and "Error" in response:
        e = response["Error"]
        op = getattr(err, "operation_name", "") or "call"
        return " ".join(f"{op}: {e.get('Code', 'Error')}: {e.get('Message', '')}".split())
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}"[:400] if text else type(err).__name__


class AwsEmulator(pulumi.runtime.Mocks):
    """Pulumi mocks backed by boto3 (moto in-process, or the server at ``AWS_ENDPOINT_URL``).

    The Pulumi runtime calls ``new_resource`` / ``call`` from a thread pool; calls are
    serialized here (moto is not built for concurrent writers, and GIL contention made
    concurrent calls slower than serial ones). Every AWS call is recorded in ``calls``
    (service, operation) so a caller can tell reads from writes.
    """

    def __init__(self, region: str = "us-east-1"):
        self.region = region
        self._clients: dict[str, Any] = {}
        self._lock = threading.RLock()
        self.not_emulated: set[tuple[str, str]] = set()
        self.unknown_invokes: list[str] = []
        self.certificates: dict[str, str] = {}  # certificate ARN in the program -> ARN held by the emulator
        self.unconsumed: dict[str, list[str]] = {}  # "type::name" -> input paths no handler read
        self.calls: list[tuple[str, str]] = []
        self.delete_retries: list[tuple[str, str, int]] = []  # (id, error code, seconds the provider would retry)
        self.registering = threading.local()  # .rec: the RecordedResource being registered (set by the monitor)

    def client(self, service: str):
        if service not in self._clients:
            unsigned = (service not in _SIGNED_SERVICES and not os.environ.get("AWS_ENDPOINT_URL")
                        and active("moto-unsigned-calls"))
            c = boto3.client(service, region_name=self.region, config=_UNSIGNED_CONFIG if unsigned else _BOTO_CONFIG)
            c.meta.events.register("before-call.*.*", self._count)
            self._clients[service] = c
        return self._clients[service]

    def _count(self, model=None, **_: Any) -> None:
        if model is not None:
            self.calls.append((model.service_model.service_name, model.name))

    def writes(self, since: int = 0) -> list[tuple[str, str]]:
        return [c for c in self.calls[since:] if not c[1].startswith(READ_PREFIXES)]

    @staticmethod
    def emulates(typ: str, import_id: str | None = None) -> bool:
        """Whether a custom resource of ``typ`` is created in AWS (providers hold no AWS state)."""
        if typ.startswith("pulumi:providers:"):
            return True
        return import_id is None and canonical_type(typ) in HANDLERS

    # -------------------------------------------------------------- operations

    def _note_unread(self, typ: str, name: str, tracked: Tracked) -> None:
        unread = [p for p in tracked.unread() if p.split(".")[0] not in PROVIDER_ONLY]
        if unread:
            self.unconsumed[f"{typ}::{name}"] = unread

    def create(self, args, inputs: dict) -> tuple[str, dict]:
        typ = canonical_type(args.typ)
        tracked = Tracked(inputs)
        with self._lock:
            rid, outputs = HANDLERS[typ](self, args, tracked)
        self._note_unread(args.typ, args.name, tracked)
        return rid, {**inputs, **outputs}

    def update(self, args, inputs: dict, old: Prior, diffs: set[str]) -> dict:
        typ = canonical_type(args.typ)
        tracked = Tracked(inputs)
        with self._lock:
            if typ in UPDATERS:
                outputs = UPDATERS[typ](self, args, tracked, old, diffs)
            elif typ in PUT_STYLE:
                _, outputs = HANDLERS[typ](self, args, tracked)
            else:
                raise NotImplementedError(f"no update handler for {args.typ}")
        if typ in UPDATERS:  # only the changed inputs must be sent on an update
            unread = [p for p in tracked.unread() if p.split(".")[0].split("[")[0] in diffs]
            if unread:
                self.unconsumed[f"{args.typ}::{args.name}"] = unread
        return {**old.outputs, **inputs, **outputs}

    def delete(self, old: Prior) -> None:
        typ = canonical_type(old.type)
        with self._lock:
            if typ in DELETERS:
                DELETERS[typ](self, old)
            else:
                raise NotImplementedError(f"no delete handler for {old.type}")

    # -------------------------------------------------------------- Mocks API

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        typ = args.typ
        if not args.custom and not typ.startswith("pulumi:providers:"):
            return "", {}  # component resource: nothing in AWS
        if typ.startswith("pulumi:providers:"):
            return f"{args.name}-provider", dict(args.inputs)
        inputs = _floats_to_ints(dict(args.inputs))
        if args.resource_id:  # import / read of an existing resource: nothing to create
            self.not_emulated.add((typ, args.name))
            return args.resource_id, inputs
        if canonical_type(typ) not in HANDLERS:
            self.not_emulated.add((typ, args.name))
            return f"{args.name}-{secrets.token_hex(4)}", inputs
        try:
            return self.create(args, inputs)
        except ResourceFailed:
            raise
        except Exception as err:  # noqa: BLE001 - named after its resource, one line
            raise ResourceFailed(f"resource {args.name} ({typ}): {describe_error(err)}") from err

    def call(self, args: pulumi.runtime.MockCallArgs):
        tok = args.token
        fn = INVOKES.get(tok)
        if fn is None:
            self.unknown_invokes.append(tok)
            return {}
        with self._lock:
            return fn(self, _floats_to_ints(dict(args.args or {})))
