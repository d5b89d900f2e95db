"""Ctrl-C, SIGTERM, a killed parent, a closed pipe: the run stops, says one line and exits as a shell expects (130
for SIGINT, 143 for SIGTERM, 141 for a closed pipe), from the first instruction of the entry point to its
teardown, and leaves no process behind. A KeyboardInterrupt raised where Python drops it (a garbage-collector
callback) or swallowed by code that goes on still ends the run; the one line is on a line of its own after a
progress bar. Every test runs the command as a real process: the fault is about the process itself."""
import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import launch


def descendants(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = map(int, line.split())
        children.setdefault(pp, []).append(p)
    found, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            found.add(c)
            todo.append(c)
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_killing_compare_leaves_no_worker(tmp_path):
    proc = launch(["compare", "--backends", "torch", "--iters", "20000", "--no-progress", "--out", str(tmp_path)])
    deadline = time.time() + 120
    while time.time() < deadline and not descendants(proc.pid):
        time.sleep(0.5)
    time.sleep(5)  # the worker is training now
    workers = descendants(proc.pid)
    assert workers, "compare started no worker"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(alive(p) for p in workers):
        time.sleep(0.2)
    survivors = [p for p in workers if alive(p)]
    for p in survivors:
        os.kill(p, signal.SIGKILL)
    assert not survivors, f"processes outlived their killed parent: {survivors}"
    assert not (tmp_path / "torch.safetensors").exists(), "an orphan went on to write the checkpoint"


@pytest.mark.parametrize("argv", [["parity"],
                                  ["questions", "--only", "test_head_ver_1_averages_the_past,test_head_ver_2_equals"]])
def test_a_closed_pipe_ends_the_output_quietly(argv, tmp_path):
    """`learngpt ... | head -1`: no BrokenPipeError traceback, exit 141 (SIGPIPE's status in a shell)."""
    proc = subprocess.Popen([sys.executable, "-m", "learngpt_lab.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.read(1)
    proc.stdout.close()  # the reader is gone before the writer is done
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


# Ctrl-C from the first instruction to the last.

def test_ctrl_c_while_the_command_starts_is_one_line(tmp_path):
    """SIGINT as soon as the interpreter runs learngpt's code (during the imports): one line, exit 130."""
    code = ("import signal, os, sys; from learngpt_lab import cli; "
            "real = cli.build_parser; "
            "cli.build_parser = lambda argv: (os.kill(os.getpid(), signal.SIGINT), real(argv))[1]; "
            "sys.exit(cli.main(['train', '--backend', 'torch', '--out', sys.argv[1]]))")
    got = subprocess.run([sys.executable, "-c", code, str(tmp_path / "o")], capture_output=True, text=True,
                         timeout=120)
    assert got.returncode == 130, got.stderr
    assert got.stderr.strip() == "learngpt: interrupted"


def entry(code: str, *argv: str, **kw):
    """Python that runs the console script's entry (sys.argv[0] 'learngpt') after code."""
    return subprocess.run([sys.executable, "-c", "import os, signal, sys\n" + code +
                           "\nsys.argv = ['learngpt', *sys.argv[1:]]\nfrom learngpt_lab.cli import main\n"
                           "sys.exit(main())\n", *argv], capture_output=True, text=True, timeout=120, **kw)


def test_ctrl_c_during_the_entry_points_imports_is_one_line():
    """SIGINT while learngpt_lab.cli imports learngpt (before learngpt_lab/signals.py's handling is installed)."""
    hook = ("class Hook:\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name == 'learngpt_lab.signals':\n"
            "            os.kill(os.getpid(), signal.SIGINT)\n"
            "sys.meta_path.insert(0, Hook())")
    got = entry(hook, "train", "--help")
    assert (got.returncode, got.stderr.strip(), got.stdout) == (130, "learngpt: interrupted", ""), got


@pytest.mark.parametrize("signum, status, line", [(signal.SIGTERM, 143, "learngpt: terminated (SIGTERM)"),
                                                  (signal.SIGINT, 130, "learngpt: interrupted")])
def test_a_signal_during_teardown_after_a_successful_run_is_one_line(signum, status, line):
    fake = ("import atexit, time, types\n"
            "fake = types.ModuleType('learngpt_lab.commands.train')\n"
            "fake.add_arguments = lambda parser: None\n"
            "def run(args):\n"
            f"    atexit.register(lambda: (os.kill(os.getpid(), {int(signum)}), time.sleep(5)))\n"
            "    print('done')\n"
            "    return 0\n"
            "fake.run = run\n"
            "sys.modules['learngpt_lab.commands.train'] = fake")
    got = entry(fake, "train")
    assert (got.returncode, got.stderr.strip(), got.stdout) == (status, line, "done\n"), got


def test_ctrl_c_during_a_progress_bar_prints_its_line_on_a_line_of_its_own(tmp_path):
    """The bar is cleared (tqdm's close) when the run stops: the one line does not trail the bar's text."""
    proc = launch(["train", "--backend", "torch", "--iters", "1000000", "--eval-interval", "1000",
                   "--eval-iters", "1", "--n-layers", "1", "--out", str(tmp_path)], start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.stderr.read(1) not in ("%", ""):
        pass  # the bar is showing (or the command ended: the asserts below say how)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.rstrip("\n").split("\n")[-1].split("\r")[-1] == "learngpt: interrupted", repr(err[-300:])


# Signals that always stop the run.

def fake_command(body: str) -> str:
    """Python that runs the learngpt entry point on a command whose run(args) is body (indented code)."""
    return ("import gc, os, signal, sys, time, types\n"
            "from learngpt_lab import cli\n"
            "fake = types.ModuleType('learngpt_lab.commands.train')\n"
            "fake.add_arguments = lambda parser: None\n"
            "def run(args):\n" + body +
            "fake.run = run\n"
            "sys.modules['learngpt_lab.commands.train'] = fake\n"
            "sys.exit(cli.main(['train']))\n")


def test_ctrl_c_during_a_garbage_collector_callback_still_stops_the_run():
    """SIGINT handled while a gc callback runs (as JAX's _xla_gc_callback does during a Flax run): raised
    there, the KeyboardInterrupt is printed as 'Exception ignored' and dropped, and the run goes on; the
    entry point's handler delivers it just after, outside the callback."""
    body = ("    fired = []\n"
            "    def callback(phase, info):\n"
            "        if phase == 'start' and not fired:\n"
            "            fired.append(1)\n"
            "            os.kill(os.getpid(), signal.SIGINT)\n"
            "            fired.append(2)  # the signal's Python handler runs here, inside the callback\n"
            "    gc.callbacks.append(callback)\n"
            "    gc.collect()\n"
            "    end = time.monotonic() + 30\n"
            "    while time.monotonic() < end:\n"
            "        sum(range(1000))\n"
            "    return 0\n")
    got = subprocess.run([sys.executable, "-c", fake_command(body)], capture_output=True, text=True, timeout=120)
    assert (got.returncode, got.stderr.strip()) == (130, "learngpt: interrupted"), got


def test_a_run_that_swallows_ctrl_c_still_ends_after_the_grace_period():
    """Code that catches KeyboardInterrupt and goes on: the run still ends, one line, exit 130."""
    body = ("    end = time.monotonic() + 60\n"
            "    while time.monotonic() < end:\n"
            "        try:\n"
            "            os.kill(os.getpid(), signal.SIGINT)\n"
            "            time.sleep(0.01)\n"
            "        except KeyboardInterrupt:\n"
            "            pass\n"
            "    return 0\n")
    got = subprocess.run([sys.executable, "-c", fake_command(body)], capture_output=True, text=True, timeout=120)
    assert (got.returncode, got.stderr.strip()) == (130, "learngpt: interrupted"), got


def test_sigterm_is_one_line_and_exit_143():
    body = "    os.kill(os.getpid(), signal.SIGTERM)\n    time.sleep(30)\n    return 0\n"
    got = subprocess.run([sys.executable, "-c", fake_command(body)], capture_output=True, text=True, timeout=120)
    assert (got.returncode, got.stderr.strip()) == (143, "learngpt: terminated (SIGTERM)"), got
