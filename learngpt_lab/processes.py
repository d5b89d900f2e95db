"""Work in child processes that never outlive their parent: the one launcher of learngpt.

`run_all(jobs)` runs each job's fn(*args) in a fresh spawned interpreter of its own (its own memory high-water
mark, only the framework it imports), the job's environment variables set for it at start, and returns the
results in job order. A child that dies (killed, or crashed outside Python), stays stopped (SIGSTOP) for
STOPPED_SECONDS, or raises stops the others at once: the job's `died` error for the first that died or was
stopped, else the first job's exception, raised here once every child is gone. The children never see
SIGINT or SIGTERM (Ctrl-C reaches the whole process group): the parent answers them, by stopping every child.
Each child watches its parent: when the parent is gone (killed with SIGKILL, so that nothing of it runs any
more), the child ends at once (Linux; elsewhere within WATCH_SECONDS), silently, instead of finishing its
work as an orphan or reporting the peers it lost.
`run_child(fn, *args)` is one such job. learngpt_lab/parallel.py starts the processes of a data-parallel run
with it.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from multiprocessing import connection
from typing import Any, Callable, Iterator, Sequence

from learngpt_lab import signals
from learngpt.errors import LearngptError

WATCH_SECONDS = 0.2
EXIT_SECONDS = 3.0  # how long a child that sent its result gets to exit on its own before it is killed
STOPPED_SECONDS = 5.0  # how long a child may stay stopped (SIGSTOP) before the run is ended


class ChildDiedError(LearngptError):
    """A worker process ended without a result (killed, or crashed outside Python)."""


@dataclass
class Job:
    """fn(*args) in a child named `name`, with `env` set in its environment; `died(how)` is the error raised
    when it ends without a result ("died (killed by SIGKILL, exit code -9)", "was stopped (SIGSTOP) ...")."""
    fn: Callable
    args: tuple = ()
    name: str = "worker"
    env: dict[str, str] = field(default_factory=dict)
    died: Callable[[str], BaseException] | None = None

    def death(self, how: str) -> BaseException:
        if self.died is not None:
            return self.died(how)
        return ChildDiedError(f"the {self.name} process {how} before it finished")


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCH_SECONDS)
    os._exit(1)  # the parent is gone: stop now, leave no orphan writing files


def watch_parent(parent_pid: int) -> None:
    """In a child process: end the moment the process that started it is gone (Linux: the kernel sends SIGKILL
    then, PR_SET_PDEATHSIG, so that no child runs on to report its peers' lost connections), else within
    WATCH_SECONDS."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()  # gone before the prctl too


def _child(fn: Callable, args: tuple, conn, parent_pid: int) -> None:
    watch_parent(parent_pid)
    from tqdm import tqdm
    tqdm.set_lock(threading.RLock())  # not tqdm's default multiprocessing lock: a killed child would leak it
    try:
        message = ("ok", fn(*args))
    except BaseException as err:  # noqa: BLE001 - sent to the parent, which raises it there
        if os.getppid() != parent_pid:
            os._exit(1)  # the parent is gone (and with it the run this failure came from): nobody to tell
        if os.environ.get("LEARNGPT_DEBUG"):
            import traceback
            traceback.print_exc()
        message = ("error", err)
    try:
        _send(conn, message)
    except OSError:
        os._exit(1)  # the parent is gone: nobody to tell
    finally:
        conn.close()


def _send(conn, message: tuple) -> None:
    try:
        conn.send(message)
    except OSError:
        raise
    except Exception as failed:  # a value that does not pickle: its text still reaches the parent
        err = message[1] if message[0] == "error" else failed
        conn.send(("error", RuntimeError(f"{type(err).__name__}: {err}")))


def describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}, exit code {code}"
    return f"exit code {code}"


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """os.environ with values set, restored after: a spawned process inherits the environment at start."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def stopped(pid: int) -> bool:
    """Whether the process is stopped by a signal (SIGSTOP, SIGTSTP: state T in /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "T"
    except (OSError, IndexError):
        return False


def _stop(procs: Sequence) -> None:
    """SIGKILL to every child still alive, now: a child holds nothing worth saving (only the parent writes
    what a run made, and only after it finished), and JAX's runtime catches SIGTERM and would go on for seconds."""
    for p in procs:
        if p.is_alive():
            p.kill()
    for p in procs:
        p.join()


def run_all(jobs: Sequence[Job]) -> list:
    """Every job in a child process of its own, all at once: their results, in job order (see the module)."""
    from multiprocessing import resource_tracker
    ctx = multiprocessing.get_context("spawn")
    resource_tracker.ensure_running()  # started now, not inside a child's environment below
    procs, conns = [], []
    try:
        for job in jobs:
            receive, send = ctx.Pipe(duplex=False)
            with _environment(job.env), signals.held():  # the child never sees SIGINT, SIGTERM
                proc = ctx.Process(target=_child, args=(job.fn, job.args, send, os.getpid()), name=job.name)
                proc.start()
            send.close()
            procs.append(proc)
            conns.append(receive)
        results = _collect(jobs, procs, conns)
        deadline = time.monotonic() + EXIT_SECONDS
        for p in procs:  # each sent its result: let it leave (a run's collectives) and exit on its own
            p.join(max(0.0, deadline - time.monotonic()))
        return results
    finally:
        _stop(procs)
        for c in conns:
            c.close()


def _collect(jobs: Sequence[Job], procs: list, conns: list) -> list:
    n = len(procs)
    results: dict[int, Any] = {}
    errors: dict[int, BaseException] = {}
    ended: dict[int, str] = {}  # how a child ended without a result
    since: dict[int, float] = {}  # when each stopped child was first seen stopped

    def read(i: int) -> None:
        try:
            status, value = conns[i].recv()
        except (EOFError, OSError):
            procs[i].join(1)
            ended[i] = f"died ({describe_exit(procs[i].exitcode)})"
            return
        if status == "ok":
            results[i] = value
        else:
            errors[i] = value

    def waiting() -> list[int]:
        return [i for i in range(n) if i not in results and i not in errors and i not in ended]

    def poll(timeout: float | None) -> None:
        handles = {conns[i]: i for i in waiting()}
        handles.update({procs[i].sentinel: i for i in waiting()})
        for handle in connection.wait(list(handles), timeout):
            i = handles[handle]
            if i not in results and i not in errors and i not in ended:
                read(i)  # a message, or the end of the pipe: a child that ended without one died

    def check_stopped() -> None:  # a stopped child holds up the others' collectives for ever
        now = time.monotonic()
        for i in waiting():
            if not stopped(procs[i].pid):
                since.pop(i, None)
            elif now - since.setdefault(i, now) >= STOPPED_SECONDS:
                ended[i] = f"was stopped (SIGSTOP) for {STOPPED_SECONDS:.0f} s"

    while len(results) < n and not (errors or ended):
        poll(WATCH_SECONDS * 5)
        check_stopped()
    if errors or ended:
        if n > 1:
            poll(WATCH_SECONDS * 5)  # a death that caused another child's error is seen before it is blamed
        _stop(procs)
        if ended:
            first = min(ended)
            raise jobs[first].death(ended[first])
        raise errors[min(errors)]
    return [results[i] for i in range(n)]


def run_child(fn: Callable, *args: Any, name: str = "worker") -> Any:
    """fn(*args) in a spawned child process: its result, or its exception raised here."""
    return run_all([Job(fn, args, name)])[0]
