"""The emulator's accelerations of botocore, moto and the Pulumi SDK: each an installer that
returns what restores it, listed with its verified releases in :mod:`lbguard.accel.registry`
and installed only inside a scope the offline layer enters (``registry.applied``).

Measured on prod (issue 15): botocore builds one data loader per ``Session``; moto's EC2
backend creates three sessions for its region list, ``mock_aws`` resets boto3's default
session on every start, and each new loader decodes ``endpoints.json`` and the service
models again (:func:`share_botocore_loaders`). moto reads ~100 region files of instance-type
offerings at import (:func:`offerings_on_demand`), lists a response class's methods on every
request (:func:`method_names_once`), decodes service models boto3 already decoded
(:func:`models_shared`), makes an RSA key for every symmetric KMS key
(:func:`lazy_kms_keys`), scans a whole kind to find one object by its key
(:func:`lookups_by_key`) and asks every alias provider again for every serialized member
(:func:`serializer_keys_once`). The Pulumi SDK reads source lines from disk for the stack
trace it sends with every registration (:func:`fast_stack_trace`).

Caches an installer fills live at module level, so a forked worker child starts with what
its parent's warm-up filled; they hold only what the library itself would compute.

Not an acceleration: the emulator's image list (``images``, moto's documented
``MOTO_AMIS_PATH`` switch, set by ``lbguard.offline.emulator``): it changes what
``describe_images`` answers, so it is the emulator's data, on whatever the switches say.
"""

from __future__ import annotations

import importlib.abc
import json
import os
import sys
import threading
from functools import cache
from pathlib import Path

from lbguard.accel.registry import ORIGINALS, Restore, swap

__all__ = ["ORIGINALS", "IMAGES_FILE", "images", "shared_loader"]

IMAGES_FILE = Path(__file__).resolve().parents[1] / "offline" / "emulator" / "data" / "images.json"

_LOADERS: dict = {}
_LOADERS_LOCK = threading.Lock()


class _UniquePaths(list):
    """A loader's search paths: boto3 appends its resource path once per Session."""

    def append(self, item) -> None:  # noqa: D401
        if item not in self:
            super().append(item)


def _shared_loader(session):
    return shared_loader(session.get_config_variable("data_path"))


def shared_loader(path: str | None = None):
    """The one botocore data loader for ``path`` (botocore's ``AWS_DATA_PATH``)."""
    from botocore.loaders import create_loader

    with _LOADERS_LOCK:
        loader = _LOADERS.get(path)
        if loader is None:
            loader = create_loader(path)
            loader._search_paths = _UniquePaths(loader._search_paths)
            _LOADERS[path] = loader
        return loader


def share_botocore_loaders() -> Restore:
    """Every botocore ``Session`` created meanwhile uses the one loader of its data path.

    botocore 1.44 ``botocore/session.py`` ``Session._register_data_loader`` registers
    ``lambda: create_loader(self.get_config_variable('data_path'))``; this registers the
    same call through :func:`shared_loader`. A loader only reads installed JSON and caches
    it by service, type and API version, so a shared one returns what a fresh one decodes,
    with one exception: botocore 1.44 ``botocore/regions.py`` ``EndpointResolver._resolve``
    writes each resolved endpoint's keys into the loaded ``endpoints`` data (botocore does so
    within a session too), and a FIPS or dual-stack lookup after a plain one of the same
    endpoint then answers differently (an SQS dual-stack endpoint's ``sslCommonName``).
    Shared across sessions that would cross sessions; the emulator never asks for a variant
    (``emulated_aws`` clears ``AWS_USE_FIPS_ENDPOINT`` and ``AWS_USE_DUALSTACK_ENDPOINT`` and
    reads no config file), so every lookup in the scope answers as with a fresh loader
    (tests/accel/test_equivalence.py)."""
    from botocore.session import Session

    def make(_original):
        def _register_data_loader(self) -> None:
            self._components.lazy_register_component("data_loader", lambda: _shared_loader(self))
        return _register_data_loader

    return swap(Session, "_register_data_loader", make)


def offerings_on_demand() -> Restore:
    """While moto's ``moto.ec2.models.instance_types`` is first imported, its per-region offering
    files are noted instead of read (:func:`_deferred_offerings`). Restoring removes the import
    hook; a module imported under it keeps its table, which reads each region on first use and
    answers what moto's own table holds."""
    if "moto.ec2.models.instance_types" in sys.modules:
        return lambda: None
    finder = _OnImport("moto.ec2.models.instance_types", _deferred_offerings)
    sys.meta_path.insert(0, finder)

    def restore() -> None:
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)
    return restore


