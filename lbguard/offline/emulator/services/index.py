"""Account-level invokes: region, caller identity, partition."""

from __future__ import annotations




from lbguard.offline.emulator.core import (AwsEmulator, invoke)


@invoke("aws:index/getRegion:getRegion")
def _get_region(em: AwsEmulator, a: dict) -> dict:
    r = a.get("region") or a.get("name") or em.region
    return {"name": r, "region": r, "id": r, "endpoint": f"ec2.{r}.amazonaws.com", "description": r}


@invoke("aws:index/getCallerIdentity:getCallerIdentity")
def _get_caller_identity(em: AwsEmulator, a: dict) -> dict:
    ident = em.client("sts").get_caller_identity()
    return {"accountId": ident["Account"], "arn": ident["Arn"], "userId": ident["UserId"], "id": ident["Account"]}


@invoke("aws:index/getPartition:getPartition")
def _get_partition(em: AwsEmulator, a: dict) -> dict:
    return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws", "reverseDnsPrefix": "com.amazonaws"}


