"""Files a run writes: checked before the work, written whole or not at all, owned by one run at a time.

- `output_dir(path)`: the folder exists (made if needed) and is writable, checked before any work;
  `output_file(path, flag)` the same for a file's folder, and no folder in the file's place.
- `atomic_write(path, write)`: the content goes to a temporary file beside `path` (`.learngpt-tmp.PID.NAME.*`,
  created with O_EXCL: a name no other file has), is flushed to disk (fsync), given the mode a plain file gets
  (0666 & ~umask), and renamed over `path` in one step; a reader sees the old file or the new one, never half
  of one. Temporary files left by a writer that was killed (its process is gone) are removed by the next write
  into the folder; nothing else there matches their names.
- `OutputSet(folder, names)`: the files of one run appear together or not at all. They are written into a
  staging folder beside them (`.learngpt-tmp.PID.set.*`) as the run goes; only when the run succeeded are
  they moved into place (SIGINT and SIGTERM held back for those renames), the earlier run's files of the same
  names that this run did not write removed, and MANIFEST written last: the set's files with their sha256.
  MANIFEST is removed before the first rename, so a reader can tell a complete set (MANIFEST there, naming
  every file, digests matching) from any other. A run that fails or is stopped leaves the earlier set as it
  was and removes its staging folder (after SIGKILL, the next write into the folder does).
- `RunLock(folder)`: one run per output folder; a second is refused with one line naming the first. The lock
  file is opened without following a symlink and must be a plain file: a link or anything else in its place
  is refused, untouched.
"""
from __future__ import annotations

import errno
import fcntl
import os
import hashlib
import json
import re
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Callable

from learngpt import signals
from learngpt.errors import UserError, WriteError

TEMP_PREFIX = ".learngpt-tmp."
_TEMP = re.compile(r"^\.learngpt-tmp\.(?P<pid>\d+)\.")  # .learngpt-tmp.PID.NAME.RANDOM


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def output_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Make the folder if needed and prove it is writable now, before any work; UserError in one line if not."""
    if not str(path).strip():
        raise UserError(f"{flag} is empty; name the folder to write into")
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".learngpt-write-check.")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        reason = err.strerror or str(err)
        if isinstance(err, (FileExistsError, NotADirectoryError)) or err.errno in (errno.EEXIST, errno.ENOTDIR):
            reason = "a file is in the way of the folder"
        raise UserError(f"{flag} {folder}: cannot write there ({reason})") from None
    return folder


def output_file(path: str | os.PathLike, flag: str) -> Path:
    """A file a run will write: its folder writable now and nothing but a file (or nothing) in its place,
    checked before any work; UserError in one line if not."""
    target = Path(path)
    if not str(path).strip():
        raise UserError(f"{flag} is empty; name the file to write")
    output_dir(target.parent, flag)
    if target.is_dir():
        raise UserError(f"{flag} {target}: a folder is in its place; name a file")
    return target


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files (and staging folders) of writers that are gone (killed mid-write); returns
    what was removed."""
    removed = []
    for entry in Path(folder).iterdir():
        m = _TEMP.match(entry.name)
        if m and int(m["pid"]) != os.getpid() and not _alive(int(m["pid"])):
            try:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
                removed.append(entry)
            except OSError:
                pass
    return removed


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """write(temporary_path) fills a file beside path; it then replaces path in one rename, after an fsync."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "a folder is in its place")
        remove_stale_temps(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{os.getpid()}.{path.name}.")
        os.close(fd)
    except OSError as err:
        raise WriteError(f"cannot write {path}: {err.strerror or err}; nothing was changed") from None
    try:
        _write_whole(path, tmp, write)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _write_whole(path: Path, tmp: str, write: Callable[[str], None]) -> None:
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())  # mkstemp makes 0600; a written file is a plain file
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        if err.errno is None:  # not the system's: a bug, shown as one
            raise
        raise WriteError(f"cannot write {path}: {err.strerror or err}; the old file is unchanged") from None
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself reaches the disk
    finally:
        os.close(dir_fd)


def write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class OutputSet:
    """The files `names` of one run in folder, made visible together when the block ends without an error
    (see the module): write each at stage(name); final(name) is where it will be."""

    MANIFEST = "manifest.json"

    def __init__(self, folder: str | os.PathLike, names: tuple[str, ...], about: dict | None = None):
        self.folder, self.names, self.about, self.staging = Path(folder), tuple(names), about or {}, None

    def stage(self, name: str) -> Path:
        if name not in self.names:
            raise ValueError(f"{name!r} is not one of this set's files {self.names}")
        return self.staging / name

    def final(self, name: str) -> Path:
        return self.folder / name

    def __enter__(self) -> "OutputSet":
        remove_stale_temps(self.folder)
        try:
            self.staging = Path(tempfile.mkdtemp(dir=self.folder, prefix=f"{TEMP_PREFIX}{os.getpid()}.set."))
        except OSError as err:
            raise WriteError(f"cannot write into {self.folder}: {err.strerror or err}; nothing was changed") from None
        return self

    def __exit__(self, kind, *exc) -> None:
        try:
            if kind is None:
                self._commit()
        finally:
            shutil.rmtree(self.staging, ignore_errors=True)

    def _commit(self) -> None:
        written = [n for n in self.names if (self.staging / n).exists()]
        digests = {n: sha256(self.staging / n) for n in written}
        manifest = json.dumps({**self.about, "files": digests}, indent=1)
        with signals.held():  # the renames run to their end
            try:
                (self.folder / self.MANIFEST).unlink(missing_ok=True)  # first: no manifest while the set is mixed
                for n in self.names:
                    if n in digests:
                        os.replace(self.staging / n, self.folder / n)
                    elif (self.folder / n).is_file() or (self.folder / n).is_symlink():
                        (self.folder / n).unlink()  # the earlier run's, not of this set
            except OSError as err:
                raise WriteError(f"cannot move the run's files into {self.folder}: {err.strerror or err}; "
                                 f"its {self.MANIFEST} is absent, so the folder reads as an incomplete set") from None
            write_text(self.folder / self.MANIFEST, manifest)


class RunLock:
    """An exclusive lock on an output folder for the life of a run (flock on FOLDER/.learngpt.lock: the kernel
    drops it when the process dies, so a killed run never leaves the folder locked)."""

    NAME = ".learngpt.lock"

    def __init__(self, folder: str | os.PathLike, flag: str = "--out"):
        self.folder, self.flag, self.fd = Path(folder), flag, None

    def __enter__(self) -> "RunLock":
        path = self.folder / self.NAME
        try:  # no symlink followed, no FIFO waited on
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o666 & ~_umask())
        except OSError as err:
            what = "a symlink" if err.errno == errno.ELOOP else (err.strerror or str(err)).lower().removeprefix("is ")
            raise UserError(f"{self.flag} {self.folder}: the lock file {self.NAME} is {what}, not a plain file; "
                            f"remove it or choose another {self.flag}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise UserError(f"{self.flag} {self.folder}: the lock file {self.NAME} is not a plain file; remove it "
                            f"or choose another {self.flag}")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise UserError(f"{self.flag} {self.folder} is in use by another learngpt run (pid {holder}); "
                            f"wait for it or choose another {self.flag}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
