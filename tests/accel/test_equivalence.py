"""Each acceleration answers as the library's own code on real inputs (lbguard.accel.registry
names the test of each; tests/offline/emulator/test_speed.py and tests/policies hold the others).

These run in the default suite on the locked releases, and in a scratch venv on the newest
releases with ``LBGUARD_ACCEL=force`` (tests/accel/test_upstream.py, marker ``upstream``).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import boto3
import botocore

from lbguard.accel.registry import ORIGINALS, applied
from lbguard.offline.emulator import emulated_aws

from tests.conftest import ROOT

# The services the emulator's handlers call (lbguard/offline/emulator/services).
SERVICES = ("ec2", "elbv2", "autoscaling", "cloudwatch", "s3", "iam", "sns", "lambda", "ssm", "sts", "kms", "acm",
            "sqs")


def _fresh_loader():
    from botocore.session import Session

    assert Session._register_data_loader is ORIGINALS.get("botocore.session:Session._register_data_loader",
                                                         Session._register_data_loader)
    return boto3.session.Session(region_name="us-east-1")._session.get_component("data_loader")


def test_shared_loader_reads_what_a_fresh_loader_reads(tmp_path, monkeypatch):
    """Sessions made under the acceleration share one loader per data path; it searches the
    paths a fresh boto3 session's loader searches (boto3 adds its own once per Session, not
    once per Session sharing it) and decodes the same models, endpoints and partitions; a
    data path of the user's own (AWS_DATA_PATH) is honoured, with its own loader."""
    data = tmp_path / "data"
    model = {"version": "2.0", "metadata": {"apiVersion": "2024-01-01", "endpointPrefix": "lbguardtest",
                                            "protocol": "json", "serviceId": "lbguardtest"},
             "operations": {}, "shapes": {}}
    (data / "lbguardtest" / "2024-01-01").mkdir(parents=True)
    (data / "lbguardtest" / "2024-01-01" / "service-2.json").write_text(json.dumps(model))
    shared_by_path = []
    for data_path in (None, str(data)):
        if data_path:
            monkeypatch.setenv("AWS_DATA_PATH", data_path)
        fresh = _fresh_loader()
        with applied("botocore"):
            first, second = (boto3.session.Session(region_name=r)._session.get_component("data_loader")
                             for r in ("us-east-1", "eu-west-1"))
        assert first is second and first is not fresh
        shared_by_path.append(first)
        again = _fresh_loader()
        assert list(first.search_paths) == list(fresh.search_paths) == list(again.search_paths)
        for name in ("partitions", "_retry", "sdk-default-configuration"):
            assert first.load_data(name) == fresh.load_data(name)
        assert _endpoints(first) == _endpoints(fresh)
        if data_path:
            assert first.load_service_model("lbguardtest", "service-2") == model
        else:
            for service in SERVICES:
                for kind in ("service-2", "paginators-1", "waiters-2"):
                    try:
                        want = _as_used(service, kind, fresh.load_service_model(service, kind))
                    except Exception as err:  # noqa: BLE001 - the same failure (no waiters for some)
                        want = type(err)
                    try:
                        got = _as_used(service, kind, first.load_service_model(service, kind))
                    except Exception as err:  # noqa: BLE001
                        got = type(err)
                    assert got == want, f"{service} {kind}"
    assert shared_by_path[0] is not shared_by_path[1]


def _as_used(service: str, kind: str, model: dict) -> dict:
    """A model as a client uses it: S3's operations after botocore's own in-place rewrite,
    which its first call of each operation makes (botocore 1.44 ``botocore/handlers.py``
    ``remove_bucket_from_url_paths_from_model``; idempotent). A shared loader may hand out a
    model another session's client has already rewritten; a fresh one, the file's."""
    if service != "s3" or kind != "service-2":
        return model
    from botocore.handlers import remove_bucket_from_url_paths_from_model
    from botocore.model import ServiceModel

    used = ServiceModel(copy.deepcopy(model), service)
    for name in used.operation_names:
        remove_bucket_from_url_paths_from_model(params={}, model=used.operation_model(name), context={})
    return used._service_description


