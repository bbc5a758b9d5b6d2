"""EC2 and VPC: networks, security groups and their rules, launch templates, instances."""

from __future__ import annotations

import json
from typing import Any, Mapping

from botocore.exceptions import ClientError
from lbguard.accel.speed import images

from lbguard.offline.emulator.core import (ACCOUNT, DEFAULT_AMI, AwsEmulator, Prior, _arn, _auto_name, _bool, _drop_none, _int,
                                   _tags_list, deletes, handles, invoke, update_tags, updates)


@invoke("aws:index/getAvailabilityZones:getAvailabilityZones")
def _get_azs(em: AwsEmulator, a: dict) -> dict:
    zones = em.client("ec2").describe_availability_zones()["AvailabilityZones"]
    state = a.get("state")
    zones = [z for z in zones if not state or z.get("State", "available") == state]
    excluded = set(a.get("excludeNames") or []), set(a.get("excludeZoneIds") or [])
    zones = [z for z in zones if z["ZoneName"] not in excluded[0] and z["ZoneId"] not in excluded[1]]
    return {"names": [z["ZoneName"] for z in zones], "zoneIds": [z["ZoneId"] for z in zones],
            "id": em.region, "state": state, "groupNames": [em.region]}



@invoke("aws:ec2/getVpc:getVpc")
def _get_vpc(em: AwsEmulator, a: dict) -> dict:
    kw = {"VpcIds": [a["id"]]} if a.get("id") else {"Filters": [{"Name": "isDefault", "Values": ["true"]}]}
    vpc = em.client("ec2").describe_vpcs(**kw)["Vpcs"][0]
    return {"id": vpc["VpcId"], "cidrBlock": vpc["CidrBlock"], "arn": _arn("ec2", f"vpc/{vpc['VpcId']}", em.region),
            "default": vpc.get("IsDefault", False), "ownerId": vpc.get("OwnerId", ACCOUNT)}


# The public images the emulator knows (lbguard/offline/emulator/data/images.json, also what moto
# answers DescribeImages from): Canonical's Ubuntu images boot from /dev/sda1, Amazon Linux
# from /dev/xvda. An image not listed is answered as Amazon Linux.
def _known_image(image: str) -> dict | None:
    img = images().get(image)
    if img is None or image == DEFAULT_AMI:
        return None
    return {"rootDeviceName": img["root_device_name"], "name": img["name"], "ownerId": img["owner_id"],
            "platformDetails": img.get("platform_details", "Linux/UNIX")}


@invoke("aws:ec2/getAmi:getAmi")
def _get_ami(em: AwsEmulator, a: dict) -> dict:
    """The image the program names by ``image-id`` filter (root device from the known images), else one
    fixed image: other filters cannot be honoured without describe_images (slow in moto)."""
    wanted = [v for f in a.get("filters") or [] if f.get("name") == "image-id" for v in f.get("values") or []]
    image = wanted[0] if wanted else DEFAULT_AMI
    facts = _known_image(image) or ({"rootDeviceName": "/dev/xvda", "name": "lbguard-emulator-image",
                                     "ownerId": "137112412989", "platformDetails": "Linux/UNIX"})
    return {"id": image, "imageId": image, "architecture": "x86_64", "arn": f"arn:aws:ec2:{em.region}::image/{image}",
            "rootDeviceType": "ebs", **facts}