class _OnImport(importlib.abc.MetaPathFinder):
    """Runs ``around(execute, module)`` in place of the named module's execution."""

    def __init__(self, name: str, around):
        self.name, self.around = name, around

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        execute, around = spec.loader.exec_module, self.around
        spec.loader.exec_module = lambda module: around(execute, module)
        return spec


class _Offerings(dict):
    """moto's instance-type offerings of one location type, by region, each region's file
    read when a region is first asked for (moto reads all ~100 files at import: 0.2 s)."""

    def __init__(self, location_type: str, files: dict[str, str], load):
        super().__init__({region: None for region in files})
        self._location_type, self._files, self._load = location_type, dict(files), load
        self._lock = threading.Lock()

    def _fill(self, region) -> None:
        with self._lock:
            path = self._files.pop(region, None)
            if path is not None:
                offerings = self._load(path)
                for offering in offerings:
                    offering["LocationType"] = self._location_type  # as moto's loop sets it
                dict.__setitem__(self, region, offerings)

    def __getitem__(self, region):
        self._fill(region)
        return dict.__getitem__(self, region)

    def get(self, region, default=None):
        self._fill(region)
        value = dict.get(self, region, default)
        return default if value is None else value

    def _fill_all(self) -> None:
        for region in list(self._files):
            self._fill(region)

    def values(self):
        self._fill_all()
        return dict.values(self)

    def items(self):
        self._fill_all()
        return dict.items(self)


def _deferred_offerings(execute, module) -> None:
    """Execute ``moto.ec2.models.instance_types`` with its per-region offering files noted
    instead of read; its table then reads each region's file on first use."""
    from moto.utilities import utils

    load = utils.load_resource
    files: dict[str, dict[str, str]] = {}

    def noting(resource: str):
        parts = resource.replace(os.sep, "/").split("/")
        if "instance_type_offerings" in parts and len(parts) >= 2:
            files.setdefault(parts[-2], {})[parts[-1].split(".")[0]] = resource
            return []
        return load(resource)

    utils.load_resource = noting
    try:
        execute(module)
    finally:
        utils.load_resource = load
    module.load_resource = load
    table = module.INSTANCE_TYPE_OFFERINGS
    for location_type, by_region in files.items():
        table[location_type] = _Offerings(location_type, by_region, load)


@cache
def images() -> dict[str, dict]:
    """The emulator's public images by id (moto's format)."""
    return {img["ami_id"]: img for img in json.loads(IMAGES_FILE.read_text())}


_METHOD_NAMES: dict = {}  # response class -> its method names (a class's functions do not change)


def method_names_once() -> Restore:
    """moto's dispatcher lists a response class's methods with ``inspect.getmembers`` on every
    request (``moto/core/responses.py`` ``BaseResponse.call_action`` through
    ``method_names_from_class``, moto 5.2): 0.3 s of prod's 171 calls. Computed once per class."""
    from moto.core import responses

    def make(original):
        def method_names_from_class(clazz) -> list[str]:
            names = _METHOD_NAMES.get(clazz)
            if names is None:
                names = _METHOD_NAMES[clazz] = tuple(original(clazz))
            return list(names)
        return method_names_from_class

    return swap(responses, "method_names_from_class", make)