def _endpoints(loader) -> dict:
    """Every endpoint the emulator's clients can resolve (no FIPS or dual-stack variant:
    emulated_aws clears those switches), resolved with ``loader``'s endpoint data, for every
    service in each region of the first partitions."""
    from botocore.regions import EndpointResolver

    resolver = EndpointResolver(loader.load_data("endpoints"))
    out = {}
    for region in ("us-east-1", "eu-west-1", "us-gov-west-1", "cn-north-1"):
        for service in SERVICES + ("monitoring", "elasticloadbalancing"):
            out[(service, region)] = resolver.construct_endpoint(service, region)
    return out


def test_the_emulator_asks_for_no_endpoint_variant(monkeypatch):
    monkeypatch.setenv("AWS_USE_FIPS_ENDPOINT", "true")
    monkeypatch.setenv("AWS_USE_DUALSTACK_ENDPOINT", "true")
    from lbguard.offline.emulator.core import AwsEmulator

    with emulated_aws("us-east-1"):
        client = AwsEmulator("us-east-1").client("sqs")
        assert "AWS_USE_FIPS_ENDPOINT" not in os.environ and "AWS_USE_DUALSTACK_ENDPOINT" not in os.environ
        assert client.meta.endpoint_url == "https://sqs.us-east-1.amazonaws.com"
    assert os.environ["AWS_USE_FIPS_ENDPOINT"] == "true"


def _response_classes():
    from moto.core.responses import BaseResponse

    for service in SERVICES:
        __import__(f"moto.{'awslambda' if service == 'lambda' else service}.responses")
    seen, todo = [], [BaseResponse]
    while todo:
        cls = todo.pop()
        seen.append(cls)
        todo.extend(cls.__subclasses__())
    return seen


def test_method_names_are_motos_for_every_response_class():
    """moto's dispatcher gets a fresh list equal to moto's own for every response class, the
    first time and from the cache after (a caller changing the list changes nothing kept)."""
    from moto.core import responses

    with emulated_aws():
        original = ORIGINALS["moto.core.responses:method_names_from_class"]
        assert responses.method_names_from_class is not original
        classes = _response_classes()
        assert len(classes) > 15
        for cls in classes:
            want = original(cls)
            first = responses.method_names_from_class(cls)
            first.append("not_a_method")
            assert responses.method_names_from_class(cls) == want and isinstance(want, list)
    assert responses.method_names_from_class is original