@handles("aws:ec2/vpc:Vpc")
def _vpc(em: AwsEmulator, args, i):
    ec2 = em.client("ec2")
    vpc = ec2.create_vpc(CidrBlock=i["cidrBlock"], InstanceTenancy=i.get("instanceTenancy", "default"))["Vpc"]
    vid = vpc["VpcId"]
    for attr in ("enableDnsHostnames", "enableDnsSupport"):
        if attr in i:
            ec2.modify_vpc_attribute(VpcId=vid, **{attr[0].upper() + attr[1:]: {"Value": _bool(i[attr])}})
    if i.get("tags"):
        ec2.create_tags(Resources=[vid], Tags=_tags_list(i["tags"]))
    sg = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vid]},
                                               {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    rt = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vid]},
                                            {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    return vid, {"id": vid, "arn": _arn("ec2", f"vpc/{vid}", em.region), "cidrBlock": vpc["CidrBlock"],
                 "ownerId": vpc.get("OwnerId", ACCOUNT), "defaultSecurityGroupId": sg[0]["GroupId"] if sg else None,
                 "mainRouteTableId": rt[0]["RouteTableId"] if rt else None, "tagsAll": i.get("tags") or {}}


@handles("aws:ec2/subnet:Subnet")
def _subnet(em, args, i):
    ec2 = em.client("ec2")
    sn = ec2.create_subnet(**_drop_none({"VpcId": i["vpcId"], "CidrBlock": i.get("cidrBlock"),
                                         "AvailabilityZone": i.get("availabilityZone")}))["Subnet"]
    sid = sn["SubnetId"]
    if "mapPublicIpOnLaunch" in i:
        ec2.modify_subnet_attribute(SubnetId=sid, MapPublicIpOnLaunch={"Value": _bool(i["mapPublicIpOnLaunch"])})
    if i.get("tags"):
        ec2.create_tags(Resources=[sid], Tags=_tags_list(i["tags"]))
    sn = ec2.describe_subnets(SubnetIds=[sid])["Subnets"][0]
    return sid, {"id": sid, "arn": _arn("ec2", f"subnet/{sid}", em.region), "availabilityZone": sn["AvailabilityZone"],
                 "availabilityZoneId": sn.get("AvailabilityZoneId"), "cidrBlock": sn["CidrBlock"],
                 "vpcId": sn["VpcId"], "mapPublicIpOnLaunch": sn.get("MapPublicIpOnLaunch", False)}


@handles("aws:ec2/internetGateway:InternetGateway")
def _igw(em, args, i):
    ec2 = em.client("ec2")
    gid = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    if i.get("vpcId"):
        ec2.attach_internet_gateway(InternetGatewayId=gid, VpcId=i["vpcId"])
    if i.get("tags"):
        ec2.create_tags(Resources=[gid], Tags=_tags_list(i["tags"]))
    return gid, {"id": gid, "arn": _arn("ec2", f"internet-gateway/{gid}", em.region), "ownerId": ACCOUNT}


@handles("aws:ec2/eip:Eip")
def _eip(em, args, i):
    kw: dict[str, Any] = {"Domain": i.get("domain", "vpc")}
    if i.get("tags"):
        kw["TagSpecifications"] = [{"ResourceType": "elastic-ip", "Tags": _tags_list(i["tags"])}]
    a = em.client("ec2").allocate_address(**kw)
    return a["AllocationId"], {"id": a["AllocationId"], "allocationId": a["AllocationId"], "publicIp": a["PublicIp"],
                               "domain": a.get("Domain", "vpc")}


@handles("aws:ec2/natGateway:NatGateway")
def _nat(em, args, i):
    ng = em.client("ec2").create_nat_gateway(**_drop_none({
        "SubnetId": i["subnetId"], "AllocationId": i.get("allocationId"),
        "ConnectivityType": i.get("connectivityType"),
        "TagSpecifications": [{"ResourceType": "natgateway", "Tags": _tags_list(i["tags"])}] if i.get("tags") else None,
    }))["NatGateway"]
    return ng["NatGatewayId"], {"id": ng["NatGatewayId"], "subnetId": ng["SubnetId"],
                                "connectivityType": ng.get("ConnectivityType", "public")}


def _route_kwargs(r: Mapping[str, Any]) -> dict:
    return _drop_none({"DestinationCidrBlock": r.get("cidrBlock") or r.get("destinationCidrBlock"),
                       "DestinationIpv6CidrBlock": r.get("ipv6CidrBlock") or r.get("destinationIpv6CidrBlock"),
                       "GatewayId": r.get("gatewayId"), "NatGatewayId": r.get("natGatewayId")})


@handles("aws:ec2/routeTable:RouteTable")
def _route_table(em, args, i):
    ec2 = em.client("ec2")
    rt = ec2.create_route_table(VpcId=i["vpcId"])["RouteTable"]["RouteTableId"]
    for r in i.get("routes") or []:
        ec2.create_route(RouteTableId=rt, **_route_kwargs(r))
    if i.get("tags"):
        ec2.create_tags(Resources=[rt], Tags=_tags_list(i["tags"]))
    held = ec2.describe_route_tables(RouteTableIds=[rt])["RouteTables"][0]["Routes"]
    routes = [_drop_none({"cidrBlock": r.get("DestinationCidrBlock"), "gatewayId": r.get("GatewayId"),
                          "natGatewayId": r.get("NatGatewayId")}) for r in held if r.get("GatewayId") != "local"]
    return rt, {"id": rt, "arn": _arn("ec2", f"route-table/{rt}", em.region), "routes": routes, "ownerId": ACCOUNT}


@handles("aws:ec2/route:Route")
def _route(em, args, i):
    em.client("ec2").create_route(RouteTableId=i["routeTableId"], **_route_kwargs(i))
    return f"r-{i['routeTableId']}{abs(hash(i.get('destinationCidrBlock'))) % 10**10}", {"state": "active"}


@handles("aws:ec2/routeTableAssociation:RouteTableAssociation")
def _rta(em, args, i):
    aid = em.client("ec2").associate_route_table(RouteTableId=i["routeTableId"], SubnetId=i["subnetId"])["AssociationId"]
    return aid, {"id": aid}


def _permission(rule: Mapping[str, Any], *, inline: bool) -> dict:
    """One IpPermission from a pulumi rule (inline SG rule or vpc.SecurityGroup*Rule)."""
    proto = str(rule.get("ipProtocol") or rule.get("protocol"))
    perm: dict[str, Any] = {"IpProtocol": proto}
    if proto not in ("-1", "all"):
        perm["FromPort"] = int(rule["fromPort"])
        perm["ToPort"] = int(rule["toPort"])
    else:
        perm["IpProtocol"] = "-1"
    desc = rule.get("description")
    if inline:
        cidrs, cidrs6 = rule.get("cidrBlocks") or [], rule.get("ipv6CidrBlocks") or []
        groups = rule.get("securityGroups") or []
    else:
        cidrs = [rule["cidrIpv4"]] if rule.get("cidrIpv4") else []
        cidrs6 = [rule["cidrIpv6"]] if rule.get("cidrIpv6") else []
        groups = [rule["referencedSecurityGroupId"]] if rule.get("referencedSecurityGroupId") else []
    if cidrs:
        perm["IpRanges"] = [_drop_none({"CidrIp": c, "Description": desc}) for c in cidrs]
    if cidrs6:
        perm["Ipv6Ranges"] = [_drop_none({"CidrIpv6": c, "Description": desc}) for c in cidrs6]
    if groups:
        perm["UserIdGroupPairs"] = [_drop_none({"GroupId": g, "Description": desc}) for g in groups]
    if rule.get("prefixListId"):
        perm["PrefixListIds"] = [{"PrefixListId": rule["prefixListId"]}]
    return perm


@handles("aws:ec2/securityGroup:SecurityGroup")
def _security_group(em, args, i):
    ec2 = em.client("ec2")
    name = i.get("name") or (_auto_name(i["namePrefix"], sep="") if i.get("namePrefix") else _auto_name(args.name))
    kw = _drop_none({"GroupName": name, "Description": i.get("description") or "Managed by Pulumi",
                     "VpcId": i.get("vpcId")})
    if i.get("tags"):
        kw["TagSpecifications"] = [{"ResourceType": "security-group", "Tags": _tags_list(i["tags"])}]
    gid = ec2.create_security_group(**kw)["GroupId"]
    # Like the AWS provider: drop AWS's default allow-all egress; only declared rules remain.
    ec2.revoke_security_group_egress(GroupId=gid, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    for rule in i.get("ingress") or []:
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[_permission(rule, inline=True)])
    for rule in i.get("egress") or []:
        ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[_permission(rule, inline=True)])
    return gid, {"id": gid, "arn": _arn("ec2", f"security-group/{gid}", em.region), "name": name,
                 "description": kw["Description"], "ownerId": ACCOUNT,
                 "ingress": i.get("ingress") or [], "egress": i.get("egress") or []}


