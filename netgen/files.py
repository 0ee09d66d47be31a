"""Every file netgen reads or writes goes through here.

Reading: a path may name a pipe, a device or a folder, or a symlink to one: `/dev/zero` never
ends, `/dev/urandom` fills memory and a FIFO blocks until something writes to it. Such a path is
refused before anything is read; a file is opened without waiting, checked, then read, and no
more than a limit is ever read of it.

Writing: each file is written to a temporary file beside its target, and every target of one
command is renamed into place only once all of them were written, so a failure at any stage,
Ctrl-C or a SIGTERM leaves the previous files byte-identical and no temporary file behind. A
target that is a folder, a pipe or a device is refused before anything is written, and so is a
target that is a file this process has read: no command writes onto one of its own inputs (the
spec, its reference table, the weights, the spec `new` copies). Files are created as any other
would be: with the permissions the umask leaves (0644 under umask 022).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO

from netgen.diagnostics import Span, SpecError, error

# The files read so far, as (device, inode, change time): the same file by any path or link,
# and not a file created later in a place a deleted one had.
_read: set[tuple[int, int, int]] = set()


def open_regular(path: str, what: str) -> BinaryIO:
    """`path` opened for reading, when it is a regular file (after symlinks)."""
    where = Span(path, 1, 1)
    try:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise wait for one.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise SpecError(error("no-file", f"cannot read {what}: {exc.strerror}", where)) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise SpecError(error("not-a-file", f"cannot read {what}: it is {kind_of(info.st_mode)}, not a regular file", where))
    _read.add(_identity(info))
    return os.fdopen(fd, "rb")


def read_regular(path: str, what: str, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; no more than that is ever read."""
    with open_regular(path, what) as handle:
        size = os.fstat(handle.fileno()).st_size
        data = handle.read(limit + 1)
    if max(size, len(data)) > limit:
        raise SpecError(
            error("file-too-large", f"{what} is {max(size, len(data)):,} bytes; the limit is {limit:,}", Span(path, 1, 1))
        )
    return data


def read_output(path: Path) -> bytes | None:
    """What a file netgen writes holds now (None when there is none), to compare with what it
    would write; an OSError when something that is not a regular file stands in its place."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"it is {kind_of(mode)}, not a regular file", str(path))
        return handle.read()


def kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _identity(info: os.stat_result) -> tuple[int, int, int]:
    return (info.st_dev, info.st_ino, info.st_ctime_ns)


def forget_reads() -> None:
    """Start a new command: the files read before are no longer its inputs."""
    _read.clear()


# -- writing ---------------------------------------------------------------------------------


def write_files(files: list[tuple[Path, bytes]]) -> list[Path]:
    """Write every (target, data) or none: to temporary files first, renamed into place only when
    all were written. An OSError names the first target the system or these rules refuse."""
    for target, _ in files:
        check_target(target)
    staged: list[tuple[Path, Path]] = []
    try:
        for target, data in files:
            try:
                handle, temp = _create_beside(target)
            except OSError as exc:  # about the target, not the temporary name it would have had
                raise OSError(exc.errno, exc.strerror, str(target)) from None
            staged.append((temp, target))
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
        commit(staged)
    except BaseException:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        raise
    return [target for target, _ in files]


def check_target(target: Path) -> None:
    """Failures the system would report only halfway through, or not at all: raised first, about the target."""
    try:
        info = target.stat()
    except FileNotFoundError:
        info = None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
    if info is not None and not stat.S_ISREG(info.st_mode):
        # Renaming over a pipe or a device (/dev/null) would replace it with a file.
        raise OSError(errno.EINVAL, f"it is {kind_of(info.st_mode)}, not a regular file", str(target))
    if info is not None and _identity(info) in _read:
        raise OSError(errno.EINVAL, "it is a file this command reads; write to another file", str(target))
    try:
        longest = os.pathconf(target.parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        longest = 255
    if len(os.fsencode(target.name)) > longest:
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), str(target))


def _create_beside(target: Path) -> tuple[int, Path]:
    """A new, hidden temporary file next to `target`, created with mode 0666 so that the umask decides
    its permissions as for any file a program creates (mkstemp would make it 0600)."""
    while True:
        temp = _beside(target, ".tmp")
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), temp
        except FileExistsError:
            continue


def _link_beside(target: Path) -> Path:
    """A hard link to `target` under a new hidden name next to it: the previous file, kept until the new one is in place."""
    while True:
        backup = _beside(target, ".previous")
        try:
            os.link(target, backup)
            return backup
        except FileExistsError:
            continue


def _beside(target: Path, suffix: str) -> Path:
    # Short, whatever the target's name: a name the file system takes for the target fits it too.
    return target.with_name(f".netgen-{secrets.token_hex(6)}{suffix}")


def commit(staged: list[tuple[Path, Path]]) -> None:
    """The last stage: rename every file into place, or put every earlier one back if one fails."""
    backups: list[tuple[Path, Path | None]] = []
    try:
        for temp, target in staged:
            backup = None
            if target.exists():
                backup = _link_beside(target)
            backups.append((target, backup))
            os.replace(temp, target)
    except BaseException:
        for target, backup in reversed(backups):
            if backup is not None:
                os.replace(backup, target)
            else:
                target.unlink(missing_ok=True)
        raise
    finally:
        for _, backup in backups:
            if backup is not None:
                backup.unlink(missing_ok=True)
