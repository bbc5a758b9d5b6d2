"""Fixtures for the emulator tests: small raw pulumi_aws programs under programs/."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from lbguard.offline.emulator import emulated_aws, run_program

PROGRAMS = Path(__file__).resolve().parent / "programs"


class Applied:
    """A program run kept with boto3 clients onto the moto that holds its resources."""

    def __init__(self, run, region: str):
        self.run = run
        self.region = region
        self.out = run.outputs

    def client(self, service: str):
        return boto3.client(service, region_name=self.region)

    def resource(self, name: str, kind: str = ""):
        matches = [r for r in self.run.resources if r.name == name and (not kind or r.type.split(":")[-1] == kind)]
        assert len(matches) == 1, [r.urn for r in matches]
        return matches[0]


@pytest.fixture(scope="module")
def web():
    with emulated_aws("us-east-1"):
        yield Applied(run_program(PROGRAMS / "web", "dev"), "us-east-1")


@pytest.fixture(scope="module")
def services():
    with emulated_aws("eu-west-1"):
        yield Applied(run_program(PROGRAMS / "services", "test"), "eu-west-1")
