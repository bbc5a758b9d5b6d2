"""Where lbguard keeps its state: SSM parameters per stack, local state files (the sandbox, a drill's record)."""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from lbguard.core.model import LbguardError


# Every SSM parameter lbguard keeps for a stack sits under /<project>/<stack>/routing/. The deploy
# writes "current"; promote "known-good"; a rollback "lock", "journal/<id>" (and "journal/latest"),
# "freeze"; the auto-rollback function "last-auto-rollback" (its cool-down). The Lambda's IAM policy
# (components/known_good.py) is built from the same names.
PARAMETERS = ("current", "known-good", "lock", "freeze", "last-auto-rollback", "journal/latest", "journal/*")


def ssm_name(project: str, stack: str, what: str) -> str:
    """The SSM parameter ``what`` (one of :data:`PARAMETERS`, or ``journal/<id>``) of a stack."""
    if what not in PARAMETERS and not (what.startswith("journal/") and "/" not in what[8:] and what[8:]):
        raise ValueError(f"no lbguard SSM parameter {what!r}")
    return f"/{project}/{stack}/routing/{what}"


STANDARD_LIMIT = 4096  # bytes an SSM Standard parameter holds; Advanced holds 8 KB


# One tier for every write, whatever the snapshot's size. With Intelligent-Tiering SSM
# stores a parameter as Standard while it fits and moves it to Advanced when it must, and
# never back (AWS Systems Manager docs, "Managing parameter tiers"); the provider
# suppresses the tier diff when the program asks for Intelligent-Tiering and forces
# replacement only on Advanced -> Standard (terraform-provider-aws
# internal/service/ssm/parameter.go, CustomizeDiff). A computed Standard/Advanced tier
# replaced the fixed-name parameter (ParameterAlreadyExists) when a snapshot shrank.
SNAPSHOT_TIER = "Intelligent-Tiering"


def encode_snapshot(snapshot: dict) -> tuple[str, str]:
    """(value, tier) for SSM: plain JSON when it fits Standard's 4 KB, else gzip+base64 ("gz:");
    the tier is always :data:`SNAPSHOT_TIER`."""
    text = json.dumps(snapshot, sort_keys=True, separators=(",", ":"))
    if len(text.encode()) <= STANDARD_LIMIT:
        return text, SNAPSHOT_TIER
    packed = "gz:" + base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode()
    return packed, SNAPSHOT_TIER


def decode_snapshot(value: str, where: str) -> dict:
    try:
        if value.startswith("gz:"):
            value = gzip.decompress(base64.b64decode(value[3:])).decode()
        return json.loads(value)
    except (ValueError, OSError):
        raise LbguardError(f"{where}: does not hold a routing snapshot") from None


ADVANCED_LIMIT = 8192  # an Advanced parameter's value, in characters


def put_document(ssm, name: str, doc: dict, description: str = "") -> None:
    """A JSON document of any size: one parameter when it fits (gzip+base64 when large),
    else ``name`` holds ``{"parts": n}`` and the text sits in ``name.part<i>``."""
    value, tier = encode_snapshot(doc)
    if len(value) <= ADVANCED_LIMIT:
        ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True, Tier=tier, Description=description)
        return
    chunks = [value[i:i + ADVANCED_LIMIT] for i in range(0, len(value), ADVANCED_LIMIT)]
    for i, chunk in enumerate(chunks):
        ssm.put_parameter(Name=f"{name}.part{i}", Value=chunk, Type="String", Overwrite=True, Tier="Advanced")
    ssm.put_parameter(Name=name, Value=json.dumps({"parts": len(chunks)}), Type="String", Overwrite=True,
                      Description=description)


def get_document(ssm, name: str) -> dict | None:
    """The document ``put_document`` wrote, None when there is none."""
    try:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None
    head = decode_snapshot(value, f"SSM parameter {name}")
    if isinstance(head, dict) and set(head) == {"parts"} and isinstance(head["parts"], int):
        value = "".join(ssm.get_parameter(Name=f"{name}.part{i}")["Parameter"]["Value"] for i in range(head["parts"]))
        return decode_snapshot(value, f"SSM parameter {name}")
    return head


def who() -> str:
    """Who runs this, for locks, journals and freezes: user@host (the Lambda names itself)."""
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return f"lambda:{os.environ['AWS_LAMBDA_FUNCTION_NAME']}"
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


_ACTIVE_TOKENS: set[str] = set()  # locks this process holds right now


