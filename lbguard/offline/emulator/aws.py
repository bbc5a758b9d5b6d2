"""The emulator's public names (kept for importers of the first, single-module emulator).

The handlers live in ``lbguard.offline.emulator.services`` (one module per AWS service); the
registry and the mocks in ``lbguard.offline.emulator.core``.
"""

from lbguard.core.aws_facts import ELB_LOG_ACCOUNTS as ELB_ACCOUNTS
from lbguard.offline.emulator import services  # noqa: F401  (registers every handler)
from lbguard.offline.emulator.core import (ACCOUNT, DEFAULT_AMI, DELETERS, HANDLERS, INVOKES, PUT_STYLE, UPDATERS,
                                   AwsEmulator, Prior, Tracked)

__all__ = ["ACCOUNT", "DEFAULT_AMI", "DELETERS", "ELB_ACCOUNTS", "HANDLERS", "INVOKES", "PUT_STYLE", "UPDATERS",
           "AwsEmulator", "Prior", "Tracked"]
