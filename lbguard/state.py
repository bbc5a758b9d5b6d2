"""Where lbguard keeps its state: SSM parameters per stack, the sandbox's state file."""

from __future__ import annotations

import base64
import gzip
import ipaddress
import json
import os
from pathlib import Path
from urllib.parse import urlparse

from lbguard.model import LbguardError


def current_param(project: str, stack: str) -> str:
    return f"/{project}/{stack}/routing/current"


def known_good_param(project: str, stack: str) -> str:
    return f"/{project}/{stack}/routing/known-good"


def last_auto_rollback_param(project: str, stack: str) -> str:
    return f"/{project}/{stack}/routing/last-auto-rollback"


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


def sandbox_file(project_dir: Path, stack: str) -> Path:
    return Path(project_dir) / ".lbguard" / f"sandbox-{stack}.json"


def load_sandbox(project_dir: Path, stack: str) -> dict | None:
    path = sandbox_file(project_dir, stack)
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def use_endpoint(project_dir: Path, stack: str) -> str | None:
    """The endpoint to talk to: AWS_ENDPOINT_URL, else the sandbox's (exported for boto3)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    sandbox = load_sandbox(project_dir, stack) or {}
    if not endpoint and sandbox.get("endpoint"):
        endpoint = sandbox["endpoint"]
        os.environ["AWS_ENDPOINT_URL"] = endpoint
    if endpoint and is_local(endpoint) and not os.environ.get("AWS_ACCESS_KEY_ID"):
        # A local emulator takes any credentials; never look for real ones.
        os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
        os.environ.setdefault("AWS_DEFAULT_REGION", sandbox.get("region", "us-east-1"))
    return endpoint


def is_local(endpoint: str) -> bool:
    host = urlparse(endpoint).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_local_endpoint(endpoint: str | None) -> str:
    """Drills run only against an emulator on this machine."""
    if not endpoint:
        raise LbguardError("drills run only against a local emulator: AWS_ENDPOINT_URL is not set "
                           "(start one with `lbguard sandbox`)")
    if not is_local(endpoint):
        raise LbguardError(f"drills run only against a local emulator: {endpoint} is not on 127.0.0.0/8, ::1 or localhost")
    return endpoint
