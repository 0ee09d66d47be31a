"""Opening the files a user names (specs, reference tables, weights) as regular files only.

A path may name a pipe, a device or a folder, or a symlink to one: `/dev/zero` never ends,
`/dev/urandom` fills memory and a FIFO blocks until something writes to it. Such a path is
refused before anything is read; a file is opened without waiting, checked, then read.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from netgen.diagnostics import Span, SpecError, error


def open_regular(path: str, what: str) -> BinaryIO:
    """`path` opened for reading, when it is a regular file (after symlinks)."""
    where = Span(path, 1, 1)
    try:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise wait for one.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise SpecError(error("no-file", f"cannot read {what}: {exc.strerror}", where)) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise SpecError(error("not-a-file", f"cannot read {what}: it is {_kind(mode)}, not a regular file", where))
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


def _kind(mode: int) -> str:
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
