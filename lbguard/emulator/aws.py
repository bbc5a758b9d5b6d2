"""Pulumi mocks that create each resource through the real boto3 API.

Behind boto3 sits moto (in-process, or a moto server at ``AWS_ENDPOINT_URL``).
``new_resource`` calls the same API the AWS provider would call with the resource's
inputs, reads the result back with ``describe_*``, and returns it under the output
names pulumi-aws uses. botocore validates every request against the service model
before moto sees it, so wrong types, missing fields and out-of-range numbers fail
here as they would against AWS.

Inputs arrive camelCase with numbers as floats (the engine's wire format); handlers
convert at the edge. Types without a handler are echoed and reported as not emulated.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import threading
import zipfile
from typing import Any, Callable, Mapping

import boto3
import pulumi
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from lbguard import shapes
from lbguard.aws_facts import ELB_LOG_ACCOUNTS, partition
from lbguard.model import is_secret

ACCOUNT = "123456789012"
# getServiceAccount answers from the same documented table the components use.
ELB_ACCOUNTS = ELB_LOG_ACCOUNTS

Handler = Callable[["AwsEmulator", pulumi.runtime.MockResourceArgs, dict], tuple[str, dict]]
HANDLERS: dict[str, Handler] = {}


def handles(*types: str):
    def register(fn: Handler) -> Handler:
        for t in types:
            HANDLERS[t] = fn
        return fn
    return register


def _int(v: Any) -> int | None:
    return None if v is None else int(v)


def _bool(v: Any) -> bool:
    return v in (True, "true", "True", 1)


def _tags_list(tags: Mapping[str, str] | None) -> list[dict]:
    return [{"Key": k, "Value": str(v)} for k, v in (tags or {}).items()]


def _drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None and v != [] and v != {}}


def _auto_name(logical: str, max_len: int = 255, lower: bool = False, sep: str = "-") -> str:
    """pulumi-style auto-name: logical name plus a 7-hex random suffix, within ``max_len``."""
    suffix = secrets.token_hex(4)[:7]
    base = logical[: max_len - len(suffix) - 1]
    name = f"{base}{sep}{suffix}"
    return name.lower() if lower else name


# A fixed AMI moto knows; used where the program asks AWS for one (``getAmi``) and for
# instances launched from a template without an image. ``describe_images`` is slow in moto.
DEFAULT_AMI = "ami-12c6146b"


class AwsEmulator(pulumi.runtime.Mocks):
    """Pulumi mocks backed by boto3 (moto in-process, or the server at ``AWS_ENDPOINT_URL``).

    The Pulumi runtime calls ``new_resource`` / ``call`` from a thread pool; calls are
    serialized here (moto is not built for concurrent writers, and GIL contention made
    concurrent calls slower than serial ones).
    """

    def __init__(self, region: str = "us-east-1"):
        self.region = region
        self._clients: dict[str, Any] = {}
        self._lock = threading.RLock()
        self.not_emulated: set[tuple[str, str]] = set()
        self.unknown_invokes: list[str] = []
        self.certificates: dict[str, str] = {}  # certificate ARN in the program -> ARN held by the emulator

    def client(self, service: str):
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=self.region, config=_BOTO_CONFIG)
        return self._clients[service]

    @staticmethod
    def emulates(typ: str, import_id: str | None = None) -> bool:
        """Whether a custom resource of ``typ`` is created in AWS (providers hold no AWS state)."""
        if typ.startswith("pulumi:providers:"):
            return True
        return import_id is None and typ.replace("aws:alb/", "aws:lb/", 1) in HANDLERS

    # -------------------------------------------------------------- Mocks API

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        typ = args.typ
        if not args.custom and not typ.startswith("pulumi:providers:"):
            return "", {}  # component resource: nothing in AWS
        if typ.startswith("pulumi:providers:"):
            return f"{args.name}-provider", dict(args.inputs)
        inputs = _floats_to_ints(dict(args.inputs))
        if args.resource_id:  # import / read of an existing resource: nothing to create
            self.not_emulated.add((typ, args.name))
            return args.resource_id, inputs
        handler = HANDLERS.get(typ.replace("aws:alb/", "aws:lb/", 1))
        if handler is None:
            self.not_emulated.add((typ, args.name))
            return f"{args.name}-{secrets.token_hex(4)}", inputs
        with self._lock:
            rid, outputs = handler(self, args, inputs)
        return rid, {**inputs, **outputs}

    def call(self, args: pulumi.runtime.MockCallArgs):
        tok = args.token
        fn = INVOKES.get(tok)
        if fn is None:
            self.unknown_invokes.append(tok)
            return {}
        with self._lock:
            return fn(self, _floats_to_ints(dict(args.args or {})))


_BOTO_CONFIG = BotoConfig(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"})

Invoke = Callable[[AwsEmulator, dict], dict]
INVOKES: dict[str, Invoke] = {}


def invoke(*tokens: str):
    def register(fn: Invoke) -> Invoke:
        for t in tokens:
            INVOKES[t] = fn
        return fn
    return register


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


@invoke("aws:index/getAvailabilityZones:getAvailabilityZones")
def _get_azs(em: AwsEmulator, a: dict) -> dict:
    zones = em.client("ec2").describe_availability_zones()["AvailabilityZones"]
    state = a.get("state")
    zones = [z for z in zones if not state or z.get("State", "available") == state]
    excluded = set(a.get("excludeNames") or []), set(a.get("excludeZoneIds") or [])
    zones = [z for z in zones if z["ZoneName"] not in excluded[0] and z["ZoneId"] not in excluded[1]]
    return {"names": [z["ZoneName"] for z in zones], "zoneIds": [z["ZoneId"] for z in zones],
            "id": em.region, "state": state, "groupNames": [em.region]}


@invoke("aws:elb/getServiceAccount:getServiceAccount", "aws:lb/getServiceAccount:getServiceAccount")
def _get_elb_service_account(em: AwsEmulator, a: dict) -> dict:
    r = a.get("region") or em.region
    acct = ELB_ACCOUNTS.get(r)
    if acct is None:
        raise ValueError(f"no ELB service account for region {r}: use the log-delivery service principal")
    return {"id": acct, "arn": f"arn:{partition(r)}:iam::{acct}:root", "region": r}


@invoke("aws:ec2/getVpc:getVpc")
def _get_vpc(em: AwsEmulator, a: dict) -> dict:
    kw = {"VpcIds": [a["id"]]} if a.get("id") else {"Filters": [{"Name": "isDefault", "Values": ["true"]}]}
    vpc = em.client("ec2").describe_vpcs(**kw)["Vpcs"][0]
    return {"id": vpc["VpcId"], "cidrBlock": vpc["CidrBlock"], "arn": _arn("ec2", f"vpc/{vpc['VpcId']}", em.region),
            "default": vpc.get("IsDefault", False), "ownerId": vpc.get("OwnerId", ACCOUNT)}


@invoke("aws:ec2/getAmi:getAmi")
def _get_ami(em: AwsEmulator, a: dict) -> dict:
    # The program's filters cannot be honoured without describe_images (slow in moto):
    # answer with one fixed image moto knows.
    return {"id": DEFAULT_AMI, "imageId": DEFAULT_AMI, "architecture": "x86_64", "name": "lbguard-emulator-image",
            "arn": f"arn:aws:ec2:{em.region}::image/{DEFAULT_AMI}", "rootDeviceName": "/dev/xvda"}


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


def _floats_to_ints(value: Any) -> Any:
    """Engine wire values to what the API takes: integral floats -> int, secrets unwrapped
    (the provider sees secret inputs in plain text too)."""
    if isinstance(value, dict):
        if is_secret(value):
            return _floats_to_ints(value.get("value"))
        return {k: _floats_to_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats_to_ints(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _arn(service: str, resource: str, region: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


# ================================================================== EC2 / VPC


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
    a = em.client("ec2").allocate_address(Domain=i.get("domain", "vpc"))
    return a["AllocationId"], {"id": a["AllocationId"], "allocationId": a["AllocationId"], "publicIp": a["PublicIp"],
                               "domain": a.get("Domain", "vpc")}


@handles("aws:ec2/natGateway:NatGateway")
def _nat(em, args, i):
    ng = em.client("ec2").create_nat_gateway(**_drop_none({
        "SubnetId": i["subnetId"], "AllocationId": i.get("allocationId"),
        "ConnectivityType": i.get("connectivityType")}))["NatGateway"]
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
    ec2 = em.client("ec2")
    name = i.get("name") or _auto_name(i.get("namePrefix") or args.name, 128)
    kw: dict[str, Any] = {"LaunchTemplateName": name, "LaunchTemplateData": _lt_data(i)}
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


# ================================================================== ELBv2

_LB_ATTRS = {  # pulumi input -> (attribute key, kind)
    "enableDeletionProtection": ("deletion_protection.enabled", "bool"),
    "dropInvalidHeaderFields": ("routing.http.drop_invalid_header_fields.enabled", "bool"),
    "desyncMitigationMode": ("routing.http.desync_mitigation_mode", "str"),
    "idleTimeout": ("idle_timeout.timeout_seconds", "int"),
    "enableHttp2": ("routing.http2.enabled", "bool"),
    "enableCrossZoneLoadBalancing": ("load_balancing.cross_zone.enabled", "bool"),
    "preserveHostHeader": ("routing.http.preserve_host_header.enabled", "bool"),
    "xffHeaderProcessingMode": ("routing.http.xff_header_processing.mode", "str"),
    "enableWafFailOpen": ("waf.fail_open.enabled", "bool"),
    "enableTlsVersionAndCipherSuiteHeaders": ("routing.http.x_amzn_tls_version_and_cipher_suite.enabled", "bool"),
    "enableXffClientPort": ("routing.http.xff_client_port.enabled", "bool"),
    "clientKeepAlive": ("client_keep_alive.seconds", "int"),
}
_LOG_ATTRS = {"accessLogs": "access_logs.s3", "connectionLogs": "connection_logs.s3"}


def _attr_str(value: Any, kind: str) -> str:
    if kind == "bool":
        return "true" if _bool(value) else "false"
    return str(int(value)) if kind == "int" else str(value)


def _attr_value(value: str, kind: str) -> Any:
    return value == "true" if kind == "bool" else int(value) if kind == "int" else value


@handles("aws:lb/loadBalancer:LoadBalancer")
def _load_balancer(em, args, i):
    elbv2 = em.client("elbv2")
    name = i.get("name") or _auto_name(i.get("namePrefix") or args.name, 32)
    kw = _drop_none({"Name": name, "Subnets": i.get("subnets"), "SecurityGroups": i.get("securityGroups"),
                     "Scheme": "internal" if _bool(i.get("internal")) else "internet-facing",
                     "Type": i.get("loadBalancerType", "application"), "IpAddressType": i.get("ipAddressType"),
                     "Tags": _tags_list(i.get("tags"))})
    lb = elbv2.create_load_balancer(**kw)["LoadBalancers"][0]
    arn = lb["LoadBalancerArn"]
    attrs = [{"Key": key, "Value": _attr_str(i[p], kind)} for p, (key, kind) in _LB_ATTRS.items() if p in i]
    for p, prefix in _LOG_ATTRS.items():
        logs = i.get(p)
        if logs:
            attrs += [{"Key": f"{prefix}.enabled", "Value": _attr_str(logs.get("enabled", False), "bool")},
                      {"Key": f"{prefix}.bucket", "Value": logs.get("bucket", "")},
                      {"Key": f"{prefix}.prefix", "Value": logs.get("prefix") or ""}]
    if attrs:
        elbv2.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=attrs)
    held = {a["Key"]: a["Value"] for a in elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]}
    out = {"id": arn, "arn": arn, "arnSuffix": arn.split(":loadbalancer/", 1)[1], "name": lb["LoadBalancerName"],
           "dnsName": lb["DNSName"], "zoneId": lb.get("CanonicalHostedZoneId"), "vpcId": lb.get("VpcId"),
           "internal": lb["Scheme"] == "internal", "loadBalancerType": lb["Type"],
           "securityGroups": lb.get("SecurityGroups", []),
           "subnets": [z["SubnetId"] for z in lb.get("AvailabilityZones", [])]}
    for p, (key, kind) in _LB_ATTRS.items():
        if key in held:
            out[p] = _attr_value(held[key], kind)
    for p, prefix in _LOG_ATTRS.items():
        if f"{prefix}.bucket" in held:
            out[p] = {"bucket": held[f"{prefix}.bucket"], "prefix": held.get(f"{prefix}.prefix", ""),
                      "enabled": held.get(f"{prefix}.enabled") == "true"}
    return arn, out


_TG_ATTRS = {
    "deregistrationDelay": ("deregistration_delay.timeout_seconds", "int"),
    "slowStart": ("slow_start.duration_seconds", "int"),
    "loadBalancingAlgorithmType": ("load_balancing.algorithm.type", "str"),
    "loadBalancingAnomalyMitigation": ("load_balancing.algorithm.anomaly_mitigation", "str"),
    "loadBalancingCrossZoneEnabled": ("load_balancing.cross_zone.enabled", "str"),
}


@handles("aws:lb/targetGroup:TargetGroup")
def _target_group(em, args, i):
    elbv2 = em.client("elbv2")
    name = i.get("name") or _auto_name(i.get("namePrefix") or args.name, 32)
    hc = i.get("healthCheck") or {}
    kw = _drop_none({
        "Name": name, "Protocol": i.get("protocol"), "ProtocolVersion": i.get("protocolVersion"),
        "Port": _int(i.get("port")), "VpcId": i.get("vpcId"), "TargetType": i.get("targetType", "instance"),
        "HealthCheckEnabled": _bool(hc["enabled"]) if "enabled" in hc else None,
        "HealthCheckProtocol": hc.get("protocol"), "HealthCheckPort": hc.get("port"), "HealthCheckPath": hc.get("path"),
        "HealthCheckIntervalSeconds": _int(hc.get("interval")), "HealthCheckTimeoutSeconds": _int(hc.get("timeout")),
        "HealthyThresholdCount": _int(hc.get("healthyThreshold")),
        "UnhealthyThresholdCount": _int(hc.get("unhealthyThreshold")),
        "Matcher": {"HttpCode": hc["matcher"]} if hc.get("matcher") else None,
        "Tags": _tags_list(i.get("tags"))})
    tg = elbv2.create_target_group(**kw)["TargetGroups"][0]
    arn = tg["TargetGroupArn"]
    attrs = [{"Key": key, "Value": _attr_str(i[p], kind)} for p, (key, kind) in _TG_ATTRS.items() if p in i]
    st = i.get("stickiness")
    if st:
        attrs.append({"Key": "stickiness.enabled", "Value": _attr_str(st.get("enabled", True), "bool")})
        if st.get("type"):
            attrs.append({"Key": "stickiness.type", "Value": st["type"]})
        if st.get("cookieDuration") is not None:
            attrs.append({"Key": "stickiness.lb_cookie.duration_seconds", "Value": str(int(st["cookieDuration"]))})
    if attrs:
        elbv2.modify_target_group_attributes(TargetGroupArn=arn, Attributes=attrs)
    tg = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
    held = {a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]}
    out = {"id": arn, "arn": arn, "arnSuffix": arn.split(":", 5)[5], "name": tg["TargetGroupName"],
           "port": tg.get("Port"), "protocol": tg.get("Protocol"), "vpcId": tg.get("VpcId"),
           "targetType": tg.get("TargetType"),
           "healthCheck": {"enabled": tg.get("HealthCheckEnabled"), "path": tg.get("HealthCheckPath"),
                           "port": tg.get("HealthCheckPort"), "protocol": tg.get("HealthCheckProtocol"),
                           "interval": tg.get("HealthCheckIntervalSeconds"),
                           "timeout": tg.get("HealthCheckTimeoutSeconds"),
                           "healthyThreshold": tg.get("HealthyThresholdCount"),
                           "unhealthyThreshold": tg.get("UnhealthyThresholdCount"),
                           "matcher": (tg.get("Matcher") or {}).get("HttpCode")}}
    for p, (key, kind) in _TG_ATTRS.items():
        if key in held:
            out[p] = _attr_value(held[key], kind)
    if "stickiness.enabled" in held:
        out["stickiness"] = {"enabled": held["stickiness.enabled"] == "true", "type": held.get("stickiness.type"),
                             "cookieDuration": int(held.get("stickiness.lb_cookie.duration_seconds", 86400))}
    return arn, out


_SELF_SIGNED: tuple[bytes, bytes] | None = None


def _self_signed() -> tuple[bytes, bytes]:
    """One self-signed certificate per process (key generation is the slow part)."""
    global _SELF_SIGNED
    if _SELF_SIGNED is None:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lbguard.emulator.invalid")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=365)).sign(key, hashes.SHA256()))
        _SELF_SIGNED = (cert.public_bytes(serialization.Encoding.PEM),
                        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                          serialization.NoEncryption()))
    return _SELF_SIGNED


def _acm_certificate(em: AwsEmulator, arn: str) -> str:
    """An ACM certificate ARN the emulator holds, standing in for ``arn``.

    A stack names a real certificate, which cannot exist in the emulator under that
    ARN. If it is not there, a self-signed certificate is imported through the ACM
    API and used instead; the substitution is recorded in ``em.certificates``.
    """
    if arn in em.certificates:
        return em.certificates[arn]
    acm = em.client("acm")
    try:
        acm.describe_certificate(CertificateArn=arn)
        em.certificates[arn] = arn
    except ClientError:
        cert, key = _self_signed()
        em.certificates[arn] = acm.import_certificate(Certificate=cert, PrivateKey=key)["CertificateArn"]
    return em.certificates[arn]


@handles("aws:lb/listener:Listener")
def _listener(em, args, i):
    elbv2 = em.client("elbv2")
    kw = _drop_none({
        "LoadBalancerArn": i["loadBalancerArn"], "Port": _int(i.get("port")), "Protocol": i.get("protocol"),
        "SslPolicy": i.get("sslPolicy"),
        "Certificates": [{"CertificateArn": _acm_certificate(em, i["certificateArn"])}] if i.get("certificateArn") else None,
        "AlpnPolicy": [i["alpnPolicy"]] if i.get("alpnPolicy") else None,
        "DefaultActions": [shapes.action_to_api(a) for a in i.get("defaultActions") or []],
        "Tags": _tags_list(i.get("tags"))})
    lst = elbv2.create_listener(**kw)["Listeners"][0]
    arn = lst["ListenerArn"]
    held = elbv2.describe_listeners(ListenerArns=[arn])["Listeners"][0]
    certs = held.get("Certificates") or []
    stand_ins = {v: k for k, v in em.certificates.items()}  # report the ARN the program named
    return arn, {"id": arn, "arn": arn, "port": held.get("Port"), "protocol": held.get("Protocol"),
                 "sslPolicy": held.get("SslPolicy"), "loadBalancerArn": held["LoadBalancerArn"],
                 "certificateArn": stand_ins.get(certs[0]["CertificateArn"], certs[0]["CertificateArn"]) if certs else None,
                 "defaultActions": [shapes.action_from_api(a) for a in held["DefaultActions"]]}


@handles("aws:lb/listenerRule:ListenerRule")
def _listener_rule(em, args, i):
    elbv2 = em.client("elbv2")
    kw = _drop_none({
        "ListenerArn": i["listenerArn"], "Priority": _int(i.get("priority")),
        "Conditions": [shapes.condition_to_api(c) for c in i.get("conditions") or []],
        "Actions": [shapes.action_to_api(a) for a in i.get("actions") or []],
        "Tags": _tags_list(i.get("tags"))})
    rule = elbv2.create_rule(**kw)["Rules"][0]
    arn = rule["RuleArn"]
    held = elbv2.describe_rules(RuleArns=[arn])["Rules"][0]
    return arn, {"id": arn, "arn": arn, "listenerArn": i["listenerArn"], "priority": int(held["Priority"]),
                 "conditions": [shapes.condition_from_api(c) for c in held["Conditions"]],
                 "actions": [shapes.action_from_api(a) for a in held["Actions"]]}


@handles("aws:lb/targetGroupAttachment:TargetGroupAttachment")
def _tg_attachment(em, args, i):
    target = _drop_none({"Id": i["targetId"], "Port": _int(i.get("port")), "AvailabilityZone": i.get("availabilityZone")})
    em.client("elbv2").register_targets(TargetGroupArn=i["targetGroupArn"], Targets=[target])
    return f"{i['targetGroupArn']}-{i['targetId']}", {}


# ================================================================== Auto Scaling


@handles("aws:autoscaling/group:Group")
def _asg(em, args, i):
    asc = em.client("autoscaling")
    name = i.get("name") or _auto_name(i.get("namePrefix") or args.name)
    lt = i.get("launchTemplate") or {}
    tags = [_drop_none({"Key": t["key"], "Value": t["value"], "PropagateAtLaunch": _bool(t.get("propagateAtLaunch")),
                        "ResourceId": name, "ResourceType": "auto-scaling-group"}) for t in i.get("tags") or []]
    kw = _drop_none({
        "AutoScalingGroupName": name, "MinSize": _int(i.get("minSize")), "MaxSize": _int(i.get("maxSize")),
        "DesiredCapacity": _int(i.get("desiredCapacity")),
        "LaunchTemplate": _drop_none({"LaunchTemplateId": lt.get("id"), "LaunchTemplateName": lt.get("name"),
                                      "Version": str(lt["version"]) if lt.get("version") is not None else None}) or None,
        "VPCZoneIdentifier": ",".join(i["vpcZoneIdentifiers"]) if i.get("vpcZoneIdentifiers") else None,
        "AvailabilityZones": i.get("availabilityZones"), "TargetGroupARNs": i.get("targetGroupArns"),
        "HealthCheckType": i.get("healthCheckType"), "HealthCheckGracePeriod": _int(i.get("healthCheckGracePeriod")),
        "DefaultInstanceWarmup": _int(i.get("defaultInstanceWarmup")), "Tags": tags})
    asc.create_auto_scaling_group(**kw)
    held = asc.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return name, {"id": name, "name": name, "arn": held.get("AutoScalingGroupARN"),
                  "minSize": held["MinSize"], "maxSize": held["MaxSize"], "desiredCapacity": held["DesiredCapacity"],
                  "targetGroupArns": held.get("TargetGroupARNs", []),
                  "vpcZoneIdentifiers": [s for s in (held.get("VPCZoneIdentifier") or "").split(",") if s],
                  "availabilityZones": held.get("AvailabilityZones", []),
                  "healthCheckType": held.get("HealthCheckType"),
                  "healthCheckGracePeriod": held.get("HealthCheckGracePeriod")}


@handles("aws:autoscaling/policy:Policy")
def _scaling_policy(em, args, i):
    asc = em.client("autoscaling")
    name = i.get("name") or _auto_name(args.name)
    kw: dict[str, Any] = _drop_none({"AutoScalingGroupName": i["autoscalingGroupName"], "PolicyName": name,
                                     "PolicyType": i.get("policyType", "SimpleScaling"),
                                     "AdjustmentType": i.get("adjustmentType"),
                                     "ScalingAdjustment": _int(i.get("scalingAdjustment")),
                                     "EstimatedInstanceWarmup": _int(i.get("estimatedInstanceWarmup"))})
    tt = i.get("targetTrackingConfiguration")
    if tt:
        cfg: dict[str, Any] = {"TargetValue": float(tt["targetValue"])}
        spec = tt.get("predefinedMetricSpecification")
        if spec:
            cfg["PredefinedMetricSpecification"] = _drop_none({"PredefinedMetricType": spec["predefinedMetricType"],
                                                               "ResourceLabel": spec.get("resourceLabel")})
        if "disableScaleIn" in tt:
            cfg["DisableScaleIn"] = _bool(tt["disableScaleIn"])
        kw["TargetTrackingConfiguration"] = cfg
    asc.put_scaling_policy(**kw)
    held = asc.describe_policies(AutoScalingGroupName=kw["AutoScalingGroupName"], PolicyNames=[name])["ScalingPolicies"]
    arn = held[0]["PolicyARN"]
    return name, {"id": name, "name": name, "arn": arn}


@handles("aws:autoscaling/attachment:Attachment")
def _asg_attachment(em, args, i):
    asc = em.client("autoscaling")
    if i.get("lbTargetGroupArn"):
        asc.attach_load_balancer_target_groups(AutoScalingGroupName=i["autoscalingGroupName"],
                                               TargetGroupARNs=[i["lbTargetGroupArn"]])
    return f"{i['autoscalingGroupName']}-{secrets.token_hex(4)}", {}


# ================================================================== S3


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
         "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2")
def _bucket_sse(em, args, i):
    rules = []
    for r in i.get("rules") or []:
        d = r.get("applyServerSideEncryptionByDefault") or {}
        rules.append(_drop_none({"ApplyServerSideEncryptionByDefault": _drop_none({
            "SSEAlgorithm": d.get("sseAlgorithm"), "KMSMasterKeyID": d.get("kmsMasterKeyId")}),
            "BucketKeyEnabled": _bool(r["bucketKeyEnabled"]) if "bucketKeyEnabled" in r else None}))
    em.client("s3").put_bucket_encryption(Bucket=i["bucket"], ServerSideEncryptionConfiguration={"Rules": rules})
    return i["bucket"], {}


@handles("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
def _bucket_pab(em, args, i):
    cfg = {k[0].upper() + k[1:]: _bool(i.get(k, False)) for k in
           ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")}
    cfg = {"BlockPublicAcls": cfg["BlockPublicAcls"], "BlockPublicPolicy": cfg["BlockPublicPolicy"],
           "IgnorePublicAcls": cfg["IgnorePublicAcls"], "RestrictPublicBuckets": cfg["RestrictPublicBuckets"]}
    em.client("s3").put_public_access_block(Bucket=i["bucket"], PublicAccessBlockConfiguration=cfg)
    return i["bucket"], {}


@handles("aws:s3/bucketPolicy:BucketPolicy")
def _bucket_policy(em, args, i):
    policy = i["policy"] if isinstance(i["policy"], str) else json.dumps(i["policy"])
    em.client("s3").put_bucket_policy(Bucket=i["bucket"], Policy=policy)
    return i["bucket"], {"policy": policy}


@handles("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
def _bucket_ownership(em, args, i):
    em.client("s3").put_bucket_ownership_controls(
        Bucket=i["bucket"], OwnershipControls={"Rules": [{"ObjectOwnership": i["rule"]["objectOwnership"]}]})
    return i["bucket"], {}


@handles("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
def _bucket_versioning(em, args, i):
    em.client("s3").put_bucket_versioning(
        Bucket=i["bucket"], VersioningConfiguration={"Status": i["versioningConfiguration"]["status"]})
    return i["bucket"], {}


@handles("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
         "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2")
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


# ================================================================== SNS, CloudWatch, Logs, SSM


@handles("aws:sns/topic:Topic")
def _topic(em, args, i):
    name = i.get("name") or _auto_name(i.get("namePrefix") or args.name, 256)
    attrs = _drop_none({"KmsMasterKeyId": i.get("kmsMasterKeyId"), "DisplayName": i.get("displayName")})
    arn = em.client("sns").create_topic(Name=name, Attributes=attrs, Tags=_tags_list(i.get("tags")))["TopicArn"]
    return arn, {"id": arn, "arn": arn, "name": name}


@handles("aws:sns/topicSubscription:TopicSubscription")
def _subscription(em, args, i):
    arn = em.client("sns").subscribe(TopicArn=i["topic"], Protocol=i["protocol"], Endpoint=i["endpoint"],
                                     ReturnSubscriptionArn=True)["SubscriptionArn"]
    return arn, {"id": arn, "arn": arn}


def _metric_queries(queries: list) -> list[dict]:
    out = []
    for q in queries or []:
        m: dict[str, Any] = _drop_none({"Id": q["id"], "Expression": q.get("expression"), "Label": q.get("label"),
                                        "ReturnData": _bool(q["returnData"]) if "returnData" in q else None,
                                        "Period": _int(q.get("period")) if q.get("expression") else None})
        if q.get("metric"):
            mm = q["metric"]
            m["MetricStat"] = _drop_none({
                "Metric": _drop_none({"Namespace": mm.get("namespace"), "MetricName": mm["metricName"],
                                      "Dimensions": [{"Name": k, "Value": v} for k, v in (mm.get("dimensions") or {}).items()]}),
                "Period": _int(mm.get("period")), "Stat": mm.get("stat"), "Unit": mm.get("unit")})
        out.append(m)
    return out


@handles("aws:cloudwatch/metricAlarm:MetricAlarm")
def _alarm(em, args, i):
    name = i.get("name") or _auto_name(args.name)
    kw = _drop_none({
        "AlarmName": name, "AlarmDescription": i.get("alarmDescription"),
        "ActionsEnabled": _bool(i.get("actionsEnabled", True)),
        "AlarmActions": i.get("alarmActions"), "OKActions": i.get("okActions"),
        "InsufficientDataActions": i.get("insufficientDataActions"),
        "MetricName": i.get("metricName"), "Namespace": i.get("namespace"),
        "Statistic": i.get("statistic"), "ExtendedStatistic": i.get("extendedStatistic"),
        "Dimensions": [{"Name": k, "Value": v} for k, v in (i.get("dimensions") or {}).items()],
        "Period": _int(i.get("period")), "Unit": i.get("unit"),
        "EvaluationPeriods": _int(i.get("evaluationPeriods")), "DatapointsToAlarm": _int(i.get("datapointsToAlarm")),
        "Threshold": float(i["threshold"]) if i.get("threshold") is not None else None,
        "ComparisonOperator": i.get("comparisonOperator"), "TreatMissingData": i.get("treatMissingData"),
        "ThresholdMetricId": i.get("thresholdMetricId"),
        "Metrics": _metric_queries(i.get("metricQueries")), "Tags": _tags_list(i.get("tags"))})
    cw = em.client("cloudwatch")
    cw.put_metric_alarm(**kw)
    arn = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
    return name, {"id": name, "name": name, "arn": arn}


@handles("aws:cloudwatch/dashboard:Dashboard")
def _dashboard(em, args, i):
    body = i["dashboardBody"] if isinstance(i["dashboardBody"], str) else json.dumps(i["dashboardBody"])
    cw = em.client("cloudwatch")
    cw.put_dashboard(DashboardName=i["dashboardName"], DashboardBody=body)
    arn = cw.get_dashboard(DashboardName=i["dashboardName"])["DashboardArn"]
    return i["dashboardName"], {"id": i["dashboardName"], "dashboardArn": arn}


@handles("aws:cloudwatch/logGroup:LogGroup")
def _log_group(em, args, i):
    name = i.get("name") or _auto_name(i.get("namePrefix") or args.name, 512)
    logs = em.client("logs")
    logs.create_log_group(**_drop_none({"logGroupName": name, "kmsKeyId": i.get("kmsKeyId"), "tags": i.get("tags")}))
    if i.get("retentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(i["retentionInDays"]))
    return name, {"id": name, "name": name, "arn": _arn("logs", f"log-group:{name}", em.region)}


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


# ================================================================== IAM, Lambda


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


@handles("aws:iam/rolePolicy:RolePolicy")
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
    fn = em.client("lambda").create_function(**_drop_none({
        "FunctionName": name, "Runtime": i.get("runtime"), "Role": i["role"], "Handler": i.get("handler"),
        "Code": code, "Timeout": _int(i.get("timeout")), "MemorySize": _int(i.get("memorySize")),
        "Description": i.get("description"), "Environment": {"Variables": env} if env else None,
        "Architectures": i.get("architectures"), "Tags": i.get("tags")}))
    held = em.client("lambda").get_function(FunctionName=name)["Configuration"]
    return name, {"id": name, "name": name, "arn": held["FunctionArn"], "invokeArn":
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
