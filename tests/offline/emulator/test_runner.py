"""run_program: registrations and their graph, stack outputs, errors, isolation between runs."""

from __future__ import annotations

import sys
import time

import boto3
import pytest

from lbguard.offline.emulator import emulated_aws, run_program
from lbguard.core.model import LbguardError
from tests.offline.emulator.conftest import PROGRAMS

BEHAVIOUR = PROGRAMS / "behaviour"


def _run(mode: str = "ok", **kw):
    return run_program(BEHAVIOUR, "dev", config_overrides={"mode": mode}, **kw)


def test_records_parent_dependencies_and_property_dependencies():
    with emulated_aws():
        run = _run()
    by_name = {r.name: r for r in run.resources}
    root = run.resources[0]
    assert root.type == "pulumi:pulumi:Stack" and root.urn == \
        "urn:pulumi:dev::emu-behaviour::pulumi:pulumi:Stack::emu-behaviour-dev" and not root.custom
    pool, tg, listener, vpc = by_name["web"], by_name["web-tg"], by_name["http"], by_name["vpc"]
    # Component resource: recorded, custom=False, child of the stack; its target group is its child.
    assert pool.type == "emu:index:Pool" and pool.custom is False and pool.parent == root.urn
    assert pool.urn == "urn:pulumi:dev::emu-behaviour::emu:index:Pool::web"
    assert tg.parent == pool.urn and tg.urn == \
        "urn:pulumi:dev::emu-behaviour::emu:index:Pool$aws:lb/targetGroup:TargetGroup::web-tg"
    # The listener's defaultActions depend on the target group; depends_on adds the VPC.
    assert listener.property_dependencies["defaultActions"] == [tg.urn]
    assert listener.property_dependencies["loadBalancerArn"] == [by_name["lb"].urn]
    assert set(listener.dependencies) == {tg.urn, by_name["lb"].urn, vpc.urn}
    assert listener.custom and listener.emulated
    assert listener.inputs["defaultActions"] == [{"type": "forward", "targetGroupArn": tg.id}]
    assert listener.outputs["arn"] == listener.id == run.outputs["listenerArn"]
    # Registration order: the stack first, the listener after what it depends on.
    order = [r.urn for r in run.resources]
    assert order.index(listener.urn) > max(order.index(tg.urn), order.index(by_name["lb"].urn))


def test_stack_outputs_are_plain_and_do_not_accumulate():
    with emulated_aws():
        first = _run()
        second = _run("other")
    assert set(first.outputs) == set(second.outputs) == {"loaded", "listenerArn", "pool", "mode"}
    tg = next(r for r in first.resources if r.name == "web-tg")
    assert first.outputs["pool"] == {"arn": tg.id, "port": 80}
    assert (first.outputs["mode"], second.outputs["mode"]) == ("ok", "other")
    assert first.outputs["listenerArn"] != second.outputs["listenerArn"]
    # Each run registers its own resources only.
    assert len(first.resources) == len(second.resources)
    assert len({r.urn for r in second.resources}) == len(second.resources)
    assert second.resources[0].outputs == second.outputs


def test_project_modules_are_imported_afresh():
    with emulated_aws():
        first, second = _run(), _run()
    assert first.outputs["loaded"] != second.outputs["loaded"]
    assert "helpers" not in sys.modules
    sys.path.insert(0, str(BEHAVIOUR))
    try:
        import helpers  # noqa: F401 - a stale copy a caller imported must not leak into the run

        with emulated_aws():
            third = _run()
        assert third.outputs["loaded"] != helpers.LOADED
    finally:
        sys.path.remove(str(BEHAVIOUR))
        sys.modules.pop("helpers", None)


def test_exception_inside_apply_is_one_line_with_cause():
    with emulated_aws(), pytest.raises(LbguardError) as err:
        _run("apply-error")
    assert str(err.value) == "program failed: KeyError: 'missing\\nkey'"
    assert "\n" not in str(err.value)
    assert isinstance(err.value.__cause__, KeyError) and err.value.__cause__.__traceback__ is not None


def test_one_line_exception_is_shown_as_is():
    with emulated_aws(), pytest.raises(LbguardError) as err:
        _run("one-line")
    assert str(err.value) == "stacks/Pulumi.dev.yaml: emu-behaviour:mode: not a mode"
    assert type(err.value.__cause__).__name__ == "SettingsError"


def test_api_validation_error_surfaces():
    with emulated_aws(), pytest.raises(LbguardError) as err:
        _run("bad-api-call")
    assert str(err.value).startswith("program failed: resource bad (aws:lb/targetGroup:TargetGroup): "
                                     "ParamValidationError: Parameter validation failed: "
                                     "Invalid value for parameter HealthCheckIntervalSeconds, value: 4")


def test_never_hangs_and_recovers():
    with emulated_aws():
        start = time.monotonic()
        with pytest.raises(LbguardError, match=r"did not settle within 1s"):
            _run("hang", timeout=1)
        assert time.monotonic() - start < 10
        after = _run()  # the runtime is clean again
    assert after.outputs["mode"] == "ok"


def test_runtime_state_is_reset_after_a_failure():
    with emulated_aws():
        with pytest.raises(LbguardError):
            _run("apply-error")
        run = _run()
    assert set(run.outputs) == {"loaded", "listenerArn", "pool", "mode"}
    assert [r.type for r in run.resources].count("pulumi:pulumi:Stack") == 1


def test_missing_stack_is_one_line():
    with pytest.raises(LbguardError) as err:
        run_program(BEHAVIOUR, "nope")
    assert str(err.value) == f"stack 'nope' not found: {BEHAVIOUR / 'stacks' / 'Pulumi.nope.yaml'} does not exist"


def test_cwd_and_sys_path_restored():
    import os

    cwd, path = os.getcwd(), list(sys.path)
    with emulated_aws():
        _run()
        with pytest.raises(LbguardError):
            _run("one-line")
    assert os.getcwd() == cwd and sys.path == path


def test_emulated_aws_sets_and_restores_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "real-looking")
    monkeypatch.setenv("AWS_PROFILE", "prod")
    with emulated_aws("eu-central-1"):
        import os

        # Fake credentials only (moto's own mock_aws swaps in its fakes while active).
        assert os.environ["AWS_ACCESS_KEY_ID"] in ("testing", "FOOBARKEY") and "AWS_PROFILE" not in os.environ
        assert os.environ["AWS_DEFAULT_REGION"] == "eu-central-1"
        assert boto3.client("sts").get_caller_identity()["Account"] == "123456789012"  # moto answers
    assert os.environ["AWS_ACCESS_KEY_ID"] == "real-looking" and os.environ["AWS_PROFILE"] == "prod"
