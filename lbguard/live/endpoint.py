"""Where a live command goes, and how it got there: endpoint, region, credentials.

Resolved before any AWS call, so that a command can name its target on its first line and
refuse with one line when it has none:

- endpoint: ``--endpoint``, else the environment's ``AWS_ENDPOINT_URL``, else the stack's
  sandbox record (``.lbguard/sandbox-<stack>.json``), else AWS's own endpoints (what botocore
  resolves for the region, a service-specific ``endpoint_url`` of the profile included:
  read from the client botocore builds, which makes no call);
- region: ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, else the sandbox record's when its
  endpoint is the one in use, else the profile's (``AWS_PROFILE`` or default in
  ``~/.aws/config``), else us-east-1;
- credentials: a local emulator takes any, and gets placeholders when none are set (real
  ones are never looked up for it); otherwise botocore's provider chain (environment,
  profile, SSO, container, instance metadata), and none found is an error naming both ways
  out: a local sandbox, or AWS credentials.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from lbguard.core.model import LbguardError
from lbguard.live import state

DEFAULT_REGION = "us-east-1"
PLACEHOLDER_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def is_local(endpoint: str) -> bool:
    host = urlparse(endpoint).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_local(endpoint: str | None, *, stack: str = "dev") -> str:
    """Drills run only against an emulator on this machine."""
    if not endpoint:
        raise LbguardError(f"drills run only against a local emulator and there is none for {stack}: start one with "
                           f"`lbguard sandbox --stack {stack}` (or pass --endpoint / AWS_ENDPOINT_URL)")
    if not is_local(endpoint):
        raise LbguardError(f"drills run only against a local emulator: {endpoint} is not on 127.0.0.0/8, ::1 or localhost")
    return endpoint


@dataclass
class Endpoint:
    url: str | None  # None: AWS's own endpoints
    url_source: str
    region: str
    region_source: str
    credentials: str  # where they come from
    profile: str | None = None  # the AWS profile boto3 uses (None: default / none)
    placeholder_credentials: bool = False  # a local emulator with no credentials set

    @property
    def local(self) -> bool:
        return bool(self.url) and is_local(self.url)

    def session(self):
        import boto3

        if self.placeholder_credentials:
            return boto3.Session(region_name=self.region, **PLACEHOLDER_CREDENTIALS)
        return boto3.Session(region_name=self.region, profile_name=self.profile)

    def describe(self, resolved_url: str | None = None) -> str:
        """``<endpoint> region <r> (endpoint from ..., region from ..., credentials ...)``."""
        where = self.url or (f"AWS {resolved_url}" if resolved_url else "AWS")
        return (f"{where} region {self.region} (endpoint: {self.url_source}; region: {self.region_source}; "
                f"credentials: {self.credentials})")


def _shown(path: Path, project_dir: Path) -> str:
    try:
        return str(path.relative_to(project_dir))
    except ValueError:
        return str(path)


def resolve(project_dir: Path, stack: str, explicit: str | None = None, *, local_only: bool = False) -> Endpoint:
    """Where a live command on ``stack`` goes; raises LbguardError when it has nowhere to go
    (``local_only``: anywhere but an emulator on this machine)."""
    record_path = state.sandbox_file(project_dir, stack)
    record = state.load_sandbox(project_dir, stack) or {}
    record_name = f"sandbox record {_shown(record_path, project_dir)}"
    if explicit:
        url, url_source = explicit, "--endpoint"
    elif os.environ.get("AWS_ENDPOINT_URL"):
        url, url_source = os.environ["AWS_ENDPOINT_URL"], "environment AWS_ENDPOINT_URL"
    elif record.get("endpoint"):
        url, url_source = record["endpoint"], record_name
    else:
        url, url_source = None, f"none set (no --endpoint, no AWS_ENDPOINT_URL, no {record_name})"
    if url and urlparse(url).scheme not in ("http", "https"):
        raise LbguardError(f"endpoint {url} ({url_source}): not an http(s) URL")
    if local_only:
        require_local(url, stack=stack)
    profile = os.environ.get("AWS_PROFILE") or None
    env_region = next(((os.environ[v], f"environment {v}") for v in ("AWS_REGION", "AWS_DEFAULT_REGION")
                       if os.environ.get(v)), None)
    local = bool(url) and is_local(url)
    if env_region:
        region, region_source = env_region
    elif url and url == record.get("endpoint") and record.get("region"):
        region, region_source = record["region"], record_name
    else:
        region, region_source = _profile_region(profile, local)
    if local and not os.environ.get("AWS_ACCESS_KEY_ID"):
        return Endpoint(url, url_source, region, region_source, "placeholders (a local emulator takes any)",
                        profile, placeholder_credentials=True)
    found = _credentials(profile, region)
    if found is None and url:
        raise LbguardError(f"no AWS credentials for {url} ({url_source}): set AWS_PROFILE=NAME, or AWS_ACCESS_KEY_ID "
                           f"and AWS_SECRET_ACCESS_KEY; or work on the local sandbox: `lbguard sandbox --stack {stack}`")
    if found is None:
        raise LbguardError(
            f"nowhere to go for {stack}: no sandbox ({record_name} does not exist) and no AWS credentials; "
            f"either start a local one with `lbguard sandbox --stack {stack}`, or set AWS credentials "
            f"(AWS_PROFILE=NAME, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) to work on AWS")
    return Endpoint(url, url_source, region, region_source, found, profile)


def _profile_region(profile: str | None, local: bool) -> tuple[str, str]:
    if not local:
        import boto3

        try:
            region = boto3.Session(profile_name=profile).region_name
        except Exception as err:  # noqa: BLE001 - botocore's ProfileNotFound and config parse errors
            raise LbguardError(f"AWS_PROFILE={profile}: {err}") from None
        if region:
            return region, f"profile {profile or 'default'} (AWS config file)"
    return DEFAULT_REGION, "default (none configured)"


def _credentials(profile: str | None, region: str) -> str | None:
    """How botocore's provider chain finds credentials (its ``method``), None when it finds none."""
    import boto3

    try:
        creds = boto3.Session(profile_name=profile, region_name=region).get_credentials()
    except Exception as err:  # noqa: BLE001 - ProfileNotFound, a broken config or SSO cache
        raise LbguardError(f"AWS credentials{f' of profile {profile}' if profile else ''}: {err}") from None
    if creds is None:
        return None
    return f"{creds.method}" + (f" (profile {profile})" if profile else "")