# moto's lookups that scan every object of a kind to find one by its key, replaced by
# the same answer without the scan (tests/offline/emulator/test_speed.py compares each with the
# original on the same backend). Each scan is per call, so a stack's cost per resource grew
# with its size: at 2,150 resources, 587 tag reads walked every tag in the region (1.6 s
# of the emulator's 27 s under the profiler), 1,668 instance lookups copied every
# reservation, and each alarm and volume read-back filtered all alarms or volumes.
def lookups_by_key() -> Restore:
    from moto.cloudwatch.models import CloudWatchBackend
    from moto.ec2.models.core import TaggedEC2Resource
    from moto.ec2.models.elastic_block_store import EBSBackend
    from moto.ec2.models.instances import InstanceBackend
    from moto.ec2.models.security_groups import SecurityGroupBackend
    from moto.ec2.models.tags import EC2_PREFIX_TO_RESOURCE, get_prefix

    def get_tags(original):
        def fast(self):
            rid = self.id
            # describe_tags matches the id as an fnmatch pattern, anchored: without pattern
            # characters that is equality, so the resource's own tag map is the answer.
            if not rid or any(c in rid for c in "*?[]\\"):
                return original(self)
            tags = self.ec2_backend.tags.get(rid)
            if not tags:
                return []
            kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(rid), "")
            return [{"resource_id": rid, "key": k, "value": v, "resource_type": kind} for k, v in tags.items()]
        return fast

    def instance_by_id(original):
        def fast(self, instance_id):
            for reservation in self.reservations.values():  # all_reservations() without its copies
                for instance in reservation.instances:
                    if instance.id == instance_id:
                        return instance
            return original(self, instance_id)  # not there: moto's own answer (None, or its error)
        return fast

    def describe_volumes(original):
        def fast(self, volume_ids=None, filters=None):
            if volume_ids and len(volume_ids) == 1 and not filters and volume_ids[0] in self.volumes:
                return [self.volumes[volume_ids[0]]]
            return original(self, volume_ids, filters)
        return fast

    def alarms_by_names(original):
        def fast(self, alarm_names):
            if len(alarm_names) == 1:
                alarm = self.alarms.get(alarm_names[0])
                return [alarm] if alarm is not None and alarm.name == alarm_names[0] else original(self, alarm_names)
            return original(self, alarm_names)
        return fast

    def group_from_id(original):
        def fast(self, group_id):
            for by_id in self.groups.values():
                group = by_id.get(group_id)
                if group is not None and group.id == group_id:
                    return group
            return original(self, group_id)
        return fast

    return _all(swap(TaggedEC2Resource, "get_tags", get_tags),
                swap(InstanceBackend, "get_instance", instance_by_id),
                swap(InstanceBackend, "get_instance_by_id", instance_by_id),
                swap(EBSBackend, "describe_volumes", describe_volumes),
                swap(CloudWatchBackend, "get_alarms_by_alarm_names", alarms_by_names),
                swap(SecurityGroupBackend, "get_security_group_from_id", group_from_id))


def _all(*restores: Restore) -> Restore:
    def restore() -> None:
        for one in reversed(restores):
            one()
    return restore


def serializer_keys_once() -> Restore:
    """moto's response serializer finds each member's value on the model object by trying
    the names its alias providers propose; it asks every provider again for every member of
    every object of every response (a third of an Auto Scaling group's read-back went to
    serializing it, half of that to these names). The names depend only on the member's
    shape (and the parent moto hangs on it), its key, the object's class and that class's
    ``Meta`` aliases, so they are kept per those. An object that carries its own ``Meta``
    or answers attributes dynamically (``__getattr__``) is asked each time, as is any case
    where asking every provider up front raises (moto stops at the first name that has a
    value). tests/offline/emulator/test_speed.py compares the names with moto's on every member a
    stack's responses serialize."""
    from moto.core.serialize import XFormedAttributePicker

    def keys_once(original):
        cache = _SERIALIZER_KEYS

        def get_possible_keys(self, context):
            obj, shape = context.obj, context.shape
            cls = obj.__class__
            if getattr(cls, "__getattr__", None) is not None or "Meta" in getattr(obj, "__dict__", ()):
                return original(self, context)
            parent = getattr(shape, "parent", None)
            key = (type(self), tuple(self.alias_providers), cls, context.key, id(shape), id(parent))
            hit = cache.get(key)
            if hit is not None and hit[0] is shape and hit[1] is parent:
                return iter(hit[2])
            try:
                names = tuple(original(self, context))
            except Exception:  # noqa: BLE001 - moto's lazy order decides then
                return original(self, context)
            cache[key] = (shape, parent, names)
            return iter(names)

        return get_possible_keys

    return swap(XFormedAttributePicker, "get_possible_keys", keys_once)


_SERIALIZER_KEYS: dict = {}


_REWRITTEN_BY_BOTOCORE = {"s3", "s3control"}


