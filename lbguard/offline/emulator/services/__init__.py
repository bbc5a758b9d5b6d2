"""One module per AWS service, as moto lays out its own; importing this registers every handler."""

from lbguard.offline.emulator.services import (autoscaling, cloudwatch, ec2, elbv2, iam, index, lambda_, s3,  # noqa: F401
                                       sns, ssm)
