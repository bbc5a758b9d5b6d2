"""Accelerations of other libraries (moto, botocore, the Pulumi SDK, pulumi_policy, CPython's
collector): every one listed in :mod:`lbguard.accel.registry` with the releases it was
verified on, applied only inside the scopes the offline layer enters, restored after.
``LBGUARD_ACCEL=0`` turns them all off; docs/internals.md, "Accelerations"."""