def _holder_gone(held: dict) -> bool:
    """The holder ran on this host and is no longer running: a killed process, or a run in
    this process that ended without releasing (a connection down at the end)."""
    if held.get("host") != socket.gethostname() or not isinstance(held.get("pid"), int):
        return False
    if held["pid"] == os.getpid():
        return held.get("token") not in _ACTIVE_TOKENS
    try:
        os.kill(held["pid"], 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


@dataclass
class Lock:
    """An SSM parameter created with Overwrite=False: creating it is taking the lock.

    The value names the owner, a token, an expiry, host and pid; a lock whose holder is
    gone (expired, or a process on this host that no longer runs) may be taken over. SSM
    has no compare-and-delete, so a takeover re-reads the value right before deleting it
    (the window left is documented in docs/rollback.md)."""

    ssm: object
    name: str
    owner: str
    ttl: float = 300.0
    token: str = ""

    def _held(self) -> dict | None:
        try:
            value = self.ssm.get_parameter(Name=self.name)["Parameter"]["Value"]
        except self.ssm.exceptions.ParameterNotFound:
            return None
        try:
            held = json.loads(value)
            return held if isinstance(held, dict) else {"owner": "?", "expires": 0, "token": value}
        except ValueError:
            return {"owner": "?", "expires": 0, "token": value}

    def acquire(self, wait: float = 0.0, *, sleep=time.sleep, clock=time.time) -> None:
        """Take the lock within ``wait`` seconds or raise LbguardError naming the holder."""
        self.token = uuid.uuid4().hex
        deadline = clock() + wait
        while True:
            value = json.dumps({"owner": self.owner, "token": self.token, "expires": clock() + self.ttl,
                                "host": socket.gethostname(), "pid": os.getpid()})
            _ACTIVE_TOKENS.add(self.token)
            try:
                self.ssm.put_parameter(Name=self.name, Value=value, Type="String", Overwrite=False)
                return
            except self.ssm.exceptions.ParameterAlreadyExists:
                pass
            except BaseException:
                _ACTIVE_TOKENS.discard(self.token)
                raise
            held = self._held()
            if held is None:
                continue  # released between our put and our read
            if held.get("token") == self.token:
                return  # our put landed; its response was lost and the retry found it
            if not isinstance(held.get("expires"), (int, float)) or held["expires"] < clock() or _holder_gone(held):
                if self._held() == held:
                    try:
                        self.ssm.delete_parameter(Name=self.name)
                    except self.ssm.exceptions.ParameterNotFound:
                        pass  # its holder released it in between: already gone is what we wanted
                continue
            if clock() >= deadline:
                _ACTIVE_TOKENS.discard(self.token)
                raise LbguardError(f"another rollback holds the lock {self.name}: {held.get('owner')} until "
                                   f"{time.strftime('%H:%M:%S', time.gmtime(float(held.get('expires', 0))))} UTC; "
                                   f"nothing was changed (retry later or pass a longer --wait)")
            sleep(min(1.0, max(0.05, deadline - clock())))

    def release(self) -> None:
        _ACTIVE_TOKENS.discard(self.token)  # even if the delete below fails: this run is over
        held = self._held()
        if held is not None and held.get("token") == self.token:
            try:
                self.ssm.delete_parameter(Name=self.name)
            except self.ssm.exceptions.ParameterNotFound:
                pass


_STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def state_file(project_dir: Path, kind: str, stack: str) -> Path:
    """``.lbguard/<kind>-<stack>.json`` in the project: the one place lbguard keeps local
    state (the sandbox it runs, a drill to undo)."""
    if not _STACK_NAME.match(stack) or stack in (".", ".."):
        raise LbguardError(f"--stack {stack!r}: a stack name holds only letters, digits, '-', '_' and '.'")
    return Path(project_dir) / ".lbguard" / f"{kind}-{stack}.json"


def load_state_file(path: Path) -> dict | None:
    """The document at ``path``, None when there is none; a damaged file is one line."""
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise LbguardError(f"{path}: unreadable state file ({err}); delete it if what it recorded is gone") from None
    if not isinstance(doc, dict):
        raise LbguardError(f"{path}: not a JSON object; delete it if what it recorded is gone")
    return doc


def save_state_file(path: Path, doc: dict) -> None:
    """Write ``doc`` whole or not at all (a temporary file renamed over the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def sandbox_file(project_dir: Path, stack: str) -> Path:
    return state_file(project_dir, "sandbox", stack)


def load_sandbox(project_dir: Path, stack: str) -> dict | None:
    return load_state_file(sandbox_file(project_dir, stack))


def drill_file(project_dir: Path, stack: str) -> Path:
    """What a drill changed, so that `lbguard drill --undo` can put it back."""
    return state_file(project_dir, "drill", stack)
