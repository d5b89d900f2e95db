"""learngpt_lab.threads: the XLA flags it writes are ones XLA reads, and flags added after them still count.

XLA stops reading XLA_FLAGS at the first word without "--" and drops the rest without a word: set_threads once
wrote such a word, so a `--devices 2` run started after it (the test suite's order, or a command that set threads
first) got one device."""
import os
import subprocess
import sys
import textwrap

import pytest

from learngpt.errors import UserError
from learngpt_lab.threads import set_threads, xla_flags


def test_set_threads_writes_only_flags_and_each_once(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    monkeypatch.delitem(sys.modules, "jax", raising=False)  # set_threads leaves XLA alone once JAX started
    for _ in range(3):
        set_threads(1, torch=False)
    assert os.environ["XLA_FLAGS"] == "--xla_dump_to=/tmp/x --xla_cpu_multi_thread_eigen=false"
    set_threads(2, torch=False)
    assert os.environ["XLA_FLAGS"] == "--xla_dump_to=/tmp/x --xla_cpu_multi_thread_eigen=true"


def test_a_word_xla_would_stop_at_is_refused():
    with pytest.raises(UserError, match="intra_op_parallelism_threads=1.*does not start with '--'"):
        xla_flags("--a=1 intra_op_parallelism_threads=1", "--b", "2")


def test_host_devices_added_after_set_threads_are_the_devices_jax_sees():
    code = textwrap.dedent("""
        import os
        from learngpt_lab.threads import set_threads, xla_flags
        set_threads(1, torch=False)
        os.environ["XLA_FLAGS"] = xla_flags(os.environ["XLA_FLAGS"], "--xla_force_host_platform_device_count", "2")
        import jax
        print(len(jax.devices("cpu")))
    """)
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "2"


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this system")
def test_pin_keeps_the_first_n_usable_cores_and_never_widens():
    code = textwrap.dedent("""
        import os
        from learngpt_lab.threads import pin
        cores = sorted(os.sched_getaffinity(0))
        pin(None)
        assert sorted(os.sched_getaffinity(0)) == cores
        pin(len(cores) + 3)
        assert sorted(os.sched_getaffinity(0)) == cores
        pin(1)
        assert sorted(os.sched_getaffinity(0)) == cores[:1]
        print("ok")
    """)
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert got.returncode == 0 and got.stdout.strip() == "ok", got.stderr
