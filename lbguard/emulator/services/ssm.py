"""SSM Parameter Store: the routing snapshots."""

from __future__ import annotations




from lbguard.emulator.core import (_arn, _bool, _drop_none,
                                   _tags_list, handles)

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


