"""SSM Parameter Store: the routing snapshots."""

from __future__ import annotations




from lbguard.offline.emulator.core import (Prior, _arn, _bool, _drop_none, _tags_list,
                                   deletes, handles, update_tags, updates)

@handles("aws:ssm/parameter:Parameter")
def _parameter(em, args, i):
    ssm = em.client("ssm")
    name = i.get("name") or args.name
    kw = _drop_none({"Name": name, "Type": i.get("type", "String"), "Value": i.get("value", i.get("insecureValue")),
                     "Description": i.get("description"), "Tier": i.get("tier"), "DataType": i.get("dataType"),
                     "Overwrite": _bool(i.get("overwrite")) if "overwrite" in i else None,
                     "Tags": _tags_list(i.get("tags"))})
    version = ssm.put_parameter(**kw)["Version"]
    held = ssm.get_parameter(Name=name)["Parameter"]
    return name, {"id": name, "name": name, "arn": held.get("ARN") or _arn("ssm", f"parameter{name}", em.region),
                  "version": version, "tier": i.get("tier", "Standard")}




@updates("aws:ssm/parameter:Parameter")
def _update_parameter(em, args, i, old: Prior, diffs: set):
    """PutParameter with Overwrite (tags cannot go with Overwrite: they are set apart)."""
    ssm_ = em.client("ssm")
    if diffs - {"tags", "overwrite"}:
        kw = _drop_none({"Name": old.id, "Type": i.get("type", "String"), "Value": i.get("value", i.get("insecureValue")),
                         "Description": i.get("description"), "Tier": i.get("tier"), "DataType": i.get("dataType"),
                         "AllowedPattern": i.get("allowedPattern"), "Overwrite": True})
        ssm_.put_parameter(**kw)
    update_tags(old, i, diffs,
                untag=lambda keys: ssm_.remove_tags_from_resource(ResourceType="Parameter", ResourceId=old.id, TagKeys=keys),
                tag=lambda add: ssm_.add_tags_to_resource(ResourceType="Parameter", ResourceId=old.id, Tags=_tags_list(add)))
    held = ssm_.get_parameter(Name=old.id)["Parameter"]
    return {"version": held["Version"], "tier": i.get("tier", "Standard")}


@deletes("aws:ssm/parameter:Parameter")
def _delete_parameter(em, old: Prior):
    em.client("ssm").delete_parameter(Name=old.id)
