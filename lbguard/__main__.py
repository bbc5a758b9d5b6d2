"""`python -m lbguard`: the command line without the resident worker (lbguard.cli.entry is the
console script); a one-command process like it (lbguard.accel.gcpause.one_shot)."""

from lbguard.accel.gcpause import one_shot, paused

one_shot()
with paused():
    from lbguard.cli.app import main

main()
