"""The dev stack applied once into moto; tests read back what AWS holds through boto3."""

from __future__ import annotations

import boto3
import pytest

from lbguard.offline.emulator import emulated_aws, run_program
from tests.conftest import ROOT

SERVICES = ("s3", "elbv2", "cloudwatch", "sns")


class Applied:
    def __init__(self, run, region: str):
        self.run = run
        self.outputs = run.outputs
        self.c = {s: boto3.client(s, region) for s in SERVICES}
        self.lb = run.outputs["loadBalancerArn"].split(":loadbalancer/")[1]
        self.tgs = {k: v.split(":", 5)[5] for k, v in run.outputs["targetGroupArns"].items()}
        self.topic = run.outputs["alarmTopicArn"]

    def alarm(self, name: str) -> dict:
        found = self.c["cloudwatch"].describe_alarms(AlarmNames=[name])["MetricAlarms"]
        assert len(found) == 1, f"no alarm {name}"
        return found[0]

    def queries(self, name: str) -> dict[str, dict]:
        return {m["Id"]: m for m in self.alarm(name)["Metrics"]}


@pytest.fixture(scope="module")
def dev():
    with emulated_aws("us-east-1"):
        yield Applied(run_program(ROOT, "dev"), "us-east-1")


@pytest.fixture(scope="module")
def prod():
    with emulated_aws("us-east-1"):
        yield Applied(run_program(ROOT, "prod"), "us-east-1")


def dims(d: list[dict]) -> dict[str, str]:
    return {x["Name"]: x["Value"] for x in d}
