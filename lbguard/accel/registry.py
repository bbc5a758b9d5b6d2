"""Every acceleration lbguard applies to another library, in one table, each gated on the
releases it was verified against and switchable.

An acceleration replaces a private name of moto, botocore, the Pulumi SDK or pulumi_policy
(or relies on one's private behaviour) with something faster that answers the same. Private
names change without notice, so each entry names the distributions and the release range
its equivalence test (``test``) passed on; on any other release it stays off and the first
run says so on stderr, once per process. Nothing here is applied at import: the offline
layer enters a scope (:func:`applied`) around the work that benefits, and everything
installed is restored when the last holder of the scope leaves it. Entries without an
installer are decided at their call site (:func:`active`).

Switches (environment):

* ``LBGUARD_ACCEL=0``: every acceleration off (the libraries' own code throughout).
* ``LBGUARD_ACCEL=force``: on even outside the verified releases (to re-verify; says so).
* ``LBGUARD_ACCEL_OFF=name,name``: those entries off.

docs/internals.md ("Accelerations") has the table and how to re-verify on new releases.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterator

from lbguard.core.model import LbguardError

ENV = "LBGUARD_ACCEL"
ENV_OFF = "LBGUARD_ACCEL_OFF"
DOCS = 'docs/internals.md, "Accelerations"'

Restore = Callable[[], None]


@dataclass(frozen=True)
class Acceleration:
    name: str
    replaces: tuple[str, ...]  # the private names replaced, or relied on (call-site entries)
    verified: tuple[tuple[str, str, str], ...]  # (distribution, lowest, highest release) the test passed on
    scope: str  # "botocore" | "moto" | "program" | "pack" | "call site" | "process"
    test: str  # tests/<file>.py::<function>: the answer equals the library's own
    install: str = ""  # "module:function" returning a Restore; empty: decided at the call site
    saves: str = ""


MOTO = ("moto", "5.2.5", "5.2.6")
BOTOCORE = ("botocore", "1.44.0", "1.44.18")
PULUMI = ("pulumi", "3.231.0", "3.272.0")
PULUMI_POLICY = ("pulumi_policy", "1.21.0", "1.21.0")

REGISTRY: tuple[Acceleration, ...] = (
    Acceleration(
        "botocore-shared-loader", ("botocore.session.Session._register_data_loader",), (BOTOCORE,), "botocore",
        "tests/accel/test_equivalence.py::test_shared_loader_reads_what_a_fresh_loader_reads",
        "lbguard.accel.speed:share_botocore_loaders",
        "one decode of endpoints and service models per data path instead of per Session"),
    # First among moto's: every later installer imports moto.ec2, which imports the module it shapes.
    Acceleration(
        "moto-offerings-on-demand", ("moto.ec2.models.instance_types (module body: load_resource)",), (MOTO,),
        "moto", "tests/accel/test_equivalence.py::test_offerings_on_demand_are_motos_table",
        "lbguard.accel.speed:offerings_on_demand", "0.25 s of reading ~100 region files at moto's import"),
    Acceleration(
        "moto-method-names-once", ("moto.core.responses.method_names_from_class",), (MOTO,), "moto",
        "tests/accel/test_equivalence.py::test_method_names_are_motos_for_every_response_class",
        "lbguard.accel.speed:method_names_once", "inspect.getmembers of a response class on every request"),
    Acceleration(
        "moto-models-shared", ("moto.core.utils._load_service_model",), (MOTO, BOTOCORE), "moto",
        "tests/accel/test_equivalence.py::test_shared_models_are_motos_for_every_service",
        "lbguard.accel.speed:models_shared", "0.4 s: moto decoding service models boto3 already decoded"),
    Acceleration(
        "moto-lazy-kms-keys", ("moto.kms.models.generate_private_key",), (MOTO,), "moto",
        "tests/accel/test_equivalence.py::test_kms_keys_behave_as_motos",
        "lbguard.accel.speed:lazy_kms_keys", "50-70 ms: an RSA key nobody can use, per symmetric KMS key"),
    Acceleration(
        "moto-lookups-by-key",
        ("moto.ec2.models.core.TaggedEC2Resource.get_tags", "moto.ec2.models.instances.InstanceBackend.get_instance",
         "moto.ec2.models.instances.InstanceBackend.get_instance_by_id",
         "moto.ec2.models.elastic_block_store.EBSBackend.describe_volumes",
         "moto.cloudwatch.models.CloudWatchBackend.get_alarms_by_alarm_names",
         "moto.ec2.models.security_groups.SecurityGroupBackend.get_security_group_from_id"), (MOTO,), "moto",
        "tests/offline/emulator/test_speed.py::test_lookups_by_key_answer_as_moto_scans",
        "lbguard.accel.speed:lookups_by_key", "scans of a whole kind per lookup (1.6 s at 2,150 resources)"),
    Acceleration(
        "moto-serializer-keys", ("moto.core.serialize.XFormedAttributePicker.get_possible_keys",), (MOTO,), "moto",
        "tests/offline/emulator/test_speed.py::test_serializer_names_are_motos_own_for_every_member_a_stack_serializes",
        "lbguard.accel.speed:serializer_keys_once", "a sixth of each read-back: alias names asked for again"),
    Acceleration(
        "moto-unsigned-calls", ("moto.core.responses.BaseResponse.get_current_account (no signature read)",),
        (MOTO, BOTOCORE), "call site",
        "tests/accel/test_equivalence.py::test_unsigned_calls_answer_as_signed_ones",
        saves="9% of each emulated call: SigV4 signing moto never checks"),
    Acceleration(
        "pulumi-stack-trace", ("pulumi.runtime.resource._get_stack_trace",), (PULUMI,), "program",
        "tests/offline/emulator/test_speed.py::test_fast_stack_trace_equals_the_sdks_for_every_registration_of_a_program",
        "lbguard.accel.speed:fast_stack_trace", "0.3-0.5 ms per resource: source lines read for a stack trace"),
    Acceleration(
        "pulumi-mock-inputs", ("pulumi.runtime.mocks.MockMonitor.RegisterResource (hands its decoded inputs "
                               "to Mocks.new_resource)",), (PULUMI,), "call site",
        "tests/accel/test_equivalence.py::test_recorded_inputs_are_the_requests_own",
        saves="a second decode of every registration's inputs"),
    Acceleration(
        "pulumi_policy-in-process", ("pulumi_policy.policy.grpc", "pulumi_policy.policy.analyzer_pb2_grpc"),
        (PULUMI_POLICY,), "call site",
        "tests/policies/test_in_process.py::test_same_violations_as_the_subprocess",
        saves="0.35 s wall, 0.8 s CPU: a second interpreter importing pulumi, grpc and the pack"),
    Acceleration(
        "pulumi_policy-decode-once",
        ("pulumi_policy.policy.json_format", "pulumi_policy.policy.deserialize_properties",
         "pulumi_policy.policy.unknown_checking_proxy", "pulumi_policy.policy.signature"), (PULUMI_POLICY,),
        "call site", "tests/policies/test_decode_once.py::test_same_answers_as_decoding_per_policy",
        saves="0.6 s at 470 resources: each resource decoded once per stack policy"),
    Acceleration(
        "gc-pause", ("gc (CPython's public collector switches, no private name)",), (), "process",
        "tests/accel/test_gcpause.py::test_paused_nests_and_restores_the_collector",
        saves="2.0-2.5 s of a cold prod preflight: collections that find no garbage"),
)
BY_NAME = {a.name: a for a in REGISTRY}

_LOCK = threading.RLock()
_DEPTH: Counter = Counter()  # scope -> holders
_RESTORES: dict[str, list[Restore]] = {}
_VERSIONS: dict[str, str | None] = {}
_SAID: set[tuple[int, str]] = set()  # (pid, kind): the notice is said once per process, forked children too
INSTALLS: Counter = Counter()  # name -> times installed in this process
ORIGINALS: dict[str, object] = {}  # "module:Owner.name" -> the library's own object, as first found


# ------------------------------------------------------------------ switches and gates


def mode() -> str:
    """"on" (where verified), "off" or "force", from LBGUARD_ACCEL."""
    value = os.environ.get(ENV, "").strip().lower()
    if value in ("", "1", "on"):
        return "on"
    if value in ("0", "off"):
        return "off"
    if value == "force":
        return "force"
    raise LbguardError(f"{ENV}={os.environ[ENV]}: must be 1 (on where verified), 0 (all off) or force "
                       f"(on outside the verified releases, to re-verify)")


def switched_off() -> set[str]:
    names = {n.strip() for n in os.environ.get(ENV_OFF, "").split(",") if n.strip()}
    unknown = sorted(names - set(BY_NAME))
    if unknown:
        raise LbguardError(f"{ENV_OFF}: no acceleration named {', '.join(unknown)} "
                           f"(known: {', '.join(BY_NAME)})")
    return names


# Where an imported package states its own release (read only if already imported); else
# the installed metadata, whose first lookup scans sys.path (5-10 ms of a cold run).
_STATED = {"moto": ("moto", "__version__"), "botocore": ("botocore", "__version__"),
           "pulumi": ("pulumi._version", "_VERSION"), "pulumi_policy": ("pulumi_policy.version", "VERSION")}


def installed_version(distribution: str) -> str | None:
    """The installed release of ``distribution``, looked up once per process."""
    if distribution not in _VERSIONS:
        module_name, attribute = _STATED.get(distribution, (distribution, "__version__"))
        version = getattr(sys.modules.get(module_name), attribute, None)
        if not isinstance(version, str):
            from importlib import metadata

            try:
                version = metadata.version(distribution)
            except metadata.PackageNotFoundError:
                version = None
        _VERSIONS[distribution] = version
    return _VERSIONS[distribution]


def _release(version: str | None) -> tuple[int, ...] | None:
    """A final release's numbers; None for anything else (pre-, dev-, post- and local releases
    were not verified)."""
    if version is None or not re.fullmatch(r"\d+(\.\d+)*", version):
        return None
    return tuple(int(p) for p in version.split("."))


def within(version: str | None, lowest: str, highest: str) -> bool:
    release = _release(version)
    if release is None:
        return False
    width = max(len(release), 3)
    pad = lambda r: r + (0,) * (width - len(r))  # noqa: E731 - 5.2 is 5.2.0
    return pad(_release(lowest)) <= pad(release) <= pad(_release(highest))


def unverified(acc: Acceleration) -> list[str]:
    """"moto 5.3.0 (verified 5.2.5 to 5.2.6)" for each distribution outside its range."""
    out = []
    for dist, lowest, highest in acc.verified:
        version = installed_version(dist)
        if not within(version, lowest, highest):
            span = lowest if lowest == highest else f"{lowest} to {highest}"
            out.append(f"{dist} {version or 'not installed'} (verified {span})")
    return out


def active(name: str, *, strict: bool = True) -> bool:
    """Whether acceleration ``name`` may run now (switches, then its verified releases).
    A switch set to nonsense raises one line; with ``strict=False`` (callers that run before
    the command line can report it) it counts as off."""
    acc = BY_NAME[name]
    try:
        how = mode()
        off = switched_off()
    except LbguardError:
        if strict:
            raise
        return False
    if how == "off" or name in off:
        return False
    if unverified(acc):
        _say("force" if how == "force" else "off")
        return how == "force"
    return True


def _say(kind: str) -> None:
    """One line on stderr, once per process: which accelerations are off (or forced on) and why."""
    key = (os.getpid(), kind)
    if key in _SAID:
        return
    _SAID.add(key)
    off = switched_off()
    by_reason: dict[str, list[str]] = {}
    for acc in REGISTRY:
        if acc.name not in off:
            for reason in unverified(acc):
                by_reason.setdefault(reason, []).append(acc.name)
    reasons = "; ".join(f"{reason}: {', '.join(names)}" for reason, names in by_reason.items())
    if kind == "force":
        line = (f"lbguard: {ENV}=force: accelerations on outside their verified releases, results unchecked: "
                f"{reasons}")
    else:
        line = (f"lbguard: accelerations off on releases they were not verified on ({reasons}); results are "
                f"the same, runs slower; to re-verify see {DOCS}")
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed stderr must not fail the run
        pass


# ------------------------------------------------------------------ scopes


def _installer(acc: Acceleration) -> Callable[[], Restore]:
    module, _, function = acc.install.partition(":")
    return getattr(importlib.import_module(module), function)


@contextlib.contextmanager
def applied(*scopes: str) -> Iterator[None]:
    """The accelerations of ``scopes`` installed inside the block (those :func:`active` allows),
    restored when the last holder of a scope leaves it (holders nest and may be threads)."""
    entered = []
    try:
        for scope in scopes:
            with _LOCK:
                if _DEPTH[scope] == 0:
                    restores: list[Restore] = []
                    _RESTORES[scope] = restores
                    for acc in REGISTRY:
                        if acc.scope == scope and acc.install and active(acc.name):
                            restores.append(_installer(acc)())
                            INSTALLS[acc.name] += 1
                _DEPTH[scope] += 1
                entered.append(scope)
        yield
    finally:
        for scope in reversed(entered):
            with _LOCK:
                _DEPTH[scope] -= 1
                if _DEPTH[scope] == 0:
                    for restore in reversed(_RESTORES.pop(scope, [])):
                        restore()


def swap(owner, name: str, make: Callable[[object], object]) -> Restore:
    """Replace ``owner.name`` (a module's global or a class's attribute) with ``make(current)``;
    returns what puts the current one back. The library's own object is kept in
    :data:`ORIGINALS` under "module:Owner.name" (tests compare against it)."""
    if isinstance(owner, type):
        key = f"{owner.__module__}:{owner.__qualname__}.{name}"
    else:
        key = f"{owner.__name__}:{name}"
    own = name in vars(owner)
    current = getattr(owner, name)
    ORIGINALS.setdefault(key, current)
    setattr(owner, name, make(current))

    def restore() -> None:
        if own:
            setattr(owner, name, current)
        else:
            delattr(owner, name)  # it was inherited: inherit it again
    return restore


def resolve(dotted: str):
    """The object at a dotted name (``pkg.module.Class.attr``), importing what it must."""
    parts = dotted.split(" ")[0].split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def markdown() -> str:
    """The registry as the table in docs/internals.md ("Accelerations")."""
    rows = ["| name | replaces (or relies on) | verified on | scope | saves | equivalence test |",
            "|---|---|---|---|---|---|"]
    for acc in REGISTRY:
        verified = "; ".join(f"{dist} {lowest}" + ("" if lowest == highest else f" to {highest}")
                             for dist, lowest, highest in acc.verified) or "any release (no private name)"
        replaces = "<br>".join(f"`{name}`" for name in acc.replaces)
        rows.append(f"| `{acc.name}` | {replaces} | {verified} | {acc.scope} | {acc.saves} | `{acc.test}` |")
    return "\n".join(rows)
