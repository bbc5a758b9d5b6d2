"""The web-tier component provider: serves `web-tier:index:WebTier` to the Pulumi engine.

Started by the Python language host as `python <this directory> <engine address> [flags]`; the
schema is inferred from webtier.provider's types by the SDK's analyzer (pulumi 3.272,
pulumi/provider/experimental/host.py `component_provider_host`).
"""

import importlib.metadata

from pulumi.provider.experimental import component_provider_host

from webtier.provider import WebTier

if __name__ == "__main__":
    component_provider_host(components=[WebTier], name="web-tier", version=importlib.metadata.version("lbguard"))