def _sg_rule(em, args, i, egress: bool):
    ec2 = em.client("ec2")
    fn = ec2.authorize_security_group_egress if egress else ec2.authorize_security_group_ingress
    resp = fn(GroupId=i["securityGroupId"], IpPermissions=[_permission(i, inline=False)])
    rid = resp["SecurityGroupRules"][0]["SecurityGroupRuleId"]
    return rid, {"id": rid, "securityGroupRuleId": rid,
                 "arn": _arn("ec2", f"security-group-rule/{rid}", em.region)}


@handles("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
def _sg_ingress(em, args, i):
    return _sg_rule(em, args, i, egress=False)


@handles("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
def _sg_egress(em, args, i):
    return _sg_rule(em, args, i, egress=True)


def _lt_data(i: Mapping[str, Any]) -> dict:
    d: dict[str, Any] = _drop_none({"ImageId": i.get("imageId"), "InstanceType": i.get("instanceType"),
                                    "KeyName": i.get("keyName"), "UserData": i.get("userData"),
                                    "SecurityGroupIds": i.get("vpcSecurityGroupIds"),
                                    "EbsOptimized": _bool(i["ebsOptimized"]) if "ebsOptimized" in i else None})
    mo = i.get("metadataOptions")
    if mo:
        d["MetadataOptions"] = _drop_none({
            "HttpEndpoint": mo.get("httpEndpoint"), "HttpTokens": mo.get("httpTokens"),
            "HttpPutResponseHopLimit": _int(mo.get("httpPutResponseHopLimit")),
            "InstanceMetadataTags": mo.get("instanceMetadataTags"),
            "HttpProtocolIpv6": mo.get("httpProtocolIpv6")})
    bdms = []
    for b in i.get("blockDeviceMappings") or []:
        ebs = b.get("ebs") or {}
        bdms.append(_drop_none({"DeviceName": b.get("deviceName"), "Ebs": _drop_none({
            "VolumeSize": _int(ebs.get("volumeSize")), "VolumeType": ebs.get("volumeType"),
            "Encrypted": _bool(ebs["encrypted"]) if "encrypted" in ebs else None,
            "DeleteOnTermination": _bool(ebs["deleteOnTermination"]) if "deleteOnTermination" in ebs else None,
            "KmsKeyId": ebs.get("kmsKeyId"), "Iops": _int(ebs.get("iops"))})}))
    if bdms:
        d["BlockDeviceMappings"] = bdms
    if i.get("monitoring") is not None:
        d["Monitoring"] = {"Enabled": _bool(i["monitoring"].get("enabled"))}
    if i.get("iamInstanceProfile"):
        p = i["iamInstanceProfile"]
        d["IamInstanceProfile"] = _drop_none({"Arn": p.get("arn"), "Name": p.get("name")})
    specs = [{"ResourceType": t["resourceType"], "Tags": _tags_list(t.get("tags"))}
             for t in i.get("tagSpecifications") or []]
    if specs:
        d["TagSpecifications"] = specs
    return d


@handles("aws:ec2/launchTemplate:LaunchTemplate")
def _launch_template(em, args, i):
    i.consume("updateDefaultVersion", "defaultVersion")  # the provider's: moves the default version on update
    ec2 = em.client("ec2")
    name = i.get("name") or _auto_name(i.get("namePrefix") or args.name, 128)
    kw: dict[str, Any] = {"LaunchTemplateName": name, "LaunchTemplateData": _lt_data(i)}
    if i.get("description"):  # resourceLaunchTemplateCreate: VersionDescription
        kw["VersionDescription"] = i["description"]
    if i.get("tags"):
        kw["TagSpecifications"] = [{"ResourceType": "launch-template", "Tags": _tags_list(i["tags"])}]
    lt = ec2.create_launch_template(**kw)["LaunchTemplate"]
    lid = lt["LaunchTemplateId"]
    data = ec2.describe_launch_template_versions(LaunchTemplateId=lid)["LaunchTemplateVersions"][-1]["LaunchTemplateData"]
    mo = data.get("MetadataOptions") or {}
    out = {"id": lid, "arn": _arn("ec2", f"launch-template/{lid}", em.region), "name": name,
           "latestVersion": int(lt["LatestVersionNumber"]), "defaultVersion": int(lt["DefaultVersionNumber"]),
           "imageId": data.get("ImageId"), "instanceType": data.get("InstanceType")}
    if mo:
        out["metadataOptions"] = _drop_none({"httpEndpoint": mo.get("HttpEndpoint"), "httpTokens": mo.get("HttpTokens"),
                                             "httpPutResponseHopLimit": mo.get("HttpPutResponseHopLimit"),
                                             "instanceMetadataTags": mo.get("InstanceMetadataTags")})
    return lid, out


@handles("aws:ec2/instance:Instance")
def _instance(em, args, i):
    ec2 = em.client("ec2")
    lt = i.get("launchTemplate") or {}
    kw = _drop_none({"ImageId": i.get("ami") or (None if lt else DEFAULT_AMI), "InstanceType": i.get("instanceType"),
                     "MinCount": 1, "MaxCount": 1,
                     "LaunchTemplate": _drop_none({"LaunchTemplateId": lt.get("id"), "LaunchTemplateName": lt.get("name"),
                                                   "Version": str(lt["version"]) if lt.get("version") else None}) or None,
                     "IamInstanceProfile": {"Name": i["iamInstanceProfile"]} if i.get("iamInstanceProfile") else None,
                     "Monitoring": {"Enabled": _bool(i["monitoring"])} if "monitoring" in i else None,
                     "SubnetId": i.get("subnetId"), "SecurityGroupIds": i.get("vpcSecurityGroupIds"),
                     "UserData": i.get("userData"), "KeyName": i.get("keyName")})
    mo = i.get("metadataOptions")
    if mo:
        kw["MetadataOptions"] = _drop_none({"HttpTokens": mo.get("httpTokens"), "HttpEndpoint": mo.get("httpEndpoint"),
                                            "HttpPutResponseHopLimit": _int(mo.get("httpPutResponseHopLimit"))})
    if i.get("tags"):
        kw["TagSpecifications"] = [{"ResourceType": "instance", "Tags": _tags_list(i["tags"])}]
    inst = ec2.run_instances(**kw)["Instances"][0]
    iid = inst["InstanceId"]
    return iid, {"id": iid, "arn": _arn("ec2", f"instance/{iid}", em.region),
                 "availabilityZone": inst["Placement"]["AvailabilityZone"], "subnetId": inst.get("SubnetId"),
                 "privateIp": inst.get("PrivateIpAddress"), "instanceState": "running"}




# ------------------------------------------------------------------ updates and deletes


def _ec2_tags(ec2, rid: str, old: Prior, i, diffs: set) -> None:
    update_tags(old, i, diffs, untag=lambda keys: ec2.delete_tags(Resources=[rid], Tags=[{"Key": k} for k in keys]),
                tag=lambda add: ec2.create_tags(Resources=[rid], Tags=_tags_list(add)))


@updates("aws:ec2/vpc:Vpc")
def _update_vpc(em, args, i, old: Prior, diffs: set):
    ec2 = em.client("ec2")
    for attr in ("enableDnsHostnames", "enableDnsSupport"):
        if attr in diffs and attr in i:
            ec2.modify_vpc_attribute(VpcId=old.id, **{attr[0].upper() + attr[1:]: {"Value": _bool(i[attr])}})
    _ec2_tags(ec2, old.id, old, i, diffs)
    return {}


@deletes("aws:ec2/vpc:Vpc")
def _delete_vpc(em, old: Prior):
    em.client("ec2").delete_vpc(VpcId=old.id)


@updates("aws:ec2/subnet:Subnet")
def _update_subnet(em, args, i, old: Prior, diffs: set):
    ec2 = em.client("ec2")
    if "mapPublicIpOnLaunch" in diffs:
        ec2.modify_subnet_attribute(SubnetId=old.id, MapPublicIpOnLaunch={"Value": _bool(i.get("mapPublicIpOnLaunch"))})
    _ec2_tags(ec2, old.id, old, i, diffs)
    return {"mapPublicIpOnLaunch": _bool(i.get("mapPublicIpOnLaunch"))}


@deletes("aws:ec2/subnet:Subnet")
def _delete_subnet(em, old: Prior):
    em.client("ec2").delete_subnet(SubnetId=old.id)


@updates("aws:ec2/internetGateway:InternetGateway", "aws:ec2/eip:Eip", "aws:ec2/natGateway:NatGateway",
         "aws:ec2/routeTable:RouteTable", "aws:ec2/instance:Instance")
def _update_tags_only(em, args, i, old: Prior, diffs: set):
    """Tags update in place; any other change of these types is one the provider replaces
    (or, for route tables, re-routes: handled as routes below)."""
    ec2 = em.client("ec2")
    if "routes" in diffs:
        _reroute(ec2, old, i)
    other = diffs - {"tags", "routes"}
    if other:
        raise NotImplementedError(f"the emulator cannot update {', '.join(sorted(other))} of {args.typ} in place")
    _ec2_tags(ec2, old.id, old, i, diffs)
    return {}


def _reroute(ec2, old: Prior, i) -> None:
    before = {json.dumps(_route_kwargs(r), sort_keys=True) for r in old.inputs.get("routes") or []}
    after = {json.dumps(_route_kwargs(r), sort_keys=True) for r in i.get("routes") or []}
    for r in sorted(before - after):
        kw = json.loads(r)
        ec2.delete_route(RouteTableId=old.id, **{k: v for k, v in kw.items() if k.startswith("Destination")})
    for r in sorted(after - before):
        ec2.create_route(RouteTableId=old.id, **json.loads(r))


@deletes("aws:ec2/internetGateway:InternetGateway")
def _delete_igw(em, old: Prior):
    ec2 = em.client("ec2")
    if old.inputs.get("vpcId"):
        ec2.detach_internet_gateway(InternetGatewayId=old.id, VpcId=old.inputs["vpcId"])
    ec2.delete_internet_gateway(InternetGatewayId=old.id)


@deletes("aws:ec2/eip:Eip")
def _delete_eip(em, old: Prior):
    em.client("ec2").release_address(AllocationId=old.id)


@deletes("aws:ec2/natGateway:NatGateway")
def _delete_nat(em, old: Prior):
    em.client("ec2").delete_nat_gateway(NatGatewayId=old.id)


@deletes("aws:ec2/routeTable:RouteTable")
def _delete_route_table(em, old: Prior):
    em.client("ec2").delete_route_table(RouteTableId=old.id)


@deletes("aws:ec2/route:Route")
def _delete_route(em, old: Prior):
    kw = {k: v for k, v in _route_kwargs(old.inputs).items() if k.startswith("Destination")}
    em.client("ec2").delete_route(RouteTableId=old.inputs["routeTableId"], **kw)


@deletes("aws:ec2/routeTableAssociation:RouteTableAssociation")
def _delete_rta(em, old: Prior):
    em.client("ec2").disassociate_route_table(AssociationId=old.id)


def _perm_keys(rules, inline: bool) -> dict[str, dict]:
    return {json.dumps(p, sort_keys=True): p for p in (_permission(r, inline=inline) for r in rules or [])}


@updates("aws:ec2/securityGroup:SecurityGroup")
def _update_security_group(em, args, i, old: Prior, diffs: set):
    """Inline rules: revoke what is gone, authorize what is new (the provider's update)."""
    ec2 = em.client("ec2")
    for key, revoke, authorize in (("ingress", ec2.revoke_security_group_ingress, ec2.authorize_security_group_ingress),
                                   ("egress", ec2.revoke_security_group_egress, ec2.authorize_security_group_egress)):
        if key not in diffs:
            continue
        before, after = _perm_keys(old.inputs.get(key), True), _perm_keys(i.get(key), True)
        gone = [p for k, p in before.items() if k not in after]
        new = [p for k, p in after.items() if k not in before]
        if gone:
            revoke(GroupId=old.id, IpPermissions=gone)
        if new:
            authorize(GroupId=old.id, IpPermissions=new)
    _ec2_tags(ec2, old.id, old, i, diffs)
    return {"ingress": i.get("ingress") or [], "egress": i.get("egress") or []}


def _group_users(ec2, elbv2, gid: str) -> list[str]:
    """What still uses a security group: instances, load balancers, other groups' rules."""
    users = [inst["InstanceId"] for r in ec2.describe_instances(Filters=[
        {"Name": "instance.group-id", "Values": [gid]},
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])["Reservations"]
        for inst in r["Instances"]]
    users += [lb["LoadBalancerName"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]
              if gid in (lb.get("SecurityGroups") or [])]
    for g in ec2.describe_security_groups()["SecurityGroups"]:
        if g["GroupId"] == gid:
            continue
        for perm in [*g.get("IpPermissions", []), *g.get("IpPermissionsEgress", [])]:
            if any(pair.get("GroupId") == gid for pair in perm.get("UserIdGroupPairs", [])):
                users.append(g["GroupId"])
    return users


# resourceSecurityGroupDelete's retry windows: a first 1-minute attempt, then the rest of the
# delete timeout (schema.DefaultTimeout 15 minutes for aws_security_group).
SG_DELETE_FIRST_RETRY_S, SG_DELETE_TIMEOUT_S = 60, 15 * 60


def _delete_lingering_enis(ec2, gid: str) -> None:
    """deleteLingeringENIs("group-id", id): network interfaces still in the group but no longer
    attached (left by Lambda, load balancers, endpoints) are deleted before the group. Attached
    interfaces are the instances' own and stay (they are what a DependencyViolation reports)."""
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [gid]}])["NetworkInterfaces"]
    for eni in enis:
        if eni.get("Status") == "available" and not eni.get("Attachment"):
            ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])


