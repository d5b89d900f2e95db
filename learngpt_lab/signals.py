"""Ctrl-C (SIGINT) and SIGTERM at the one entry point: a run stops promptly, whatever it is doing.

    with signals.stopping():   # in the main thread, around the whole command
        ...                    # SIGINT or SIGTERM raise Stopped (a KeyboardInterrupt) here

The exception is never raised inside a garbage-collector callback or a finaliser (`__del__`, a weakref
callback): the interpreter prints "Exception ignored in ..." there and drops it, and the run would go on.
In such a frame the signal is delivered again RETRY_SECONDS later, outside it. The first signal is the one
that counts; if the run has not left the block GRACE_SECONDS after it (a cleanup that hangs), the process
ends then, with the same one line on stderr and the same exit status, 128 + the signal's number.
"""
from __future__ import annotations

import _thread
import contextlib
import gc
import os
import signal
import sys
import threading
from typing import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)
RETRY_SECONDS = 0.01
GRACE_SECONDS = 5.0


class Stopped(KeyboardInterrupt):
    """The run was stopped by a signal (SIGINT: Ctrl-C, or SIGTERM)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def describe(err: BaseException) -> str:
    """The one line a stopped run prints: 'interrupted' (Ctrl-C), or 'terminated (SIGTERM)'."""
    signum = getattr(err, "signum", signal.SIGINT)
    return "interrupted" if signum == signal.SIGINT else f"terminated ({signal.Signals(signum).name})"


def status(err: BaseException) -> int:
    """The exit status of a run stopped by err's signal, as a shell reports it: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + getattr(err, "signum", signal.SIGINT)


def _ignored_here(frame) -> bool:
    """Whether an exception raised in frame would be printed and dropped by the interpreter."""
    callbacks = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    while frame is not None:
        code = frame.f_code
        if code in callbacks or code.co_name == "__del__" or frame.f_globals.get("__name__") == "weakref":
            return True
        frame = frame.f_back
    return False


class _Handler:
    def __init__(self):
        self.first: int | None = None  # the signal that stops the run
        self.raised = False
        self.timers: list[threading.Timer] = []

    def __call__(self, signum: int, frame) -> None:
        if self.raised or self.first not in (None, signum):
            return  # the run is stopping already: the grace period bounds it
        self.first = signum
        if _ignored_here(frame):
            self._later(RETRY_SECONDS, lambda: _thread.interrupt_main(signum))
            return
        self.raised = True
        self._later(GRACE_SECONDS, lambda: self._end(signum))
        raise Stopped(signum)

    def _later(self, seconds: float, fn) -> None:
        timer = threading.Timer(seconds, fn)
        timer.daemon = True
        self.timers.append(timer)
        timer.start()

    @staticmethod
    def _end(signum: int) -> None:
        err = Stopped(signum)
        os.write(sys.stderr.fileno(), f"learngpt: {describe(err)}\n".encode())
        os._exit(status(err))

    def cancel(self) -> None:
        for timer in self.timers:
            timer.cancel()


@contextlib.contextmanager
def stopping() -> Iterator[None]:
    """Within the block (main thread only; elsewhere it changes nothing), SIGINT and SIGTERM raise Stopped
    as the module says; the earlier handlers are back after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler = _Handler()
    before = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield
    finally:
        handler.cancel()
        for s, h in before.items():
            signal.signal(s, h)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """SIGINT and SIGTERM held back from this thread for the block and delivered when it ends: the block runs
    to its end (a few renames that must happen together), and a process started in it inherits the two
    blocked (it never sees them; learngpt_lab/processes.py stops its children itself)."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, set(SIGNALS))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
