"""Traffic profiles: what requests a listener actually receives.

A profile is a weighted set of request classes kept per stack beside the stack file
(``stacks/traffic.<stack>.yaml``), written by hand or by ``lbguard profile --from-logs``.
Each class is one kind of request (host, path, method, headers, query, source IP, and
optionally the listener port it arrives on) with a weight: its share of the listener's
requests. Weights are normalised, so counts from access logs can be used as they are.

Format (version 1)::

    version: 1
    peakRequestsPerSecond: 200        # optional: the observed or expected peak
    classes:
      - name: api
        weight: 30                    # or a fraction; normalised per listener port
        host: www.example.com
        path: /api/v1/items
        method: GET                   # default GET
        headers: {X-Canary: "1"}      # optional
        query: {debug: "1"}           # optional
        sourceIp: 203.0.113.7         # optional
        port: 443                     # optional: only this listener (default: every listener)
        count: 12345                  # optional: requests seen (profiles from logs)
    observed: {...}                   # optional, free-form: what the logs showed

This module only reads, validates and writes the file; every share computed from a
profile comes from ``lbguard.core.traffic`` through ``lbguard.core.matching``.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lbguard.core.matching import Request
from lbguard.core.model import LbguardError

VERSION = 1
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}


class RequestClass(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=128, description="unique within the profile")
    weight: float = Field(gt=0, description="relative share of the listener's requests")
    host: str = Field("", max_length=255)
    path: str = Field("/", min_length=1, max_length=2048)
    method: str = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str] = Field(default_factory=dict)
    source_ip: str | None = Field(None, alias="sourceIp")
    port: int | None = Field(None, ge=1, le=65535, description="listener port; default every listener")
    count: int | None = Field(None, ge=0, description="requests seen in the logs")

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError("must start with /")
        return v

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        if v not in METHODS:
            raise ValueError(f"must be one of {', '.join(sorted(METHODS))}")
        return v

    @field_validator("source_ip")
    @classmethod
    def _ip(cls, v: str | None) -> str | None:
        if v is not None:
            ipaddress.ip_address(v)
        return v

    @property
    def request(self) -> Request:
        return Request(host=self.host, path=self.path, method=self.method, headers=dict(self.headers),
                       query=dict(self.query), source_ip=self.source_ip)


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    version: int = Field(VERSION, description="profile format version")
    peak_requests_per_second: float | None = Field(None, gt=0, alias="peakRequestsPerSecond")
    classes: list[RequestClass] = Field(min_length=1)
    observed: dict[str, Any] | None = None

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != VERSION:
            raise ValueError(f"this lbguard reads profile version {VERSION}")
        return v

    @field_validator("classes")
    @classmethod
    def _unique(cls, v: list[RequestClass]) -> list[RequestClass]:
        seen: set[str] = set()
        for c in v:
            if c.name in seen:
                raise ValueError(f"class name {c.name!r} appears twice")
            seen.add(c.name)
        return v

    def for_port(self, port: int | None) -> list[tuple[RequestClass, float]]:
        """The classes reaching a listener on ``port`` with their normalised shares (sum 1)."""
        chosen = [c for c in self.classes if c.port is None or port is None or c.port == port]
        total = sum(c.weight for c in chosen)
        return [(c, c.weight / total) for c in chosen] if total > 0 else []

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


def profile_path(project_dir: Path, stack: str, stack_config_dir: str = "stacks") -> Path:
    return Path(project_dir) / stack_config_dir / f"traffic.{stack}.yaml"


def _first_error(err: ValidationError, where: str) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    got = first.get("input")
    shown = "" if isinstance(got, (dict, list)) else f" (got {got!r})"
    return f"{where}: {loc or 'profile'}: {first['msg']}{shown}"


def parse_profile(doc: Any, where: str = "profile") -> Profile:
    if not isinstance(doc, Mapping):
        raise LbguardError(f"{where}: a profile is a mapping with 'version' and 'classes'")
    try:
        return Profile.model_validate(doc)
    except ValidationError as err:
        raise LbguardError(_first_error(err, where)) from err


def load_profile(path: Path) -> Profile:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise LbguardError(f"{path}: cannot read the traffic profile ({err.__class__.__name__})") from err
    try:
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise LbguardError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}") from err
    return parse_profile(doc, str(path))


def dump_profile(profile: Profile, path: Path) -> None:
    doc = profile.to_json()
    text = json.dumps(doc, indent=2) + "\n" if Path(path).suffix == ".json" else yaml.safe_dump(doc, sort_keys=False)
    Path(path).write_text(text, encoding="utf-8")
