"""The AWS emulator: run a Pulumi program with every resource created in moto.

    with emulated_aws("us-east-1"):
        run = run_program(Path("."), "dev")
        boto3.client("elbv2").describe_load_balancers()   # what "AWS" now holds

``run_program`` drives the program through the Pulumi Python SDK's mock runtime
(``preview=False``, so every ``apply`` runs); :class:`AwsEmulator` creates each custom
resource through the real boto3 API and returns what AWS reads back;
:class:`RecordingMonitor` records every registration with its dependencies.
"""

from lbguard.emulator import speed as _speed

_speed.install()  # before moto is imported: shared botocore loaders, a small AMI list

# The rest loads on first use (PEP 562): `lbguard --help`, `diff` and the config reader
# (lbguard.emulator.config) do not pay for moto and botocore's service models.
_FROM = {"AwsEmulator": "aws", "DEFAULT_AMI": "aws", "ELB_ACCOUNTS": "aws", "HANDLERS": "aws", "INVOKES": "aws",
         "RecordingMonitor": "monitor",
         "emulated_aws": "runner", "load_stack_config": "runner", "run_program": "runner"}


def __getattr__(name: str):
    import importlib

    if name in _FROM:
        value = getattr(importlib.import_module(f"lbguard.emulator.{_FROM[name]}"), name)
    elif name in ("EMULATED_TYPES", "EMULATED_INVOKES"):
        from lbguard.emulator.aws import HANDLERS, INVOKES

        value = (sorted(set(HANDLERS) | {t.replace("aws:lb/", "aws:alb/", 1) for t in HANDLERS
                                         if t.startswith("aws:lb/")})
                 if name == "EMULATED_TYPES" else sorted(INVOKES))
    else:
        raise AttributeError(f"module 'lbguard.emulator' has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = ["AwsEmulator", "DEFAULT_AMI", "ELB_ACCOUNTS", "EMULATED_INVOKES", "EMULATED_TYPES", "RecordingMonitor",
           "emulated_aws", "load_stack_config", "run_program"]
