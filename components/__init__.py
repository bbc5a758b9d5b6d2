"""The web tier's Pulumi components. Installed from lbguard's wheel as the package ``webtier``
(``pip install 'lbguard[component]'``; setup.py maps that name onto this directory), used from
this project's own program as ``components``. Names load on first use: importing the settings
alone does not import pulumi_aws."""

_EXPORTS = {
    "WebTier": ".web_tier",
    "WebTierSettings": ".settings",
    "SettingsError": ".settings",
    "parse_settings": ".settings",
    "load_settings": ".settings",
    "load_traffic_profile": ".settings",
    "WebTierArgs": ".provider",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
