"""Alarm topic subscriptions from settings (own module: its own stack in moto)."""

from __future__ import annotations

import boto3

from lbguard.offline.emulator import emulated_aws, run_program


def test_subscriptions_from_settings(scratch):
    cfg = scratch.config("staging")
    cfg["web-tier:observability"] = {"alarmSubscriptions": [
        {"protocol": "email", "endpoint": "oncall@example.com"},
        {"protocol": "https", "endpoint": "https://hooks.example.com/alarms"}]}
    scratch.write("staging", cfg)
    with emulated_aws("us-east-1"):
        run = run_program(scratch.path, "staging")
        subs = boto3.client("sns", "us-east-1").list_subscriptions_by_topic(
            TopicArn=run.outputs["alarmTopicArn"])["Subscriptions"]
    assert sorted((s["Protocol"], s["Endpoint"]) for s in subs) == [
        ("email", "oncall@example.com"), ("https", "https://hooks.example.com/alarms")]
    assert not run.not_emulated
