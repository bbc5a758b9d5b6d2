"""`python -m lbguard`: the command line without the resident worker (lbguard.entry is the
console script); a one-command process like it (lbguard.gcpause.one_shot)."""

from lbguard.gcpause import one_shot, paused

one_shot()
with paused():
    from lbguard.cli import main

main()
