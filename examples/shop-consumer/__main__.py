"""shop: a storefront and its API behind the web tier, used as an installed component.

The component and its settings model come from the `webtier` package (lbguard's wheel with the
`component` extra); the settings are the shop's own, validated by the same model as the web-tier
project's stack files (one line per problem, before any resource is registered).
"""

import pulumi

from webtier import WebTier, parse_settings
from webtier.settings import stack_region

config = pulumi.Config()
stack = pulumi.get_stack()
settings = parse_settings(
    {
        "network": {"cidr": "10.40.0.0/16", "azCount": 2},
        "loadBalancer": {"deletionProtection": stack == "prod"},
        "listeners": {"certificateArn": config.require("certificateArn")},
        "peakRequestsPerSecond": config.require_float("peakRequestsPerSecond"),
        "pools": {
            # Four storefront instances: losing an AZ leaves two, enough for 70% of the peak.
            "store": {"ami": "ami-0c7217cdde317cfec", "instanceType": "t3.medium", "minSize": 4,
                      "desiredCapacity": 4, "maxSize": 8, "capacityRps": 150, "port": 8080,
                      "healthCheck": {"path": "/healthz", "intervalSeconds": 10}},
            "api": {"ami": "ami-0c7217cdde317cfec", "instanceType": "c6i.large", "minSize": 2,
                    "desiredCapacity": 2, "maxSize": 6, "capacityRps": 100, "port": 9000,
                    "healthCheck": {"path": "/api/health"}},
        },
        "routing": {
            "default": {"forward": {"weights": {"store": 1}}},
            "rules": {
                "api": {"priority": 10, "conditions": {"path": ["/api/*"]}, "expectedShare": 0.3,
                        "forward": {"weights": {"api": 1}}},
                "robots": {"priority": 20, "conditions": {"path": ["/robots.txt"]},
                           "fixedResponse": {"statusCode": 200, "messageBody": "User-agent: *\nDisallow: /cart\n"}},
            },
        },
        "tags": {"team": "shop"},
    },
    stack=stack, stack_file="shop __main__.py", region=stack_region(), project=pulumi.get_project(),
)

shop = WebTier("shop", settings)

pulumi.export("dnsName", shop.dns_name)
pulumi.export("targetGroupArns", {key: pool.target_group.arn for key, pool in shop.pools.items()})
# The routing snapshot: what `lbguard rollback` restores, and what the lb-safety pack requires.
pulumi.export("rollback", shop.rollback)
