"""The AWS emulator: run a Pulumi program with every resource created in moto.

    with emulated_aws("us-east-1"):
        run = run_program(Path("."), "dev")
        boto3.client("elbv2").describe_load_balancers()   # what "AWS" now holds
"""

from lbguard.emulator.aws import HANDLERS, AwsEmulator
from lbguard.emulator.runner import RecordingMonitor, emulated_aws, load_stack_config, run_program

EMULATED_TYPES = sorted(set(HANDLERS) | {t.replace("aws:lb/", "aws:alb/", 1) for t in HANDLERS if t.startswith("aws:lb/")})

__all__ = ["AwsEmulator", "EMULATED_TYPES", "RecordingMonitor", "emulated_aws", "load_stack_config", "run_program"]
