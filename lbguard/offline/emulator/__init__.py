"""The AWS emulator: run a Pulumi program with every resource created in moto.

    with emulated_aws("us-east-1"):
        run = run_program(Path("."), "dev")
        boto3.client("elbv2").describe_load_balancers()   # what "AWS" now holds

``run_program`` drives the program through the Pulumi Python SDK's mock runtime
(``preview=False``, so every ``apply`` runs); :class:`AwsEmulator` creates each custom
resource through the real boto3 API and returns what AWS reads back;
:class:`RecordingMonitor` records every registration with its dependencies.
"""

from lbguard.accel.gcpause import paused as _paused

with _paused():  # boto3, pulumi and the handlers: long-lived objects, no garbage (lbguard.accel.gcpause)
    import os as _os

    from lbguard.accel.speed import IMAGES_FILE as _IMAGES

    # moto's documented switch, read when moto.ec2 is imported: the emulator's public images
    # are this list (getAmi answers from it too); a caller's own list wins. Not an acceleration:
    # it decides what describe_images answers.
    _os.environ.setdefault("MOTO_AMIS_PATH", str(_IMAGES))

    from lbguard.offline.emulator.aws import DEFAULT_AMI, ELB_ACCOUNTS, HANDLERS, INVOKES, AwsEmulator
    from lbguard.offline.emulator.monitor import RecordingMonitor
    from lbguard.offline.emulator.runner import emulated_aws, load_stack_config, run_program

EMULATED_TYPES = sorted(set(HANDLERS) | {t.replace("aws:lb/", "aws:alb/", 1) for t in HANDLERS if t.startswith("aws:lb/")})
EMULATED_INVOKES = sorted(INVOKES)

__all__ = ["AwsEmulator", "DEFAULT_AMI", "ELB_ACCOUNTS", "EMULATED_INVOKES", "EMULATED_TYPES", "RecordingMonitor",
           "emulated_aws", "load_stack_config", "run_program"]
