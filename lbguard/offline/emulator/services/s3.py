"""S3: the log bucket and its configuration resources."""

from __future__ import annotations

import json
from typing import Any



from lbguard.offline.emulator.core import (Prior, _auto_name, _bool, _drop_none, _int, _tags_list,
                                   deletes, handles, updates)


@handles("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
def _bucket(em, args, i):
    s3 = em.client("s3")
    name = i.get("bucket") or _auto_name(i.get("bucketPrefix") or args.name, 63, lower=True)
    kw: dict[str, Any] = {"Bucket": name}
    if em.region != "us-east-1":
        kw["CreateBucketConfiguration"] = {"LocationConstraint": em.region}
    s3.create_bucket(**kw)
    if i.get("tags"):
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tags_list(i["tags"])})
    return name, {"id": name, "bucket": name, "arn": f"arn:aws:s3:::{name}", "region": em.region,
                  "bucketDomainName": f"{name}.s3.amazonaws.com",
                  "bucketRegionalDomainName": f"{name}.s3.{em.region}.amazonaws.com"}


@handles("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
         "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2", put=True)
def _bucket_sse(em, args, i):
    rules = []
    for r in i.get("rules") or []:
        d = r.get("applyServerSideEncryptionByDefault") or {}
        rules.append(_drop_none({"ApplyServerSideEncryptionByDefault": _drop_none({
            "SSEAlgorithm": d.get("sseAlgorithm"), "KMSMasterKeyID": d.get("kmsMasterKeyId")}),
            "BucketKeyEnabled": _bool(r["bucketKeyEnabled"]) if "bucketKeyEnabled" in r else None}))
    em.client("s3").put_bucket_encryption(Bucket=i["bucket"], ServerSideEncryptionConfiguration={"Rules": rules})
    return i["bucket"], {}


@handles("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", put=True)
def _bucket_pab(em, args, i):
    cfg = {k[0].upper() + k[1:]: _bool(i.get(k, False)) for k in
           ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")}
    cfg = {"BlockPublicAcls": cfg["BlockPublicAcls"], "BlockPublicPolicy": cfg["BlockPublicPolicy"],
           "IgnorePublicAcls": cfg["IgnorePublicAcls"], "RestrictPublicBuckets": cfg["RestrictPublicBuckets"]}
    em.client("s3").put_public_access_block(Bucket=i["bucket"], PublicAccessBlockConfiguration=cfg)
    return i["bucket"], {}


@handles("aws:s3/bucketPolicy:BucketPolicy", put=True)
def _bucket_policy(em, args, i):
    policy = i["policy"] if isinstance(i["policy"], str) else json.dumps(i["policy"])
    em.client("s3").put_bucket_policy(Bucket=i["bucket"], Policy=policy)
    return i["bucket"], {"policy": policy}


@handles("aws:s3/bucketOwnershipControls:BucketOwnershipControls", put=True)
def _bucket_ownership(em, args, i):
    em.client("s3").put_bucket_ownership_controls(
        Bucket=i["bucket"], OwnershipControls={"Rules": [{"ObjectOwnership": i["rule"]["objectOwnership"]}]})
    return i["bucket"], {}


@handles("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2", put=True)
def _bucket_versioning(em, args, i):
    em.client("s3").put_bucket_versioning(
        Bucket=i["bucket"], VersioningConfiguration={"Status": i["versioningConfiguration"]["status"]})
    return i["bucket"], {}


@handles("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
         "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2", put=True)
def _bucket_lifecycle(em, args, i):
    rules = []
    for r in i.get("rules") or []:
        rule: dict[str, Any] = {"ID": r["id"], "Status": r.get("status", "Enabled")}
        f = r.get("filter")
        rule["Filter"] = {"Prefix": (f or {}).get("prefix") or ""}
        if r.get("expiration"):
            rule["Expiration"] = _drop_none({"Days": _int(r["expiration"].get("days"))})
        if r.get("abortIncompleteMultipartUpload"):
            rule["AbortIncompleteMultipartUpload"] = {
                "DaysAfterInitiation": int(r["abortIncompleteMultipartUpload"]["daysAfterInitiation"])}
        if r.get("noncurrentVersionExpiration"):
            rule["NoncurrentVersionExpiration"] = {
                "NoncurrentDays": int(r["noncurrentVersionExpiration"]["noncurrentDays"])}
        rules.append(rule)
    em.client("s3").put_bucket_lifecycle_configuration(Bucket=i["bucket"], LifecycleConfiguration={"Rules": rules})
    return i["bucket"], {}




@updates("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
def _update_bucket(em, args, i, old: Prior, diffs: set):
    other = diffs - {"tags", "forceDestroy"}
    if other:
        raise NotImplementedError(f"the emulator cannot update {', '.join(sorted(other))} of a bucket in place")
    if "tags" in diffs:
        s3 = em.client("s3")
        if i.get("tags"):
            s3.put_bucket_tagging(Bucket=old.id, Tagging={"TagSet": _tags_list(i["tags"])})
        else:
            s3.delete_bucket_tagging(Bucket=old.id)
    return {}


@deletes("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
def _delete_bucket(em, old: Prior):
    """DeleteBucket; with ``forceDestroy`` the provider empties the bucket first (else AWS
    answers BucketNotEmpty)."""
    s3 = em.client("s3")
    if _bool(old.inputs.get("forceDestroy")):
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=old.id):
            objs = [{"Key": o["Key"], "VersionId": o["VersionId"]} for o in
                    [*page.get("Versions", []), *page.get("DeleteMarkers", [])]]
            if objs:
                s3.delete_objects(Bucket=old.id, Delete={"Objects": objs})
    s3.delete_bucket(Bucket=old.id)


_CONFIG_DELETES = {
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": "delete_bucket_encryption",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2":
        "delete_bucket_encryption",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "delete_public_access_block",
    "aws:s3/bucketPolicy:BucketPolicy": "delete_bucket_policy",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "delete_bucket_ownership_controls",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "delete_bucket_lifecycle",
    "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2": "delete_bucket_lifecycle",
}


@deletes(*_CONFIG_DELETES)
def _delete_bucket_config(em, old: Prior):
    getattr(em.client("s3"), _CONFIG_DELETES[old.type])(Bucket=old.inputs["bucket"])


@deletes("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
def _delete_bucket_versioning(em, old: Prior):
    """Versioning cannot be removed, only suspended (the provider does the same)."""
    em.client("s3").put_bucket_versioning(Bucket=old.inputs["bucket"], VersioningConfiguration={"Status": "Suspended"})
