"""CPython's cyclic garbage collector around bounded bursts of allocation.

A preflight allocates a few hundred thousand long-lived objects in a few seconds
(imported modules, botocore's decoded models, moto's backends, the program's resources
and outputs). Each allocation burst triggers generation-0 collections every 700 new
container objects and, as the heap grows, full collections that walk every object so
far, none of which is garbage yet. Measured on prod (issue 15): 2.0-2.4 s of a 6.7 s
preflight at 470 resources was the collector, and 2.2-2.5 s of a 6.4 s cold
``lbguard preflight --stack prod``.

:func:`paused` turns the collector off for one bounded run (imports, a program run, a
pack evaluation) and back on after; reference counting still frees everything that is
not in a cycle, and the cycles left are collected as soon as the collector is on again.
:func:`freeze` moves what exists now (after the imports a process keeps for its life)
out of the collector's sight (``gc.freeze``), so later collections skip it; the worker
calls it once after its preload, before it forks children.

In a process that runs one command and exits (the console script, a worker's child),
:func:`one_shot` makes every pause end with a freeze: what a burst allocated is the
command's working set, and the first collection after it would walk all of it (0.3 s on
prod) to find almost nothing; and the exit skips the interpreter's final full collection
(0.5 s on prod) for the same reason. A library caller (the tests, a notebook) never sets
it, so its cycles are collected as usual once a pause ends.

Cost: memory a run's cycles hold until the run ends (prod: about +40 MiB; a 2,150-
resource stack: about +250 MiB), or in a one-shot process until it exits.

All three are the registry's ``gc-pause`` (lbguard.accel.registry): off with
``LBGUARD_ACCEL=0`` (or ``LBGUARD_ACCEL_OFF=gc-pause``), the collector then runs as CPython runs it.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
from typing import Iterator

from lbguard.accel.registry import active

_ONE_SHOT = False


def _on() -> bool:
    return active("gc-pause", strict=False)  # also before the command line can report a bad switch


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """The collector off inside the block; on again after if it was on before (nests)."""
    if not _on():
        yield
        return
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if _ONE_SHOT:
            gc.freeze()
        if was_on:
            gc.enable()


def one_shot() -> None:
    """This process runs one command and exits: freeze after each pause and at exit."""
    global _ONE_SHOT
    if not _ONE_SHOT and _on():
        _ONE_SHOT = True
        atexit.register(gc.freeze)  # registered first, so it runs last: after it, only the final collection


def freeze() -> None:
    """Collect what is garbage now, then exempt every object left from later collections."""
    if not _on():
        return
    gc.collect()
    gc.freeze()
