"""Plain data shared by the emulator, the policy runner and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


# How the Pulumi wire format marks a secret value: {SIG_KEY: SECRET_SIG, "value": ...}.
SIG_KEY, SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


class LbguardError(Exception):
    """An error the CLI reports as one line and exit code 2."""


@dataclass
class RecordedResource:
    """One resource registration, as the engine would see it."""

    urn: str
    type: str  # e.g. "aws:lb/targetGroup:TargetGroup"; "pulumi:pulumi:Stack" for the root
    name: str  # logical name
    custom: bool  # False for component resources and the root stack
    parent: str | None = None  # parent URN
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)  # camelCase, as sent to the engine
    outputs: dict[str, Any] = field(default_factory=dict)  # camelCase, as the provider returns
    id: str | None = None
    provider: str | None = None  # provider reference "urn::id", if any
    emulated: bool = True  # False: a custom resource type the emulator only echoed
    protect: bool = False
    # The program's option, three-state as the SDK sends it (deleteBeforeReplaceDefined): None =
    # unset (the provider decides), True or False = the program overrides the provider.
    delete_before_replace: bool | None = None
    ignore_changes: list[str] = field(default_factory=list)  # property paths (resource option)
    replace_on_changes: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)  # URNs this resource was known by
    # The aliases as the program sent them ({"urn"} or {"name", "type", "parent", "noParent",
    # "stack", "project"}): the engine resolves specs against parents' aliases (lbguard.core.plan.engine).
    alias_specs: list[dict] = field(default_factory=list)
    retain_on_delete: bool = False
    deleted_with: str | None = None
    replace_with: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"urn": self.urn, "type": self.type, "name": self.name, "emulated": self.emulated}


@dataclass
class ProgramRun:
    """The result of running a Pulumi program in the emulator."""

    project: str
    stack: str
    resources: list[RecordedResource]  # registration order; includes the root stack resource
    outputs: dict[str, Any]  # stack outputs, plain JSON values
    secret_outputs: set[str] = field(default_factory=set)

    @property
    def not_emulated(self) -> list[RecordedResource]:
        return [r for r in self.resources if r.custom and not r.emulated]

    def by_type(self, *types: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type in types]


# The engine's policy severities (pulumi analyzer.proto PolicySeverity), most severe first;
# "" = the policy declares none.
SEVERITIES = ("critical", "high", "medium", "low", "")


@dataclass
class Violation:
    policy: str
    enforcement_level: str  # "advisory" | "mandatory" | "remediate" | "disabled"
    message: str
    urn: str = ""
    type: str = ""
    name: str = ""
    severity: str = ""  # one of SEVERITIES

    def to_json(self) -> dict[str, Any]:
        from lbguard.core.names import label

        return {
            "policy": self.policy,
            "enforcementLevel": self.enforcement_level,
            "severity": self.severity,
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "label": label(self.type, self.name) if self.name else "",
            "message": self.message,
        }


def violation_rank(enforcement_level: str, severity: str = "") -> tuple[int, int]:
    """Sort key: mandatory (what blocks) first, then by severity, most severe first."""
    sev = SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)
    return (enforcement_level != "mandatory", sev)
