"""Where lbguard keeps its state: SSM parameters per stack, the sandbox's state file."""

from __future__ import annotations

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
    if not endpoint:
        sandbox = load_sandbox(project_dir, stack)
        if sandbox and sandbox.get("endpoint"):
            endpoint = sandbox["endpoint"]
            os.environ["AWS_ENDPOINT_URL"] = endpoint
            os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
            os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
            os.environ.setdefault("AWS_DEFAULT_REGION", sandbox.get("region", "us-east-1"))
    return endpoint


def require_local_endpoint(endpoint: str | None) -> str:
    """Drills run only against an emulator on this machine."""
    if not endpoint:
        raise LbguardError("drills run only against a local emulator: AWS_ENDPOINT_URL is not set "
                           "(start one with `lbguard sandbox`)")
    host = urlparse(endpoint).hostname or ""
    try:
        local = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    if not local:
        raise LbguardError(f"drills run only against a local emulator: {endpoint} is not on 127.0.0.0/8, ::1 or localhost")
    return endpoint
