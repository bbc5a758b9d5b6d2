"""The in-process pack decodes each resource once (lbguard.accel.pack.DecodeOnce) and
answers exactly as pulumi_policy's own decoding, once per policy, does (issue 15)."""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format

from lbguard.offline.policy_runner import InProcessPack, evaluate_with
from tests.policies.conftest import PACK
from tests.policies.fixtures import june_1, preview, web_tier

RUNS = {
    "june_1": june_1,
    "june_1 preview": lambda: preview(june_1()),
    "prod": lambda: web_tier("prod"),
    "dev preview": lambda: preview(web_tier("dev")),
}


def _evaluate(run, *, decode_once: bool, user: dict, dry_run: bool):
    decoded = []
    real = json_format.MessageToDict

    def counting(message, *a, **k):
        decoded.append(1)
        return real(message, *a, **k)

    json_format.MessageToDict = counting
    try:
        with InProcessPack(PACK, project=run.project, stack=run.stack, dry_run=dry_run,
                           decode_once=decode_once) as pack:
            violations = evaluate_with(pack, run, user)
    finally:
        json_format.MessageToDict = real
    return json.dumps([v.to_json() for v in violations], sort_keys=True), len(decoded)


@pytest.mark.parametrize("name", sorted(RUNS))
@pytest.mark.parametrize("user", [{}, {"all": "mandatory"}], ids=["defaults", "all-mandatory"])
def test_same_answers_as_decoding_per_policy(name, user):
    run = RUNS[name]()
    dry_run = "preview" in name
    once, once_decodes = _evaluate(run, decode_once=True, user=user, dry_run=dry_run)
    stock, stock_decodes = _evaluate(run, decode_once=False, user=user, dry_run=dry_run)
    if name.startswith("june_1"):
        assert json.loads(stock), f"{name}: the comparison needs findings to mean anything"
    assert once == stock
    # The stock servicer decodes every resource's outputs again for each of the pack's ten
    # stack policies; decoding once saves nine of the ten per resource.
    assert stock_decodes - once_decodes >= 9 * len(run.resources)