def _revoke_rules_touching(ec2, gid: str, search_all: bool) -> None:
    """forceRevokeSecurityGroupRules: revoke this group's rules and the rules of other groups that
    reference it (only the groups this one references, or every group when ``search_all``)."""
    if search_all:
        rules = ec2.describe_security_group_rules()["SecurityGroupRules"]
    else:
        group = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
        related = {gid} | {pair["GroupId"] for perm in [*group.get("IpPermissions", []), *group.get("IpPermissionsEgress", [])]
                           for pair in perm.get("UserIdGroupPairs", []) if pair.get("GroupId")}
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": sorted(related)}])["SecurityGroupRules"]
    for rule in rules:
        if rule.get("GroupId") != gid and (rule.get("ReferencedGroupInfo") or {}).get("GroupId") != gid:
            continue
        revoke = ec2.revoke_security_group_egress if rule.get("IsEgress") else ec2.revoke_security_group_ingress
        revoke(GroupId=rule["GroupId"], SecurityGroupRuleIds=[rule["SecurityGroupRuleId"]])


def _try_delete_group(em, ec2, gid: str) -> ClientError | None:
    """One DeleteSecurityGroup; AWS refuses with DependencyViolation while a group is still used
    (EC2 API reference, DeleteSecurityGroup), which moto does not check: the emulator does."""
    users = _group_users(ec2, em.client("elbv2"), gid)
    if users:
        return ClientError({"Error": {"Code": "DependencyViolation", "Message":
                           f"resource {gid} has a dependent object ({', '.join(sorted(set(users))[:4])})"}},
                           "DeleteSecurityGroup")
    try:
        ec2.delete_security_group(GroupId=gid)
    except ClientError as err:
        if err.response["Error"]["Code"] in ("DependencyViolation", "InvalidGroup.InUse"):
            return err
        if err.response["Error"]["Code"] != "InvalidGroup.NotFound":
            raise
    return None


