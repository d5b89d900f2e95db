"""Work in a child process that never outlives its parent.

`run_child(fn, *args)` runs fn(*args) in a fresh spawned interpreter (its own memory high-water mark, only the
framework it imports) and returns its result, or raises what it raised. The child watches its parent: when
the parent is gone (killed with SIGKILL, so that nothing of it runs any more), the child exits within
WATCH_SECONDS instead of finishing its work as an orphan. When the parent stops for any other reason (an error,
Ctrl-C), it terminates the child before it returns.
"""
from __future__ import annotations

import multiprocessing
import os
import threading
import time
from typing import Any, Callable

from learngpt.errors import LearngptError

WATCH_SECONDS = 0.2


class ChildDiedError(LearngptError):
    """A worker process ended without a result (killed, or crashed outside Python)."""


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCH_SECONDS)
    os._exit(1)  # the parent is gone: stop now, leave no orphan writing files


def watch_parent(parent_pid: int) -> None:
    """In a child process: exit within WATCH_SECONDS once the process that started it is gone."""
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()


def _child(fn: Callable, args: tuple, conn, parent_pid: int) -> None:
    watch_parent(parent_pid)
    try:
        conn.send(("ok", fn(*args)))
    except KeyboardInterrupt:
        conn.send(("interrupted", None))
    except BaseException as err:  # noqa: BLE001 - sent to the parent, which raises it there
        try:
            conn.send(("error", err))
        except Exception:  # an exception that does not pickle: its text still reaches the parent
            conn.send(("error", RuntimeError(f"{type(err).__name__}: {err}")))
    finally:
        conn.close()


def run_child(fn: Callable, *args: Any, name: str = "worker") -> Any:
    """fn(*args) in a spawned child process: its result, or its exception raised here."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(fn, args, send, os.getpid()), name=name)
    proc.start()
    send.close()
    try:
        try:
            status, value = receive.recv()
        except EOFError:
            proc.join(5)
            raise ChildDiedError(f"the {name} process ended without a result (exit code {proc.exitcode})") from None
        if status == "interrupted":
            raise KeyboardInterrupt
        if status == "error":
            raise value
        return value
    finally:
        receive.close()
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
            if proc.is_alive():
                proc.kill()
        proc.join()
