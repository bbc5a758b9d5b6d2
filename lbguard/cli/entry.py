"""The `lbguard` console script: the CLI, or one line naming the missing extra.

The base install (`pip install lbguard`) is the pure core the Pulumi program and the
policy pack import; the command line's own dependencies come with the `cli` extra.
"""

from __future__ import annotations

import sys

# Top-level modules the CLI imports that only its extras install.
_EXTRA_MODULES = {"click", "rich", "boto3", "botocore", "jsonschema", "pulumi", "pulumi_aws", "pulumi_policy",
                  "grpc", "google"}


def main() -> None:
    # A running `lbguard serve` worker runs the command with everything imported already.
    from lbguard.cli.worker import run_through_worker

    rc = run_through_worker(sys.argv[1:])
    if rc is not None:
        sys.exit(rc)
    try:
        from lbguard.accel.gcpause import one_shot, paused

        one_shot()
        with paused():
            from lbguard.cli.app import main as cli
    except ModuleNotFoundError as err:
        if (err.name or "").split(".", 1)[0] not in _EXTRA_MODULES:
            raise
        sys.stderr.write(f"lbguard: error: the command line needs {err.name}, which lbguard's base install "
                         "does not include: pip install 'lbguard[cli,emulator]'\n")
        sys.exit(2)
    cli()
