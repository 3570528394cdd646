"""What the file watchers of a running gateway share: a cheap stamp of a file's content,
a loop that runs a check every interval until a stop event is set, and the type of such a
background job."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Coroutine
from pathlib import Path

FileStamp = tuple[int, int, int]
# one background job of a running server, run until the event is set
Poller = Callable[[asyncio.Event], Coroutine[object, object, None]]


def file_stamp(path: Path) -> FileStamp | None:
    """Inode, size and mtime of `path` (None: missing or unreadable).

    A renewal renamed over the file changes the inode, one rewritten in place the size or
    the mtime, so two versions written within one mtime tick are still told apart.
    """
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


async def every(interval: float, stop: asyncio.Event, tick: Callable[[], object]) -> None:
    """Call `tick` (awaiting it when it is a coroutine) every `interval` s until `stop`."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            result = tick()
            if inspect.isawaitable(result):
                await result