def _log_bucket_calls() -> None:
    """The S3 calls the emulator makes for a stack's access-log bucket."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="lbguard-logs")
    s3.put_bucket_encryption(Bucket="lbguard-logs", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3.put_public_access_block(Bucket="lbguard-logs", PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_tagging(Bucket="lbguard-logs", Tagging={"TagSet": [{"Key": "team", "Value": "web"}]})
    assert s3.get_bucket_tagging(Bucket="lbguard-logs")["TagSet"] == [{"Key": "team", "Value": "web"}]


def test_shared_models_are_motos_for_every_service():
    """moto's model of every service the emulator calls, and of every service for which moto
    ships amendments (``*.moto-extras.json``), is the one moto's own loader returns, also
    after S3 calls (botocore rewrites S3's operations in place on first use)."""
    from moto.core import loaders, utils

    extras = sorted({p.parent.parent.name for p in Path(loaders.moto_root).glob("*/*/*.moto-extras.json*")})
    assert "ec2" in extras
    with emulated_aws():
        _log_bucket_calls()  # botocore rewrites S3's operations in place on their first use
        original = ORIGINALS["moto.core.utils:_load_service_model"]
        assert utils._load_service_model is not original
        for service in sorted(set(SERVICES) | set(extras)):
            for kind in ("service-2", "paginators-1"):
                try:
                    want = original(service, kind)
                except Exception as err:  # noqa: BLE001 - the same failure, whatever it is
                    want = type(err)
                try:
                    got = utils._load_service_model(service, kind)
                except Exception as err:  # noqa: BLE001
                    got = type(err)
                assert got == want, f"{service} {kind}"
    assert utils._load_service_model is original


def test_kms_keys_behave_as_motos():
    """Only a symmetric key's stand-in RSA key is made lazily, and it becomes moto's own key
    (same class and size) when used; every other key spec gets moto's key at once. Through the
    API: symmetric keys encrypt and decrypt, asymmetric ones sign and verify."""
    from moto.kms import models
    from moto.kms.utils import KeySpec

    from lbguard.accel.speed import _LazyPrivateKey

    with emulated_aws("us-east-1"):
        original = ORIGINALS["moto.kms.models:generate_private_key"]
        for spec in KeySpec.key_specs():
            if spec in ("SM2", "RSA_3072", "RSA_4096") or spec.startswith("HMAC"):
                continue  # China-only, and seconds of key generation for what RSA_2048 shows
            got, want = models.generate_private_key(spec), original(spec)
            if spec == "SYMMETRIC_DEFAULT":
                assert isinstance(got, _LazyPrivateKey)
                assert got.key_size == want.key_size
                assert type(got.__dict__["_key"]) is type(want)
                assert got.private_key.key_size == want.private_key.key_size
            else:
                assert type(got) is type(want) and not isinstance(got, _LazyPrivateKey)

        kms = boto3.client("kms", region_name="us-east-1")
        sym = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=sym, Plaintext=b"lbguard")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"lbguard"
        asym = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        sig = kms.sign(KeyId=asym, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
        assert kms.verify(KeyId=asym, Message=b"m", Signature=sig, SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"]
    assert models.generate_private_key is original


def _answers(client_for) -> dict:
    """One answer per service, each naming whose account or identity moto took the call for."""
    out = {}
    sts = client_for("sts")
    out["sts"] = sts.get_caller_identity()["Arn"]
    ec2 = client_for("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]
    group = ec2.create_security_group(GroupName=f"g-{vpc['VpcId']}", Description="d", VpcId=vpc["VpcId"])
    out["ec2"] = (vpc["OwnerId"], ec2.describe_security_groups(GroupIds=[group["GroupId"]])["SecurityGroups"][0]["OwnerId"])
    elbv2 = client_for("elbv2")
    tg = elbv2.create_target_group(Name=f"t{vpc['VpcId'][-8:]}", Protocol="HTTP", Port=80, VpcId=vpc["VpcId"])
    out["elbv2"] = tg["TargetGroups"][0]["TargetGroupArn"].split(":")[4]
    s3 = client_for("s3")
    bucket = f"b-{vpc['VpcId'][-8:]}"
    s3.create_bucket(Bucket=bucket)
    out["s3"] = s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    iam = client_for("iam")
    out["iam"] = iam.create_role(RoleName=f"r-{vpc['VpcId'][-8:]}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    out["iam-user"] = iam.get_user()["User"]["Arn"]
    sns = client_for("sns")
    out["sns"] = sns.create_topic(Name=f"t-{vpc['VpcId'][-8:]}")["TopicArn"].split(":")[4]
    ssm = client_for("ssm")
    ssm.put_parameter(Name=f"/p/{vpc['VpcId']}", Value="v", Type="String")
    out["ssm"] = ssm.get_parameter(Name=f"/p/{vpc['VpcId']}")["Parameter"]["ARN"].split(":")[4]
    cloudwatch = client_for("cloudwatch")
    cloudwatch.put_metric_alarm(AlarmName=f"a-{vpc['VpcId']}", MetricName="m", Namespace="n", Statistic="Sum",
                                Period=60, EvaluationPeriods=1, Threshold=1.0,
                                ComparisonOperator="GreaterThanThreshold")
    out["cloudwatch"] = cloudwatch.describe_alarms(AlarmNames=[f"a-{vpc['VpcId']}"])["MetricAlarms"][0]["AlarmArn"]
    autoscaling = client_for("autoscaling")
    autoscaling.create_launch_configuration(LaunchConfigurationName=f"l-{vpc['VpcId']}", ImageId="ami-12c6146b",
                                            InstanceType="t3.micro")
    out["autoscaling"] = autoscaling.describe_launch_configurations(
        LaunchConfigurationNames=[f"l-{vpc['VpcId']}"])["LaunchConfigurations"][0]["LaunchConfigurationARN"]
    return {k: v.split(":")[4] if isinstance(v, str) and v.startswith("arn:") else v for k, v in out.items()}


def test_unsigned_calls_answer_as_signed_ones():
    """The emulator's clients (unsigned where lbguard.offline.emulator.core says moto reads no
    signature) get the answers signed clients get: the same account and identity per service."""
    from lbguard.offline.emulator.core import _BOTO_CONFIG, ACCOUNT, AwsEmulator

    with emulated_aws("us-east-1"):
        em = AwsEmulator("us-east-1")
        unsigned = {s for s in SERVICES if em.client(s).meta.config.signature_version is botocore.UNSIGNED}
        assert {"ec2", "elbv2", "autoscaling", "cloudwatch", "ssm", "sns"} <= unsigned
        assert not {"s3", "sts", "iam"} & unsigned
        emulator = _answers(em.client)
        signed = _answers(lambda s: boto3.client(s, region_name="us-east-1", config=_BOTO_CONFIG))
    assert emulator == signed
    assert emulator["elbv2"] == ACCOUNT and emulator["sts"] == ACCOUNT


def test_recorded_inputs_are_the_requests_own(monkeypatch):
    """Each registration's inputs the monitor records from what MockMonitor decoded for the
    mocks are the request's own properties decoded (as the monitor does with it off)."""
    from pulumi.runtime import rpc

    from lbguard.offline.emulator import monitor, run_program

    decoded: dict[str, str] = {}
    real = monitor.RecordingMonitor.RegisterResource

    def register(self, request):
        assert self._decode_inputs is False  # the acceleration is on
        if request.type != "pulumi:pulumi:Stack":
            urn = self.make_urn(request.parent, request.type, request.name)
            decoded[urn] = json.dumps(monitor.plain(rpc.deserialize_properties(request.object)), sort_keys=True)
        return real(self, request)

    monkeypatch.setattr(monitor.RecordingMonitor, "RegisterResource", register)
    with emulated_aws():
        run = run_program(ROOT, "dev")
    recorded = {r.urn: json.dumps(r.inputs, sort_keys=True) for r in run.resources if r.type != "pulumi:pulumi:Stack"}
    assert len(recorded) > 40 and recorded == decoded
    assert sum('.0' in text for text in decoded.values()) < sum(':' in text for text in decoded.values())


def test_offerings_on_demand_are_motos_table():
    """In a fresh interpreter, moto's instance-type offerings imported under the acceleration
    read each region on first use and, read in full, equal the table moto's own module
    builds (its code executed again under another name, which the import hook leaves alone)."""
    script = textwrap.dedent("""
        import importlib.util, json, sys
        from lbguard.offline.emulator import emulated_aws
        from lbguard.accel import speed
        assert "moto.ec2.models.instance_types" not in sys.modules
        with emulated_aws():
            from moto.ec2.models import instance_types
        table = instance_types.INSTANCE_TYPE_OFFERINGS
        lazy = all(isinstance(v, speed._Offerings) for v in table.values())
        unread = sum(len(v._files) for v in table.values())
        spec = importlib.util.spec_from_file_location("moto.ec2.models._own_instance_types", instance_types.__file__)
        own = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(own)
        ours = {k: dict(v.items()) for k, v in table.items()}
        theirs = {k: dict(v) for k, v in own.INSTANCE_TYPE_OFFERINGS.items()}
        print(json.dumps({"lazy": lazy, "unread": unread, "types": sorted(table), "equal": ours == theirs,
                          "regions": len(theirs.get("region", {}))}))
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["lazy"] and result["unread"] >= 3 * result["regions"]
    assert result["types"] == ["availability-zone", "availability-zone-id", "region"]
    assert result["equal"] and result["regions"] > 20
