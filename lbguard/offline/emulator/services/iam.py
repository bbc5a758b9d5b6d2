"""IAM: roles, policies, attachments, instance profiles, and the policy-document invoke."""

from __future__ import annotations

import json
from typing import Any

import secrets


from lbguard.offline.emulator.core import (AwsEmulator, Prior, _auto_name, _drop_none, _int, _tags_list, deletes,
                                   handles, invoke, update_tags, updates)

def _policy_list(value: Any) -> Any:
    value = list(value or [])
    return value[0] if len(value) == 1 else value


@invoke("aws:iam/getPolicyDocument:getPolicyDocument")
def _get_policy_document(em: AwsEmulator, a: dict) -> dict:
    """The IAM JSON the provider renders (single-element lists collapse to strings, as it does)."""
    doc: dict[str, Any] = {"Version": a.get("version") or "2012-10-17"}
    if a.get("policyId"):
        doc["Id"] = a["policyId"]
    statements = []
    for st in a.get("statements") or []:
        out: dict[str, Any] = {}
        if st.get("sid"):
            out["Sid"] = st["sid"]
        out["Effect"] = st.get("effect") or "Allow"
        for src, dst in (("actions", "Action"), ("notActions", "NotAction"),
                         ("resources", "Resource"), ("notResources", "NotResource")):
            if st.get(src):
                out[dst] = _policy_list(st[src])
        for src, dst in (("principals", "Principal"), ("notPrincipals", "NotPrincipal")):
            if st.get(src):
                principals: dict[str, Any] = {}
                for p in st[src]:
                    if p["type"] == "*" and list(p.get("identifiers") or []) == ["*"]:
                        principals = "*"  # type: ignore[assignment]
                        break
                    principals.setdefault(p["type"], []).extend(p.get("identifiers") or [])
                out[dst] = principals if principals == "*" else {k: _policy_list(v) for k, v in principals.items()}
        if st.get("conditions"):
            cond: dict[str, dict] = {}
            for c in st["conditions"]:
                cond.setdefault(c["test"], {})[c["variable"]] = _policy_list(c.get("values"))
            out["Condition"] = cond
        statements.append(out)
    doc["Statement"] = statements
    text = json.dumps(doc, indent=2)
    return {"json": text, "minifiedJson": json.dumps(doc, separators=(",", ":")), "id": str(abs(hash(text)))}




def _doc(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@handles("aws:iam/role:Role")
def _role(em, args, i):
    name = i.get("name") or _auto_name(i.get("namePrefix") or args.name, 64)
    role = em.client("iam").create_role(**_drop_none({
        "RoleName": name, "AssumeRolePolicyDocument": _doc(i["assumeRolePolicy"]), "Path": i.get("path"),
        "Description": i.get("description"), "MaxSessionDuration": _int(i.get("maxSessionDuration")),
        "Tags": _tags_list(i.get("tags"))}))["Role"]
    return name, {"id": name, "name": name, "arn": role["Arn"], "uniqueId": role["RoleId"]}


@handles("aws:iam/rolePolicy:RolePolicy", put=True)
def _role_policy(em, args, i):
    name = i.get("name") or _auto_name(args.name, 128)
    em.client("iam").put_role_policy(RoleName=i["role"], PolicyName=name, PolicyDocument=_doc(i["policy"]))
    return f"{i['role']}:{name}", {"name": name}


@handles("aws:iam/policy:Policy")
def _iam_policy(em, args, i):
    name = i.get("name") or _auto_name(args.name, 128)
    p = em.client("iam").create_policy(PolicyName=name, PolicyDocument=_doc(i["policy"]))["Policy"]
    return p["Arn"], {"id": p["Arn"], "arn": p["Arn"], "name": name}


@handles("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
def _role_policy_attachment(em, args, i):
    em.client("iam").attach_role_policy(RoleName=i["role"], PolicyArn=i["policyArn"])
    return f"{i['role']}-{secrets.token_hex(4)}", {}


@handles("aws:iam/instanceProfile:InstanceProfile")
def _instance_profile(em, args, i):
    iam = em.client("iam")
    name = i.get("name") or _auto_name(args.name, 128)
    p = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    if i.get("role"):
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=i["role"])
    return name, {"id": name, "name": name, "arn": p["Arn"]}




@updates("aws:iam/role:Role")
def _update_role(em, args, i, old: Prior, diffs: set):
    iam_ = em.client("iam")
    if "assumeRolePolicy" in diffs:
        iam_.update_assume_role_policy(RoleName=old.id, PolicyDocument=_doc(i["assumeRolePolicy"]))
    if diffs & {"description", "maxSessionDuration"}:
        iam_.update_role(**_drop_none({"RoleName": old.id, "Description": i.get("description"),
                                       "MaxSessionDuration": _int(i.get("maxSessionDuration"))}))
    update_tags(old, i, diffs, untag=lambda keys: iam_.untag_role(RoleName=old.id, TagKeys=keys),
                tag=lambda add: iam_.tag_role(RoleName=old.id, Tags=_tags_list(add)))
    return {}


@deletes("aws:iam/role:Role")
def _delete_role(em, old: Prior):
    iam_ = em.client("iam")
    for p in iam_.list_instance_profiles_for_role(RoleName=old.id)["InstanceProfiles"]:
        iam_.remove_role_from_instance_profile(InstanceProfileName=p["InstanceProfileName"], RoleName=old.id)
    iam_.delete_role(RoleName=old.id)


@deletes("aws:iam/rolePolicy:RolePolicy")
def _delete_role_policy(em, old: Prior):
    em.client("iam").delete_role_policy(RoleName=old.inputs["role"], PolicyName=old.outputs.get("name") or old.id)


@updates("aws:iam/policy:Policy")
def _update_iam_policy(em, args, i, old: Prior, diffs: set):
    if "policy" in diffs:
        em.client("iam").create_policy_version(PolicyArn=old.id, PolicyDocument=_doc(i["policy"]), SetAsDefault=True)
    return {}


@deletes("aws:iam/policy:Policy")
def _delete_iam_policy(em, old: Prior):
    em.client("iam").delete_policy(PolicyArn=old.id)


@deletes("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
def _delete_role_policy_attachment(em, old: Prior):
    em.client("iam").detach_role_policy(RoleName=old.inputs["role"], PolicyArn=old.inputs["policyArn"])


@updates("aws:iam/instanceProfile:InstanceProfile")
def _update_instance_profile(em, args, i, old: Prior, diffs: set):
    iam_ = em.client("iam")
    if "role" in diffs:
        if old.inputs.get("role"):
            iam_.remove_role_from_instance_profile(InstanceProfileName=old.id, RoleName=old.inputs["role"])
        if i.get("role"):
            iam_.add_role_to_instance_profile(InstanceProfileName=old.id, RoleName=i["role"])
    return {}


@deletes("aws:iam/instanceProfile:InstanceProfile")
def _delete_instance_profile(em, old: Prior):
    iam_ = em.client("iam")
    for role in iam_.get_instance_profile(InstanceProfileName=old.id)["InstanceProfile"].get("Roles", []):
        iam_.remove_role_from_instance_profile(InstanceProfileName=old.id, RoleName=role["RoleName"])
    iam_.delete_instance_profile(InstanceProfileName=old.id)
