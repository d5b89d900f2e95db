"""Files a run writes: checked before the work, written whole or not at all, owned by one run at a time.

- `output_dir(path)`: the folder exists (made if needed) and is writable, checked before any work;
  `output_file(path, flag)` the same for a file's folder, and no folder in the file's place.
- `atomic_write(path, write)`: the content goes to a temporary file beside `path`, created with O_EXCL (a name
  no other file has), is flushed to disk (fsync), given the mode a plain file gets (0666 & ~umask), and renamed
  over `path` in one step; a reader sees the old file or the new one, never half of one.
- Temporary files and staging folders are named `.learngpt-tmp.PID.RANDOM.TAG.NAME`, TAG a keyed digest of PID
  and RANDOM (the key: 32 random bytes kept in the user cache, `temp-key`). The next write into a folder removes
  those of writers that were killed (their process is gone); a file is taken for one only when its TAG proves
  it was made with the key: a user's file of a similar name is never touched.
- `OutputSet(folder, names, about)`: the files of one run appear together or not at all. They are written into a
  staging folder beside them as the run goes; only when the run succeeded are they moved into place (SIGINT and
  SIGTERM held back for those renames) and the set's manifest written last: the set's files with their sha256
  and the command that wrote them. An output folder's files belong to the command that wrote them: a set
  replaces a file only if its own earlier set wrote it (the earlier manifest lists it with the digest it still
  has), removes the earlier set's files this run does not write, and refuses, before any work, to replace a
  file of another command or of nobody's set (`check()`). The manifest is removed before the first rename, so a
  reader can tell a complete set (manifest there, naming every file, digests matching) from any other. A run
  that fails or is stopped leaves the earlier set as it was and removes its staging folder (after SIGKILL, the
  next write into the folder does).
- `claim(path, command, flag)`: a single output file (train's checkpoint, attention's PNG): refused if it is a
  file of a set (a manifest in its folder lists it), unless the set is the command's own.
- `RunLock(folder)`: one run per output folder; a second is refused with one line naming the first. The lock
  file is opened without following a symlink and must be a plain file: a link or anything else in its place
  is refused, untouched.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Callable

from learngpt_lab import signals
from learngpt.errors import UserError, WriteError

TEMP_PREFIX = ".learngpt-tmp."
_TEMP = re.compile(r"^\.learngpt-tmp\.(?P<pid>\d+)\.(?P<random>[0-9a-f]{12})\.(?P<tag>[0-9a-f]{16})\.")
MAX_JSON_DEPTH = 64  # nesting a learngpt JSON (a manifest, a checkpoint's config) never comes near
_key: list[bytes] = []  # the temporary files' key, read once


def _temp_key() -> bytes:
    """The key that tags this user's temporary files: kept in the user cache (made once, 0600); where the cache
    cannot hold it, one for this process alone (its own temporaries are then the only ones it recognises)."""
    if _key:
        return _key[0]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "learngpt" / "temp-key"
    key = b""
    try:
        key = path.read_bytes()
        if len(key) != 32:
            key = b""
    except OSError:
        pass
    if not key:
        fresh = os.urandom(32)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".temp-key.")
            try:
                os.write(fd, fresh)
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)  # the first process to get here sets it; the others read the one it set
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
            key = path.read_bytes()
        except OSError:
            key = b""
        if len(key) != 32:
            key = fresh
    _key.append(key)
    return key


def _tag(pid: int, random: str) -> str:
    return hmac.new(_temp_key(), f"{pid}.{random}".encode(), hashlib.sha256).hexdigest()[:16]


def temp_name(name: str, pid: int | None = None) -> str:
    """A fresh temporary name for `name`, tagged as this process's (see the module)."""
    pid = os.getpid() if pid is None else pid
    random = secrets.token_hex(6)
    return f"{TEMP_PREFIX}{pid}.{random}.{_tag(pid, random)}.{name}"


def temp_owner(name: str) -> int | None:
    """The pid of the learngpt writer that made the temporary file or folder `name`; None if the name is not
    one of ours (no tag, or a tag the key did not make)."""
    m = _TEMP.match(name)
    if m is None or not hmac.compare_digest(m["tag"], _tag(int(m["pid"]), m["random"])):
        return None
    return int(m["pid"])


def _make_temp(folder: Path, name: str, directory: bool = False) -> Path:
    for _ in range(100):
        path = folder / temp_name(name)
        try:
            if directory:
                os.mkdir(path, 0o700)
            else:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
            return path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"no free temporary name in {folder}")


