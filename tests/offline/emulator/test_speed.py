"""The emulator's accelerations (lbguard/accel/speed.py) change nothing moto or the SDK answers.

The deferred instance-type offerings are compared with moto's own files, read here
directly; symmetric KMS keys (whose unused RSA key is made lazily) still encrypt, and
asymmetric ones still sign; each lookup by key answers as moto's own scan. Each is
installed only inside the emulator's scope (lbguard.accel.registry.applied), so the
comparisons run inside ``emulated_aws``.
"""

from __future__ import annotations

import gzip
import json
from importlib import resources

import boto3

from lbguard.offline.emulator import emulated_aws

from tests.conftest import ROOT


def _moto_offerings(location_type: str, region: str) -> list[dict]:
    raw = (resources.files("moto") / "ec2" / "resources" / "instance_type_offerings" / location_type
           / f"{region}.json.gz").read_bytes()
    return json.loads(gzip.decompress(raw))


def test_deferred_offerings_are_moto_files():
    from moto.ec2.models.instance_types import INSTANCE_TYPE_OFFERINGS

    with emulated_aws("us-east-1"):
        for region in ("us-east-1", "eu-west-2", "ap-southeast-2"):
            ec2 = boto3.client("ec2", region_name=region)
            for location_type in ("region", "availability-zone", "availability-zone-id"):
                got = ec2.describe_instance_type_offerings(LocationType=location_type)["InstanceTypeOfferings"]
                want = _moto_offerings(location_type, region)
                assert len(got) == len(want) > 0
                assert {(o["InstanceType"], o["Location"]) for o in got} == \
                    {(o["InstanceType"], o["Location"]) for o in want}
    # every region moto ships is still listed, and reading them all gives moto's whole table
    table = INSTANCE_TYPE_OFFERINGS["region"]
    assert "us-east-1" in table and len(list(table.items())) >= 20
    assert all(o["LocationType"] == "region" for offers in table.values() for o in offers)


