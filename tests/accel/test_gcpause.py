"""The collector pause (lbguard.accel.gcpause): off inside a run, back on after, and frozen only
in a one-shot process."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap

from lbguard.accel import gcpause


def test_paused_nests_and_restores_the_collector():
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    with gcpause.paused():
        assert not gc.isenabled()
        with gcpause.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block found it off and left it off
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen  # a library caller's objects stay collectable


def test_paused_restores_after_an_error():
    try:
        with gcpause.paused():
            raise ValueError("boom")
    except ValueError:
        pass
    assert gc.isenabled()


def test_a_run_has_the_collector_off_and_cycles_are_collected_after(tmp_path):
    """Inside run_program the collector is off (checked from the program itself); after the
    run a cycle the program left is collected by the next collection."""
    (tmp_path / "Pulumi.yaml").write_text("name: gcprobe\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    (tmp_path / "__main__.py").write_text(textwrap.dedent("""
        import gc, weakref
        import pulumi

        class Node:
            pass

        a, b = Node(), Node()
        a.other, b.other = b, a
        pulumi.export("collector_on", gc.isenabled())
        import builtins
        builtins._gcprobe_ref = weakref.ref(a)
    """))
    import builtins

    from lbguard.offline.emulator import emulated_aws, run_program

    with emulated_aws():
        run = run_program(tmp_path, "dev")
    assert run.outputs["collector_on"] is False
    assert gc.isenabled()
    gc.collect()
    assert builtins._gcprobe_ref() is None  # the cycle was not frozen
    del builtins._gcprobe_ref


def test_one_shot_freezes_what_a_pause_allocated():
    code = textwrap.dedent("""
        import gc
        from lbguard.accel import gcpause
        gcpause.one_shot()
        before = gc.get_freeze_count()
        with gcpause.paused():
            kept = [[i] for i in range(10000)]
        assert gc.isenabled()
        print(gc.get_freeze_count() - before >= 10000)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