@deletes("aws:ec2/securityGroup:SecurityGroup")
def _delete_security_group(em, old: Prior):
    """terraform-provider-aws v6, internal/service/ec2/vpc_security_group.go, resourceSecurityGroupDelete:
    delete lingering ENIs; revoke the rules touching the group when ``revoke_rules_on_delete``;
    DeleteSecurityGroup retried on DependencyViolation / InvalidGroup.InUse for one minute; then,
    after revoking the rules of every group that references it (``revoke_rules_on_delete`` only),
    retried for the rest of the 15-minute timeout. The emulator applies one step at a time, so no
    other step can free the group while the provider retries: each window is one attempt, and
    ``em.delete_retries`` records what the provider would have waited for."""
    ec2 = em.client("ec2")
    revoke = _bool(old.inputs.get("revokeRulesOnDelete"))
    _delete_lingering_enis(ec2, old.id)
    if revoke:
        _revoke_rules_touching(ec2, old.id, search_all=False)
    err = _try_delete_group(em, ec2, old.id)
    if err is not None:
        em.delete_retries.append((old.id, err.response["Error"]["Code"], SG_DELETE_FIRST_RETRY_S))
        if revoke:
            _revoke_rules_touching(ec2, old.id, search_all=True)
        err = _try_delete_group(em, ec2, old.id)
    if err is not None:
        em.delete_retries.append((old.id, err.response["Error"]["Code"], SG_DELETE_TIMEOUT_S - SG_DELETE_FIRST_RETRY_S))
        e = err.response["Error"]
        raise ClientError({"Error": {"Code": e["Code"], "Message": f"{e['Message']} (still after the provider's "
                                     f"{SG_DELETE_TIMEOUT_S // 60}-minute retry)"}}, "DeleteSecurityGroup")


