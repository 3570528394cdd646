"""Live capture with scapy: the only module that imports scapy at top level.

Frames are read raw from scapy's PF_PACKET listen socket (BPF filter attached in the kernel,
nothing stored) and handed to the fast decoder as bytes; scapy never dissects them. Kernel
packet drops are read with PACKET_STATISTICS and reported.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from scapy.arch.linux import L2ListenSocket
from scapy.error import Scapy_Exception

from monitor.decode import LINKTYPE_ETHERNET
from monitor.errors import CaptureError

_SOL_PACKET = 263
_PACKET_STATISTICS = 6


@dataclass
class CaptureStats:
    """What the kernel reported: packets it passed to us and packets it dropped."""

    received: int = 0
    dropped: int = 0


class LiveCapture:
    """A BPF-filtered capture on one interface."""

    def __init__(self, iface: str, bpf: str | None = None, promisc: bool = True) -> None:
        self.iface = iface
        self.stats = CaptureStats()
        try:
            self._sock = L2ListenSocket(iface=iface, filter=bpf or None, promisc=promisc)
        except (OSError, Scapy_Exception, ValueError) as exc:
            raise CaptureError(f"cannot capture on {iface!r}: {exc}") from None
        self.linktype = LINKTYPE_ETHERNET

    def run(self, on_frame: Callable[[bytes, float], None],
            on_idle: Callable[[float], None], *, duration: float | None = None,
            should_stop: Callable[[], bool] = lambda: False) -> None:
        """Call `on_frame(frame, ts)` per frame and `on_idle(now)` at least once a second."""
        deadline = None if duration is None else time.monotonic() + duration
        sock = self._sock
        fd = sock.ins
        last_idle = time.time()
        while not should_stop():
            if deadline is not None and time.monotonic() >= deadline:
                break
            ready, _w, _x = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    _cls, frame, ts = sock.recv_raw()
                except OSError as exc:
                    raise CaptureError(f"capture on {self.iface!r} failed: {exc}") from None
                if frame:
                    on_frame(frame, float(ts) if ts is not None else time.time())
            now = time.time()
            if now - last_idle >= 1.0:
                last_idle = now
                self.poll_drops()
                on_idle(now)
        self.poll_drops()

    def poll_drops(self) -> None:
        """Add the kernel's counters since the last poll (reading resets them)."""
        try:
            raw = self._sock.ins.getsockopt(_SOL_PACKET, _PACKET_STATISTICS, 8)
        except OSError:
            return
        packets, drops = struct.unpack("II", raw)
        self.stats.received += packets
        self.stats.dropped += drops

    def close(self) -> None:
        self._sock.close()


def interface_exists(name: str) -> bool:
    """True if the interface exists in this network namespace."""
    try:
        socket.if_nametoindex(name)
    except OSError:
        return False
    return True