def models_shared() -> Restore:
    """moto reads each service's model again (its own loader, so that its ``moto-extras``
    files can amend it): 0.4 s for the ten services a stack uses. moto 5.2
    ``moto/core/loaders.py``: its ``Loader`` is botocore's with moto's directory as an extra
    search path and ``BUILTIN_EXTRAS_TYPES = ["moto"]`` where botocore's is ``["sdk"]``. So
    where neither moto ships a file for the model (an extras file or a whole one) nor
    botocore an ``sdk-extras`` file (botocore 1.44 ``botocore/loaders.py``
    ``Loader.load_service_model`` applies the extras of its ``BUILTIN_EXTRAS_TYPES``), both decode the
    same file, and the model boto3's clients already decoded is handed to moto. Elsewhere
    (EC2's service and paginators, Auto Scaling's, Lambda's paginators...) moto's own path.

    Also moto's own path: the models botocore's handlers rewrite in place on first use of an
    operation (botocore 1.44 ``botocore/handlers.py``: ``remove_bucket_from_url_paths_from_model``
    on ``before-parameter-build.s3``, ``remove_accid_host_prefix_from_model`` on
    ``before-parameter-build.s3-control``). Shared, moto would route S3 requests by botocore's
    rewritten ``requestUri`` (moto 5.2 ``moto/core/model.py`` ``HTTPTrait.from_model``). moto
    5.2 ships extras for both, so this only matters on a release that drops them."""
    from botocore.loaders import Loader
    from moto.core import loaders, utils

    moto_root, botocore_root = Path(loaders.moto_root), Path(Loader.BUILTIN_DATA_PATH)

    @cache
    def same_file(service_name: str, model_name: str) -> bool:
        if service_name in _REWRITTEN_BY_BOTOCORE:
            return False
        moto_dir = moto_root / service_name.replace("-", "")
        if moto_dir.is_dir() and any(moto_dir.glob(f"*/{model_name}.*")):
            return False
        return not any((botocore_root / service_name).glob(f"*/{model_name}.sdk-extras.json*"))

    def make(original):
        def load_service_model(service_name: str, model_name: str):
            if not same_file(service_name, model_name):
                return original(service_name, model_name)
            return shared_loader(None).load_service_model(service_name, model_name)
        return load_service_model

    return swap(utils, "_load_service_model", make)


class _LazyPrivateKey:
    """moto's stand-in private key of a symmetric KMS key, made on first use."""

    def __init__(self, make, key_spec: str):
        self._make, self._key_spec, self._key = make, key_spec, None

    def __getattr__(self, name: str):
        state = self.__dict__
        if "_make" not in state or name.startswith("__"):  # copying or pickling before __init__
            raise AttributeError(name)
        if state["_key"] is None:
            state["_key"] = state["_make"](state["_key_spec"])
        return getattr(state["_key"], name)


def lazy_kms_keys() -> Restore:
    """moto gives every KMS key an RSA-2048 private key, symmetric ones included (its
    ``generate_private_key`` falls through to RSA); KMS cannot sign or export a public key
    with a symmetric key, so that key is only made if something asks for it. EC2 creates
    such a key (the default EBS encryption key) on the first encrypted volume: 50-70 ms."""
    from moto.kms import models

    def make(original):
        def generate_private_key(key_spec: str):
            if key_spec == "SYMMETRIC_DEFAULT":
                return _LazyPrivateKey(original, key_spec)
            return original(key_spec)
        return generate_private_key

    return swap(models, "generate_private_key", make)


# ------------------------------------------------------------------ the Pulumi SDK

def _fast_stack_trace():
    """What ``pulumi.runtime.resource._get_stack_trace`` returns, without its cost.

    The SDK sends every registration the stack of the program frames that made it
    (``traceback.extract_stack``, which reads each frame's source line from disk through
    linecache, then a ``pathlib`` URI per frame): 0.3-0.5 ms of each resource on prod.
    This walks the same frames without reading source lines and keeps each file's URI and
    each (file, line) frame message once; the message is equal to the SDK's
    (tests/offline/emulator/test_speed.py compares them on the same stack).
    """
    from pulumi.runtime.proto import source_pb2

    frames: list[tuple[str, int | None]] = []
    seen_inits = 0
    frame = sys._getframe(1)
    found = False
    while frame is not None:
        code = frame.f_code
        if not found:
            # The SDK's rule: from the newest frame, the third __init__ is the concrete
            # resource's constructor; the frames older than it are the program's.
            if code.co_name == "__init__":
                seen_inits += 1
                found = seen_inits == 3
        else:
            frames.append((code.co_filename, frame.f_lineno))
        frame = frame.f_back
    if not found or not frames:
        return source_pb2.StackTrace()
    return source_pb2.StackTrace(frames=[_stack_frame(file, line) for file, line in frames])


@cache
def _stack_frame(filename: str, lineno: int | None):
    from pulumi.runtime.proto import source_pb2

    if filename == "" or lineno is None:
        return source_pb2.StackFrame(pc=None)
    try:
        uri = Path(filename).as_uri()
    except BaseException:  # noqa: BLE001 - as the SDK: no position for a path it cannot express
        return source_pb2.StackFrame(pc=None)
    return source_pb2.StackFrame(pc=source_pb2.SourcePosition(uri=uri, line=lineno))


def fast_stack_trace() -> Restore:
    """During an emulated program run: the SDK's per-registration stack trace from
    :func:`_fast_stack_trace` (what this module holds at install time)."""
    from pulumi.runtime import resource

    return swap(resource, "_get_stack_trace", lambda _original: _fast_stack_trace)
