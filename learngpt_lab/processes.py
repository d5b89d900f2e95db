"""Work in child processes that never outlive their parent: the one launcher of learngpt.

`run_all(jobs)` runs each job's fn(*args) in a fresh spawned interpreter of its own (its own memory high-water
mark, only the framework it imports), the job's environment variables set for it at start, and returns the
results in job order. A child that dies (killed, or crashed outside Python) or raises stops the others at
once: the job's `died` error for the first that died, else the first job's exception, raised here once every
child is gone. Each child watches its parent: when the parent is gone (killed with SIGKILL, so that nothing
of it runs any more), the child exits within WATCH_SECONDS instead of finishing its work as an orphan.
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

from learngpt.errors import LearngptError

WATCH_SECONDS = 0.2
EXIT_SECONDS = 3.0  # how long a child that sent its result gets to exit on its own before it is killed


class ChildDiedError(LearngptError):
    """A worker process ended without a result (killed, or crashed outside Python)."""


@dataclass
class Job:
    """fn(*args) in a child named `name`, with `env` set in its environment; `died(exit code)` is the error
    raised when it ends without a result."""
    fn: Callable
    args: tuple = ()
    name: str = "worker"
    env: dict[str, str] = field(default_factory=dict)
    died: Callable[[int | None], BaseException] | None = None

    def death(self, code: int | None) -> BaseException:
        if self.died is not None:
            return self.died(code)
        return ChildDiedError(f"the {self.name} process ended without a result ({describe_exit(code)})")


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCH_SECONDS)
    os._exit(1)  # the parent is gone: stop now, leave no orphan writing files


def watch_parent(parent_pid: int) -> None:
    """In a child process: exit within WATCH_SECONDS once the process that started it is gone."""
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()


def _child(fn: Callable, args: tuple, conn, parent_pid: int) -> None:
    watch_parent(parent_pid)
    from tqdm import tqdm
    tqdm.set_lock(threading.RLock())  # not tqdm's default multiprocessing lock: a killed child would leak it
    try:
        conn.send(("ok", fn(*args)))
    except KeyboardInterrupt:
        conn.send(("interrupted", None))
    except BaseException as err:  # noqa: BLE001 - sent to the parent, which raises it there
        if os.environ.get("LEARNGPT_DEBUG"):
            import traceback
            traceback.print_exc()
        try:
            conn.send(("error", err))
        except Exception:  # an exception that does not pickle: its text still reaches the parent
            conn.send(("error", RuntimeError(f"{type(err).__name__}: {err}")))
    finally:
        conn.close()


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
            with _environment(job.env):
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
    died: dict[int, int | None] = {}
    interrupted = False

    def read(i: int) -> None:
        nonlocal interrupted
        try:
            status, value = conns[i].recv()
        except (EOFError, OSError):
            procs[i].join(1)
            died[i] = procs[i].exitcode
            return
        if status == "ok":
            results[i] = value
        elif status == "interrupted":
            interrupted = True
        else:
            errors[i] = value

    def poll(timeout: float | None) -> None:
        waiting = [i for i in range(n) if i not in results and i not in errors and i not in died]
        handles = {conns[i]: i for i in waiting}
        handles.update({procs[i].sentinel: i for i in waiting})
        for handle in connection.wait(list(handles), timeout):
            i = handles[handle]
            if i not in results and i not in errors and i not in died:
                read(i)  # a message, or the end of the pipe: a child that ended without one died

    while len(results) < n and not (errors or died or interrupted):
        poll(None)
    if errors or died or interrupted:
        if n > 1:
            poll(WATCH_SECONDS * 5)  # a death that caused another child's error is seen before it is blamed
        _stop(procs)
        if interrupted:
            raise KeyboardInterrupt
        if died:
            first = min(died)
            raise jobs[first].death(died[first])
        raise errors[min(errors)]
    return [results[i] for i in range(n)]


def run_child(fn: Callable, *args: Any, name: str = "worker") -> Any:
    """fn(*args) in a spawned child process: its result, or its exception raised here."""
    return run_all([Job(fn, args, name)])[0]
