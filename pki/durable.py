"""Crash-safe file writes and the CA directory lock.

Every file the CA changes is written to a temporary file in the same directory, fsynced,
renamed over the old one and the directory fsynced, so a crash leaves either the old or the
new content, never a mix. Mutating CA operations hold an exclusive `flock` on `<dir>/.lock`
so two concurrent CLI runs cannot lose each other's inventory entries.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pki.errors import OutputExists, PKIError, UnsafeKeyFile

__all__ = [
    "append_durably", "atomic_write", "ca_lock", "check_private_mode", "fsync_directory",
    "read_bytes",
]

LOCK_NAME = ".lock"


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644, overwrite: bool = True) -> None:
    """Write `data` to `path` atomically with permission bits `mode`.

    With `overwrite=False` an existing file raises OutputExists.
    """
    if not overwrite and path.exists():
        raise OutputExists(f"{path} exists; refusing to overwrite it")
    directory = path.parent
    try:
        fd, name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise PKIError(f"cannot write {path}: {exc.strerror}") from exc
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)  # the umask may have narrowed or widened it
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            tmp.replace(path)
        else:
            # link() fails if the name exists: no window between the check and the write
            try:
                os.link(tmp, path)
            except FileExistsError as exc:
                raise OutputExists(f"{path} exists; refusing to overwrite it") from exc
            tmp.unlink()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_directory(directory)


def append_durably(path: Path, data: bytes) -> None:
    """Append `data` to `path` (created 0644) and fsync before returning."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise PKIError(f"cannot append to {path}: {exc.strerror}") from exc
    try:
        end = os.lseek(fd, 0, os.SEEK_END)
        if end and os.pread(fd, 1, end - 1) != b"\n":
            data = b"\n" + data  # isolate a line torn by an earlier crash
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(directory: Path) -> None:
    """fsync a directory, so that names created, renamed or removed in it are durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def ca_lock(directory: Path) -> Iterator[None]:
    """Hold the CA directory's exclusive lock for the duration of the block."""
    try:
        fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise PKIError(f"cannot lock CA directory {directory}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def check_private_mode(path: Path) -> None:
    """Refuse a private key file that group or others may read or write."""
    mode = path.stat().st_mode
    if stat.S_IMODE(mode) & 0o077:
        raise UnsafeKeyFile(
            f"{path} has permissions {stat.S_IMODE(mode):04o}; a private key must be 0600 "
            f"(run: chmod 600 {path})"
        )


def read_bytes(path: Path, what: str) -> bytes:
    """Read a file or raise PKIError naming it and what it should have been."""
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise PKIError(f"{what} {path} does not exist") from exc
    except OSError as exc:
        raise PKIError(f"cannot read {what} {path}: {exc.strerror}") from exc
