"""Stack runs shared by the update-path tests: the shipped stacks, and one edited stack.

``edited`` is dev with every kind of value a user edits changed at once (ports, the
health-check port, ``internal``, sizes, weights, priorities, thresholds, tags, an extra
pool no forward names, automatic rollback). Its moto stays alive for the module's
read-backs; the shipped stacks' runs keep only their recorded registrations.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest

from lbguard.offline.emulator import emulated_aws, run_program
from lbguard.offline.emulator import runner as emulator_runner
from tests.conftest import ROOT, ScratchProject, load_stack

P = "web-tier:"
UBUNTU_AMI = "ami-0c7217cdde317cfec"  # the shipped stacks' AMI: Ubuntu, root device /dev/sda1


def edited_config() -> dict:
    cfg = copy.deepcopy(load_stack("dev")["config"])
    cfg[P + "peakRequestsPerSecond"] = 250.5
    cfg[P + "loadBalancer"].update({"internal": True, "idleTimeoutSeconds": 120})
    blue = cfg[P + "pools"]["blue"]
    blue.update({"port": 8080, "instanceType": "t3.medium", "minSize": 3, "desiredCapacity": 3, "maxSize": 6,
                 "capacityRps": 200, "deregistrationDelaySeconds": 45, "slowStartSeconds": 60,
                 "algorithm": "round_robin", "rootVolumeGib": 30})
    blue["healthCheck"].update({"port": "8081", "path": "/ready", "intervalSeconds": 20, "matcher": "200-299"})
    green = cfg[P + "pools"]["green"]
    green.update({"algorithm": "weighted_random", "anomalyMitigation": True, "deregistrationDelaySeconds": 90})
    cfg[P + "pools"]["spare"] = {"ami": UBUNTU_AMI, "capacityRps": 100, "minSize": 1, "desiredCapacity": 1,
                                 "maxSize": 2, "rootDeviceName": "/dev/sda1"}
    routing = cfg[P + "routing"]
    routing["default"]["forward"]["weights"] = {"blue": 60, "green": 40}
    routing["rules"]["api"].update({"priority": 15})
    routing["rules"]["api"]["forward"]["weights"] = {"blue": 30, "green": 70}
    routing["rules"]["maintenance"].update({"priority": 25})
    routing["rules"]["maintenance"]["fixedResponse"]["messageBody"] = "back soon"
    cfg[P + "observability"] = {"logRetentionDays": 30, "p99LatencySeconds": 3.5, "imbalanceRatio": 3.0}
    cfg[P + "rollback"] = {"automatic": True, "cooldownSeconds": 600}
    cfg[P + "tags"] = {"team": "web", "cost-centre": "42"}
    return cfg


@dataclass
class Applied:
    run: object
    ignore_changes: dict[str, list[str]] = field(default_factory=dict)  # URN -> ignoreChanges as registered

    def one(self, name: str):
        found = [r for r in self.run.resources if r.name == name]
        assert len(found) == 1, [r.urn for r in found]
        return found[0]

    @staticmethod
    def client(service: str):
        return boto3.client(service, region_name="us-east-1")


def _record_ignore_changes(monkeypatch) -> dict[str, list[str]]:
    """The recording monitor keeps no resource options but dependencies; wrap it to keep
    ``ignoreChanges`` as the engine would receive it."""
    seen: dict[str, list[str]] = {}
    monitor_cls = emulator_runner.RecordingMonitor
    original = monitor_cls.RegisterResource

    def register(self, request):
        response = original(self, request)
        seen[self.make_urn(request.parent, request.type, request.name)] = list(request.ignoreChanges)
        return response

    monkeypatch.setattr(monitor_cls, "RegisterResource", register)
    return seen


def _ami_root_devices(monkeypatch, devices: dict[str, str]) -> None:
    """Answer ``getAmi`` as EC2 does for the images named (``rootDeviceName`` by image id);
    the emulator's canned image is Amazon Linux-shaped (/dev/xvda) whatever the filter."""
    mocks_cls = emulator_runner.AwsEmulator
    original = mocks_cls.call

    def call(self, args):
        result = original(self, args)
        if args.token == "aws:ec2/getAmi:getAmi":
            outputs = result[0] if isinstance(result, tuple) else result
            ids = [v for f in args.args.get("filters", []) if f.get("name") == "image-id" for v in f.get("values", [])]
            if ids and ids[0] in devices:
                outputs = {**outputs, "rootDeviceName": devices[ids[0]], "imageId": ids[0], "id": ids[0]}
                result = (outputs, result[1]) if isinstance(result, tuple) else outputs
        return result

    monkeypatch.setattr(mocks_cls, "call", call)


@pytest.fixture(scope="session")
def shipped_runs() -> dict[str, object]:
    """dev, staging and prod as registered (moto discarded after each run)."""
    runs = {}
    for stack in ("dev", "staging", "prod"):
        with emulated_aws("us-east-1"):
            runs[stack] = run_program(ROOT, stack)
    return runs


@pytest.fixture(scope="module")
def edited(shipped_runs, tmp_path_factory):
    """The edited dev stack applied to a fresh moto that stays up for the module."""
    project = ScratchProject(Path(tmp_path_factory.mktemp("edited")) / "project")
    project.write("dev", edited_config())
    with pytest.MonkeyPatch.context() as mp:
        seen = _record_ignore_changes(mp)
        _ami_root_devices(mp, {UBUNTU_AMI: "/dev/sda1"})
        with emulated_aws("us-east-1"):
            yield Applied(run_program(project.path, "dev"), seen)