def test_symmetric_kms_key_works_and_asymmetric_keys_sign():
    with emulated_aws("us-east-1"):
        kms = boto3.client("kms", region_name="us-east-1")
        sym = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=sym, Plaintext=b"lbguard")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"lbguard"
        asym = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        sig = kms.sign(KeyId=asym, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
        assert kms.verify(KeyId=asym, Message=b"m", Signature=sig,
                          SigningAlgorithm="RSASSA_PSS_SHA_256")["SignatureValid"]


def test_lookups_by_key_answer_as_moto_scans():
    """Each moto lookup speed.py replaces answers exactly as moto's own scan, on a backend
    with several of each kind (two VPCs, two reservations, tagged and untagged resources),
    for keys that exist, keys that do not, and keys that look like patterns."""
    from moto.cloudwatch.models import CloudWatchBackend, cloudwatch_backends
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.core import TaggedEC2Resource
    from moto.ec2.models.elastic_block_store import EBSBackend
    from moto.ec2.models.instances import InstanceBackend
    from moto.ec2.models.security_groups import SecurityGroupBackend

    from lbguard.accel import speed
    from lbguard.offline.emulator.core import ACCOUNT, DEFAULT_AMI

    def original(owner, name):
        return speed.ORIGINALS[f"{owner.__module__}:{owner.__qualname__}.{name}"]

    with emulated_aws("us-east-1"):
        ec2 = boto3.client("ec2", region_name="us-east-1")
        vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        groups = [ec2.create_security_group(GroupName=f"g{i}", Description="d", **({"VpcId": vpc} if i % 2 else {}))
                  ["GroupId"] for i in range(4)]  # two in the default VPC, two in another
        ec2.create_tags(Resources=groups[:2], Tags=[{"Key": "Name", "Value": "x"}, {"Key": "team", "Value": "web"}])
        instances = []
        for count in (2, 3):
            reservation = ec2.run_instances(ImageId=DEFAULT_AMI, MinCount=count, MaxCount=count,
                                            TagSpecifications=[{"ResourceType": "instance",
                                                                "Tags": [{"Key": "n", "Value": str(count)}]}])
            instances += [i["InstanceId"] for i in reservation["Instances"]]
        volumes = [ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"] for _ in range(3)]
        cw = boto3.client("cloudwatch", region_name="us-east-1")
        for name in ("a", "b", "c*"):
            cw.put_metric_alarm(AlarmName=name, MetricName="m", Namespace="n", Statistic="Sum", Period=60,
                                EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold")

        backend = ec2_backends[ACCOUNT]["us-east-1"]
        resources_ = [backend.get_security_group_from_id(g) for g in groups]
        resources_ += [backend.get_instance(i) for i in instances]
        assert len(resources_) == 9 and all(resources_)
        for res in resources_:
            assert res.get_tags() == original(TaggedEC2Resource, "get_tags")(res)
        assert any(res.get_tags() for res in resources_) and any(not res.get_tags() for res in resources_)

        for iid in instances + ["i-0000000000000000", "i-*"]:
            assert backend.get_instance_by_id(iid) is original(InstanceBackend, "get_instance_by_id")(backend, iid)
            try:
                expected = original(InstanceBackend, "get_instance")(backend, iid)
            except Exception as err:  # noqa: BLE001 - the same error, with the same text
                expected = (type(err), str(err))
            try:
                got = backend.get_instance(iid)
            except Exception as err:  # noqa: BLE001
                got = (type(err), str(err))
            assert got == expected if isinstance(expected, tuple) else got is expected

        for gid in groups + ["sg-00000000", "sg-*"]:
            assert (backend.get_security_group_from_id(gid)
                    is original(SecurityGroupBackend, "get_security_group_from_id")(backend, gid))

        for ids, filters in [([volumes[1]], None), (volumes[:2], None), (None, None),
                             ([volumes[0]], {"size": ["1"]})]:
            assert backend.describe_volumes(ids, filters) == original(EBSBackend, "describe_volumes")(backend, ids, filters)
        for missing in (["vol-00000000"],):
            errors = []
            for fn in (backend.describe_volumes, lambda v, f: original(EBSBackend, "describe_volumes")(backend, v, f)):
                try:
                    fn(missing, None)
                except Exception as err:  # noqa: BLE001
                    errors.append((type(err), str(err)))
            assert len(errors) == 2 and errors[0] == errors[1]

        cw_backend = cloudwatch_backends[ACCOUNT]["us-east-1"]
        for names in (["a"], ["c*"], ["zz"], ["a", "b"], []):
            assert (list(cw_backend.get_alarms_by_alarm_names(names))
                    == list(original(CloudWatchBackend, "get_alarms_by_alarm_names")(cw_backend, names)))


# -- the SDK's per-registration stack trace -------------------------------------------------

class _Base:  # the SDK's shape: Resource <- CustomResource <- the concrete class, each an __init__
    def __init__(self, sample):
        self.traces = sample()


class _Custom(_Base):
    def __init__(self, sample):
        super().__init__(sample)


class _Concrete(_Custom):
    def __init__(self, sample):
        super().__init__(sample)


def _both():
    from pulumi.runtime import resource as sdk

    from lbguard.accel.speed import _fast_stack_trace

    return sdk._get_stack_trace(), _fast_stack_trace()


def _program_frame():  # the "user code" frame the trace starts at
    return _Concrete(_both).traces


def test_fast_stack_trace_equals_the_sdks():
    sdk, fast = _program_frame()
    assert len(sdk.frames) >= 2 and sdk.frames[0].pc.uri.endswith("test_speed.py")
    assert fast == sdk
    # fewer than three constructors on the stack: both give an empty trace
    sdk, fast = _both()
    assert fast == sdk and len(sdk.frames) == 0
    # frames from code without a file or from a relative path carry no position in both
    namespace = {"_Concrete": _Concrete, "_both": _both}
    exec(compile("def f():\n    return _Concrete(_both).traces\n", "<string>", "exec"), namespace)
    exec(compile("def g():\n    return f()\n", "relative/prog.py", "exec"), namespace)
    sdk, fast = namespace["g"]()
    assert fast == sdk
    assert not sdk.frames[0].pc.uri and not sdk.frames[1].pc.uri and sdk.frames[2].pc.uri


def test_fast_stack_trace_equals_the_sdks_for_every_registration_of_a_program():
    """Every resource dev registers: the trace the run sends equals the SDK's own, taken at
    the same frame; the SDK's function is back in place after the run."""

    from pulumi.runtime import resource as sdk

    from lbguard.offline.emulator import run_program
    from lbguard.accel import speed

    original, fast_real, compared = sdk._get_stack_trace, speed._fast_stack_trace, []

    def comparing():
        fast = fast_real()
        compared.append((fast, original()))
        return fast

    speed._fast_stack_trace = comparing  # the installer takes what speed holds when the run starts
    try:
        with emulated_aws():
            run = run_program(ROOT, "dev")
    finally:
        speed._fast_stack_trace = fast_real
    assert len(compared) >= len([r for r in run.resources if r.type != "pulumi:pulumi:Stack"]) > 40
    assert all(fast == want for fast, want in compared)
    assert sum(len(want.frames) for _, want in compared) > 5 * len(compared)
    assert sdk._get_stack_trace is original


def test_serializer_names_are_motos_own_for_every_member_a_stack_serializes():
    """Every member moto's serializer looks up while dev is created and read back: the
    names kept per shape, key and class are the names moto's providers propose."""

    from moto.core.serialize import XFormedAttributePicker

    from lbguard.offline.emulator import run_program
    from lbguard.accel.speed import ORIGINALS

    compared = []
    with emulated_aws():
        original = ORIGINALS["moto.core.serialize:XFormedAttributePicker.get_possible_keys"]
        kept = XFormedAttributePicker.get_possible_keys
        assert kept is not original

        def comparing(self, context):
            want = list(original(self, context))
            got = list(kept(self, context))
            again = list(kept(self, context))  # the second time from what was kept
            compared.append(got == want == again)
            return iter(got)

        XFormedAttributePicker.get_possible_keys = comparing
        try:
            run_program(ROOT, "dev")
        finally:
            XFormedAttributePicker.get_possible_keys = kept
    assert XFormedAttributePicker.get_possible_keys is original  # moto's own again after the scope
    assert len(compared) > 1000 and all(compared)
