"""The engine's plan, pure: the bridge's Check and Diff (bridge), the engine's step rules (engine), races
between independent steps (order), the traffic during an apply (transition), property paths (paths).
Each rule cites the source it follows; docs/preview.md lists them."""