def json_depth(text: str | bytes) -> int:
    """How deep arrays and objects nest in JSON text (brackets inside strings not counted), without parsing it:
    linear in its length, whatever its depth."""
    import numpy as np
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    raw = re.sub(rb'"(?:[^"\\]|\\.)*"', b'""', raw, flags=re.S)
    codes = np.frombuffer(raw, dtype=np.uint8)
    steps = np.isin(codes, (ord("["), ord("{"))).astype(np.int64) - np.isin(codes, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


def loads_json(text: str | bytes, max_depth: int = MAX_JSON_DEPTH):
    """json.loads after its nesting is bounded: ValueError (json.JSONDecodeError is one) for text nested deeper
    than max_depth, before the parser recurses into it."""
    depth = json_depth(text)
    if depth > max_depth:
        raise ValueError(f"JSON nested {depth} levels deep; at most {max_depth} are read")
    return json.loads(text)


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
    """Remove the temporary files (and staging folders) of learngpt writers that are gone (killed mid-write),
    each recognised by its tag (see the module), never by its name alone; returns what was removed."""
    removed = []
    for entry in Path(folder).iterdir():
        if not entry.name.startswith(TEMP_PREFIX):
            continue
        pid = temp_owner(entry.name)
        if pid is not None and pid != os.getpid() and not _alive(pid):
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
        tmp = str(_make_temp(path.parent, path.name))
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


MANIFEST_BYTES = 1 << 20  # a set's manifest is a few hundred bytes; a larger file is not one


def read_manifest(path: str | os.PathLike) -> dict | None:
    """The manifest of a set at path ({"command": ..., "files": {name: sha256}, ...}); None if there is none or
    the file is not one (too large, not JSON, nested too deep, another shape)."""
    path = Path(path)
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size > MANIFEST_BYTES:
            return None
        found = loads_json(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not (isinstance(found, dict) and isinstance(found.get("command"), str) and isinstance(found.get("files"), dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in found["files"].items())):
        return None
    return found


def is_manifest_name(name: str) -> bool:
    return name == OutputSet.MANIFEST or name.endswith("." + OutputSet.MANIFEST)


def owners(folder: str | os.PathLike) -> dict[str, tuple[str, str]]:
    """name -> (command, manifest name) for every file of folder a set owns: its manifest, and each file the
    manifest lists with the sha256 the file still has (a file changed since is no longer the set's)."""
    folder, found = Path(folder), {}
    try:
        entries = [e.name for e in folder.iterdir() if is_manifest_name(e.name)]
    except OSError:
        return {}
    for manifest in sorted(entries):
        about = read_manifest(folder / manifest)
        if about is None:
            continue
        found[manifest] = (about["command"], manifest)
        for name, digest in about["files"].items():
            path = folder / name
            if "/" not in name and path.is_file() and not path.is_symlink() and sha256(path) == digest:
                found[name] = (about["command"], manifest)
    return found


def claim(path: str | os.PathLike, command: str, flag: str) -> Path:
    """path, the one file a run of `command` writes: UserError in one line if it is a file of another command's
    set (or of any set: a command that writes no manifest owns no set), checked before any work."""
    path = Path(path)
    held = owners(path.parent).get(path.name)
    if held is not None and held[0] != command:
        raise UserError(f"{flag} {path} is a file of the {held[0]} run in {path.parent} (its {held[1]} lists it); "
                        f"choose another {flag}")
    return path


def refuse_inputs(target: str | os.PathLike, flag: str, inputs: dict[str, str | os.PathLike]) -> None:
    """UserError if the output target is one of the run's input files (flag -> path): it would be replaced by
    what is made from it."""
    for in_flag, source in inputs.items():
        try:
            same = os.path.samefile(target, source)
        except OSError:
            same = os.path.abspath(target) == os.path.abspath(source)
        if same:
            raise UserError(f"{flag} {target} is the {in_flag} the run reads; name another file to write")


class OutputSet:
    """The files `names` of one run of a command (about["command"]) in folder, made visible together when the
    block ends without an error (see the module): write each at stage(name); final(name) is where it will be.
    manifest: the set's manifest file (one per kind of set, so that sets of two commands can share a folder);
    adopt: names an unlisted file of which is taken as this command's (written before sets had manifests)."""

    MANIFEST = "manifest.json"

    def __init__(self, folder: str | os.PathLike, names: tuple[str, ...], about: dict | None = None,
                 manifest: str = MANIFEST, adopt: tuple[str, ...] = (), flag: str = "--out"):
        self.folder, self.names, self.about, self.staging = Path(folder), tuple(names), about or {}, None
        self.command, self.manifest = self.about.get("command", "learngpt"), manifest
        self.adopt, self.flag = adopt, flag
        if not is_manifest_name(manifest):
            raise ValueError(f"a manifest's name ends in {self.MANIFEST}, got {manifest!r}")

    def stage(self, name: str) -> Path:
        if name not in self.names:
            raise ValueError(f"{name!r} is not one of this set's files {self.names}")
        return self.staging / name

    def final(self, name: str) -> Path:
        return self.folder / name

    def earlier(self) -> list[str]:
        """The files of this command's earlier set in the folder: those its manifest lists that are unchanged."""
        held = owners(self.folder)
        return [n for n, (command, manifest) in held.items()
                if command == self.command and manifest == self.manifest and n != self.manifest]

    def check(self) -> tuple[list[str], list[str]]:
        """(replaced, removed): the files of the folder this run will replace and those of its earlier set it will
        remove, when it succeeds. UserError in one line, before any work, if a file this run writes is there and
        is not its earlier set's: another command's, a user's, a folder."""
        held, earlier = owners(self.folder), self.earlier()
        for n in self.names + (self.manifest,):
            path = self.folder / n
            if not (path.exists() or path.is_symlink()) or n in earlier or (n == self.manifest and held.get(n) and
                                                                           held[n][0] == self.command):
                continue
            if path.is_dir() and not path.is_symlink():
                raise UserError(f"{self.flag} {self.folder}: {n} is a folder; this run's file cannot replace it "
                                f"(nothing was changed)")
            if n in self.adopt and n not in held:
                continue
            whose = (f"is a file of the {held[n][0]} run there (its {held[n][1]} lists it)" if n in held else
                     f"was not written by an earlier {self.command} there (no {self.manifest} lists it as it is)")
            raise UserError(f"{self.flag} {self.folder}: {n} {whose}; this run would replace it: move it or choose "
                            f"another {self.flag} (nothing was changed)")
        replaced = [n for n in self.names if (self.folder / n).exists()]
        removed = [n for n in earlier if n not in self.names]
        return replaced, removed

    def __enter__(self) -> "OutputSet":
        self.check()
        remove_stale_temps(self.folder)
        try:
            self.staging = _make_temp(self.folder, "set", directory=True)
        except OSError as err:
            raise WriteError(f"cannot write into {self.folder}: {err.strerror or err}; nothing was changed") from None
        return self

    def __exit__(self, kind, err, tb) -> None:
        try:
            if kind is None:
                self._commit()
        finally:
            shutil.rmtree(self.staging, ignore_errors=True)
        if isinstance(err, WriteError) and str(self.staging) in str(err):  # a staged file: said of its place
            raise WriteError(str(err).replace(str(self.staging), str(self.folder)).replace(
                "the old file is unchanged", f"nothing in {self.folder} was changed")) from None

    def _commit(self) -> None:
        written = [n for n in self.names if (self.staging / n).exists()]
        digests = {n: sha256(self.staging / n) for n in written}
        staged = self.staging / self.manifest  # written before anything moves: a full disk changes nothing
        try:
            staged.write_text(json.dumps({**self.about, "files": digests}, indent=1), encoding="utf-8")
            with open(staged, "rb+") as f:
                os.fchmod(f.fileno(), 0o666 & ~_umask())
                os.fsync(f.fileno())
        except OSError as err:
            raise WriteError(f"cannot write {self.folder / self.manifest}: {err.strerror or err}; nothing in "
                             f"{self.folder} was changed") from None
        earlier = self.earlier()
        with signals.held():  # the renames run to their end
            try:
                (self.folder / self.manifest).unlink(missing_ok=True)  # first: no manifest while the set is mixed
                for n in written:
                    os.replace(self.staging / n, self.folder / n)
                for n in earlier:
                    if n not in digests and ((self.folder / n).is_file() or (self.folder / n).is_symlink()):
                        (self.folder / n).unlink()  # the earlier set's, not of this one
                os.replace(staged, self.folder / self.manifest)  # last: the set is whole
            except OSError as err:
                raise WriteError(f"cannot move the run's files into {self.folder}: {err.strerror or err}; "
                                 f"its {self.manifest} is absent, so the folder reads as an incomplete set") from None
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the renames reach the disk
        finally:
            os.close(dir_fd)


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
