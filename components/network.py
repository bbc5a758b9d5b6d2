"""Network: a VPC over 2-3 AZs with public and private subnets, or an existing one."""

from __future__ import annotations

import ipaddress
from typing import Optional

import pulumi
import pulumi_aws as aws

from .settings import NetworkSettings


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    vpc_cidr: pulumi.Output[str]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, settings: NetworkSettings, tags: dict[str, str],
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("web-tier:network:Network", name, None, opts)
        self._name = name
        self._tags = tags
        if settings.create_vpc:
            self._create(settings)
        else:
            # Existing network: read the VPC so the CIDR (for internal ALBs) is real.
            existing = aws.ec2.get_vpc_output(id=settings.vpc_id, opts=pulumi.InvokeOutputOptions(parent=self))
            self.vpc_id = pulumi.Output.from_input(settings.vpc_id)
            self.vpc_cidr = existing.cidr_block
            self.public_subnet_ids = [pulumi.Output.from_input(s) for s in settings.public_subnet_ids]
            self.private_subnet_ids = [pulumi.Output.from_input(s) for s in settings.private_subnet_ids]
        self.register_outputs({
            "vpcId": self.vpc_id,
            "publicSubnetIds": self.public_subnet_ids,
            "privateSubnetIds": self.private_subnet_ids,
        })

    def _tagged(self, suffix: str) -> dict[str, str]:
        return {**self._tags, "Name": f"{self._name}-{suffix}"}

    def _create(self, s: NetworkSettings) -> None:
        child = pulumi.ResourceOptions(parent=self)
        azs = aws.get_availability_zones_output(state="available", opts=pulumi.InvokeOutputOptions(parent=self))
        vpc = aws.ec2.Vpc(f"{self._name}-vpc", cidr_block=s.cidr, enable_dns_hostnames=True,
                          enable_dns_support=True, tags=self._tagged("vpc"), opts=child)
        igw = aws.ec2.InternetGateway(f"{self._name}-igw", vpc_id=vpc.id, tags=self._tagged("igw"), opts=child)
        # /16 -> /20 subnets: public take the first az_count, private the next az_count.
        blocks = list(ipaddress.ip_network(s.cidr).subnets(new_prefix=ipaddress.ip_network(s.cidr).prefixlen + 4))
        public_rt = aws.ec2.RouteTable(
            f"{self._name}-public-rt", vpc_id=vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
            tags=self._tagged("public-rt"), opts=child)
        self.public_subnet_ids, self.private_subnet_ids = [], []
        nat_ids: list[pulumi.Output[str]] = []
        for i in range(s.az_count):
            az = azs.names.apply(lambda names, i=i: names[i])
            pub = aws.ec2.Subnet(f"{self._name}-public-{i}", vpc_id=vpc.id, cidr_block=str(blocks[i]),
                                 availability_zone=az, map_public_ip_on_launch=False,
                                 tags=self._tagged(f"public-{i}"), opts=child)
            aws.ec2.RouteTableAssociation(f"{self._name}-public-{i}", subnet_id=pub.id,
                                          route_table_id=public_rt.id, opts=child)
            self.public_subnet_ids.append(pub.id)
            if s.nat_gateways == "per-az" or i == 0:
                eip = aws.ec2.Eip(f"{self._name}-nat-{i}", domain="vpc", tags=self._tagged(f"nat-{i}"), opts=child)
                nat = aws.ec2.NatGateway(f"{self._name}-nat-{i}", allocation_id=eip.id, subnet_id=pub.id,
                                         tags=self._tagged(f"nat-{i}"),
                                         opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]))
                nat_ids.append(nat.id)
        for i in range(s.az_count):
            az = azs.names.apply(lambda names, i=i: names[i])
            priv = aws.ec2.Subnet(f"{self._name}-private-{i}", vpc_id=vpc.id,
                                  cidr_block=str(blocks[s.az_count + i]), availability_zone=az,
                                  tags=self._tagged(f"private-{i}"), opts=child)
            rt = aws.ec2.RouteTable(
                f"{self._name}-private-rt-{i}", vpc_id=vpc.id,
                routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat_ids[i if s.nat_gateways == "per-az" else 0]}],
                tags=self._tagged(f"private-rt-{i}"), opts=child)
            aws.ec2.RouteTableAssociation(f"{self._name}-private-{i}", subnet_id=priv.id,
                                          route_table_id=rt.id, opts=child)
            self.private_subnet_ids.append(priv.id)
        self.vpc_id = vpc.id
        self.vpc_cidr = vpc.cidr_block