def _rule_permission_update(i) -> dict:
    return _drop_none({"IpProtocol": str(i.get("ipProtocol")), "FromPort": _int(i.get("fromPort")),
                       "ToPort": _int(i.get("toPort")), "CidrIpv4": i.get("cidrIpv4"), "CidrIpv6": i.get("cidrIpv6"),
                       "PrefixListId": i.get("prefixListId"), "ReferencedGroupId": i.get("referencedSecurityGroupId"),
                       "Description": i.get("description")})


@updates("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
         "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
def _update_sg_rule(em, args, i, old: Prior, diffs: set):
    """ModifySecurityGroupRules, as the provider updates these rule resources in place."""
    ec2 = em.client("ec2")
    if diffs - {"tags"}:
        ec2.modify_security_group_rules(GroupId=i["securityGroupId"], SecurityGroupRules=[
            {"SecurityGroupRuleId": old.id, "SecurityGroupRule": _rule_permission_update(i)}])
    _ec2_tags(ec2, old.id, old, i, diffs)
    return {}


@deletes("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
def _delete_sg_ingress(em, old: Prior):
    em.client("ec2").revoke_security_group_ingress(GroupId=old.inputs["securityGroupId"], SecurityGroupRuleIds=[old.id])


@deletes("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
def _delete_sg_egress(em, old: Prior):
    em.client("ec2").revoke_security_group_egress(GroupId=old.inputs["securityGroupId"], SecurityGroupRuleIds=[old.id])


# The inputs whose change makes a new launch-template version: resourceLaunchTemplateUpdate's
# updateKeys (every data field and ``description``, not name, tags or the default-version inputs).
_LT_NOT_VERSIONED = {"name", "namePrefix", "tags", "tagsAll", "defaultVersion", "updateDefaultVersion"}


@updates("aws:ec2/launchTemplate:LaunchTemplate")
def _update_launch_template(em, args, i, old: Prior, diffs: set):
    """terraform-provider-aws, internal/service/ec2/ec2_launch_template.go, resourceLaunchTemplateUpdate
    (read at 025e4f81): a change of any data field or of ``description`` creates a new version
    (CreateLaunchTemplateVersion, VersionDescription = description); then ModifyLaunchTemplate
    whenever ``update_default_version`` is true (DefaultVersion = the latest version) or
    ``default_version`` changed (DefaultVersion = that number); then tags."""
    ec2 = em.client("ec2")
    out: dict[str, Any] = {}
    latest = int(old.outputs.get("latestVersion") or 1)
    if diffs - _LT_NOT_VERSIONED:
        kw = _drop_none({"LaunchTemplateId": old.id, "LaunchTemplateData": _lt_data(i),
                         "VersionDescription": i.get("description")})
        latest = int(ec2.create_launch_template_version(**kw)["LaunchTemplateVersion"]["VersionNumber"])
        out["latestVersion"] = latest
    if _bool(i.get("updateDefaultVersion")) or "defaultVersion" in diffs:
        default = latest if _bool(i.get("updateDefaultVersion")) else int(i["defaultVersion"])
        ec2.modify_launch_template(LaunchTemplateId=old.id, DefaultVersion=str(default))
        out["defaultVersion"] = default
    _ec2_tags(ec2, old.id, old, i, diffs)
    return out


@deletes("aws:ec2/launchTemplate:LaunchTemplate")
def _delete_launch_template(em, old: Prior):
    em.client("ec2").delete_launch_template(LaunchTemplateId=old.id)


@deletes("aws:ec2/instance:Instance")
def _delete_instance(em, old: Prior):
    em.client("ec2").terminate_instances(InstanceIds=[old.id])
