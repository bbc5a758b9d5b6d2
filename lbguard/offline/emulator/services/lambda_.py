"""Lambda: the auto-rollback function and its permission."""

from __future__ import annotations

import io
import os
import zipfile
from typing import Any


import pulumi

from lbguard.offline.emulator.core import Prior, _auto_name, _drop_none, _int, deletes, handles, updates

class _WholeZip(Exception):
    def __init__(self, path: str):
        self.path = path


def _zip_archive(archive: Any) -> bytes:
    """A Pulumi archive (AssetArchive / FileArchive) as zip bytes, as the provider uploads it."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        def add(name: str, item: Any) -> None:
            if isinstance(item, pulumi.StringAsset):
                zf.writestr(name, item.text)
            elif isinstance(item, pulumi.FileAsset):
                zf.write(item.path, name)
            elif isinstance(item, pulumi.FileArchive) and os.path.isfile(item.path):
                if not name:  # a .zip/.jar file uploaded as it is
                    raise _WholeZip(item.path)
                with zipfile.ZipFile(item.path) as src:
                    for entry in src.infolist():
                        zf.writestr(f"{name}/{entry.filename}", src.read(entry))
            elif isinstance(item, pulumi.FileArchive):
                base = item.path
                for root, _, files in os.walk(base):
                    for f in files:
                        full = os.path.join(root, f)
                        zf.write(full, os.path.join(name, os.path.relpath(full, base)) if name else os.path.relpath(full, base))
            elif isinstance(item, pulumi.AssetArchive):
                for sub, asset in item.assets.items():
                    add(f"{name}/{sub}" if name else sub, asset)
            else:
                raise ValueError(f"unsupported Lambda code asset {type(item).__name__}")
        try:
            add("", archive)
        except _WholeZip as whole:
            with open(whole.path, "rb") as f:
                return f.read()
    return buf.getvalue()


@handles("aws:lambda/function:Function")
def _function(em, args, i):
    name = i.get("name") or _auto_name(args.name, 64)
    code = {"ZipFile": _zip_archive(i["code"])} if i.get("code") is not None else \
        {"S3Bucket": i["s3Bucket"], "S3Key": i["s3Key"]}
    env = (i.get("environment") or {}).get("variables")
    em.client("lambda").create_function(**_drop_none({
        "FunctionName": name, "Runtime": i.get("runtime"), "Role": i["role"], "Handler": i.get("handler"),
        "Code": code, "Timeout": _int(i.get("timeout")), "MemorySize": _int(i.get("memorySize")),
        "Description": i.get("description"), "Environment": {"Variables": env} if env else None,
        "Architectures": i.get("architectures"), "Tags": i.get("tags")}))
    if i.get("reservedConcurrentExecutions") is not None and int(i["reservedConcurrentExecutions"]) >= 0:
        # The provider reserves concurrency right after create; AWS refuses a reservation
        # that leaves the account under 100 unreserved executions (emulated_aws sets moto's quota).
        em.client("lambda").put_function_concurrency(
            FunctionName=name, ReservedConcurrentExecutions=int(i["reservedConcurrentExecutions"]))
    return name, _function_outputs(em, name)


def _function_outputs(em, name: str) -> dict:
    held = em.client("lambda").get_function(FunctionName=name)["Configuration"]
    return {"id": name, "name": name, "arn": held["FunctionArn"], "invokeArn":
                  f"arn:aws:apigateway:{em.region}:lambda:path/2015-03-31/functions/{held['FunctionArn']}/invocations",
                  "qualifiedArn": f"{held['FunctionArn']}:{held.get('Version', '$LATEST')}",
                  "version": held.get("Version", "$LATEST"), "sourceCodeHash": held.get("CodeSha256"),
                  "codeSha256": held.get("CodeSha256"), "sourceCodeSize": held.get("CodeSize"),
                  "runtime": held.get("Runtime"), "handler": held.get("Handler"), "role": held.get("Role"),
            "timeout": held.get("Timeout"), "memorySize": held.get("MemorySize"), "code": None}


@handles("aws:lambda/permission:Permission")
def _lambda_permission(em, args, i):
    sid = i.get("statementId") or _auto_name(args.name, 100)
    em.client("lambda").add_permission(**_drop_none({
        "FunctionName": i["function"], "StatementId": sid, "Action": i["action"], "Principal": i["principal"],
        "SourceArn": i.get("sourceArn"), "SourceAccount": i.get("sourceAccount")}))
    return sid, {"statementId": sid}


_CONFIG = {"runtime": "Runtime", "role": "Role", "handler": "Handler", "timeout": "Timeout", "memorySize": "MemorySize",
           "description": "Description", "environment": "Environment"}


@updates("aws:lambda/function:Function")
def _update_function(em, args, i, old: Prior, diffs: set):
    """UpdateFunctionCode, UpdateFunctionConfiguration, Put/DeleteFunctionConcurrency."""
    lam = em.client("lambda")
    if "code" in diffs and i.get("code") is not None:
        lam.update_function_code(FunctionName=old.id, ZipFile=_zip_archive(i["code"]))
    if diffs & set(_CONFIG):
        env = (i.get("environment") or {}).get("variables")
        lam.update_function_configuration(**_drop_none({
            "FunctionName": old.id, "Runtime": i.get("runtime"), "Role": i.get("role"), "Handler": i.get("handler"),
            "Timeout": _int(i.get("timeout")), "MemorySize": _int(i.get("memorySize")),
            "Description": i.get("description"), "Environment": {"Variables": env or {}}}))
    if "reservedConcurrentExecutions" in diffs:
        rc = i.get("reservedConcurrentExecutions")
        if rc is None or int(rc) < 0:
            lam.delete_function_concurrency(FunctionName=old.id)
        else:
            lam.put_function_concurrency(FunctionName=old.id, ReservedConcurrentExecutions=int(rc))
    return _function_outputs(em, old.id)


@deletes("aws:lambda/function:Function")
def _delete_function(em, old: Prior):
    em.client("lambda").delete_function(FunctionName=old.id)


@deletes("aws:lambda/permission:Permission")
def _delete_permission(em, old: Prior):
    em.client("lambda").remove_permission(FunctionName=old.inputs["function"], StatementId=old.id)
