"""The emulator's start-up shortcuts (lbguard/emulator/speed.py) change nothing moto answers.

The deferred instance-type offerings are compared with moto's own files, read here
directly; symmetric KMS keys (whose unused RSA key is made lazily) still encrypt, and
asymmetric ones still sign.
"""

from __future__ import annotations

import gzip
import json
from importlib import resources

import boto3

from lbguard.emulator import emulated_aws


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
