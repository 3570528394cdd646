"""Streaming pcap and pcapng reader (constant memory) and a minimal pcap writer.

The reader yields `(timestamp, wire_length, frame, linktype)` and reads the file in 1 MiB
chunks, so memory does not grow with the capture. A malformed header raises CaptureError; a
record cut off at the end of the file (a capture killed mid-write) ends the stream and sets
`truncated`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from monitor.errors import CaptureError

_CHUNK = 1 << 20
_MAX_RECORD = 1 << 18
_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PCAPNG_SHB = 0x0A0D0D0A
_BYTE_ORDER_MAGIC = 0x1A2B3C4D


class CaptureFile:
    """One pcap or pcapng file, read as a stream of frames."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.truncated = False
        self.bytes_read = 0
        try:
            self.size = path.stat().st_size
            with path.open("rb") as fh:
                head = fh.read(4)
        except OSError as exc:
            raise CaptureError(f"{path}: cannot read capture: {exc.strerror or exc}") from None
        if head in _PCAP_MAGICS:
            self.format = "pcap"
        elif len(head) == 4 and struct.unpack("<I", head)[0] == _PCAPNG_SHB:
            self.format = "pcapng"
        else:
            raise CaptureError(f"{path}: not a pcap or pcapng file (magic {head.hex() or 'empty'})")

    def frames(self) -> Iterator[tuple[float, int, bytes, int]]:
        """Yield (timestamp, wire length, captured bytes, link type) for every record."""
        with self.path.open("rb") as fh:
            reader = _Chunked(fh, self)
            if self.format == "pcap":
                yield from self._pcap(reader)
            else:
                yield from self._pcapng(reader)

    def _pcap(self, r: _Chunked) -> Iterator[tuple[float, int, bytes, int]]:
        header = r.take(24)
        if header is None:
            raise CaptureError(f"{self.path}: pcap global header is cut short")
        endian, unit = _PCAP_MAGICS[header[:4]]
        snaplen, linktype = struct.unpack(endian + "II", header[16:24])
        linktype &= 0x0FFFFFFF
        unpack = struct.Struct(endian + "IIII").unpack_from
        limit = max(snaplen, 65535) if snaplen <= _MAX_RECORD else _MAX_RECORD
        # Records are sliced straight out of a 1 MiB buffer: one unpack and one slice per
        # packet, the buffer refilled only when a record crosses its end.
        buf, pos, base = r.rest(), 0, r.position
        read = r.read_more
        while True:
            if pos + 16 > len(buf):
                buf, base = buf[pos:] + read(), base + pos
                pos = 0
                if len(buf) < 16:
                    self.truncated = bool(buf)
                    self.bytes_read = base + len(buf)
                    return
            sec, frac, caplen, wirelen = unpack(buf, pos)
            if caplen > limit:
                raise CaptureError(
                    f"{self.path}: corrupt record at byte {base + pos}: "
                    f"captured length {caplen} exceeds {limit}"
                )
            end = pos + 16 + caplen
            if end > len(buf):
                buf, base = buf[pos:] + read(), base + pos
                pos, end = 0, 16 + caplen
                if end > len(buf):
                    self.truncated = True
                    self.bytes_read = base + len(buf)
                    return
            self.bytes_read = base + end
            yield sec + frac * unit, wirelen, buf[pos + 16:end], linktype
            pos = end

    def _pcapng(self, r: _Chunked) -> Iterator[tuple[float, int, bytes, int]]:
        endian = "<"
        interfaces: list[tuple[int, float]] = []
        while True:
            head = r.take(8)
            if head is None:
                return
            btype, blen = struct.unpack(endian + "II", head)
            if btype == _PCAPNG_SHB:
                peek = r.take(4)
                if peek is None:
                    return
                magic_le = struct.unpack("<I", peek)[0]
                if magic_le == _BYTE_ORDER_MAGIC:
                    endian = "<"
                elif struct.unpack(">I", peek)[0] == _BYTE_ORDER_MAGIC:
                    endian = ">"
                else:
                    raise CaptureError(f"{self.path}: pcapng section header has a bad byte order")
                btype, blen = struct.unpack(endian + "II", head)
                interfaces = []
                if blen < 28 or blen % 4 or blen > _MAX_RECORD * 4:
                    raise CaptureError(f"{self.path}: pcapng section header length {blen} is bad")
                if r.take(blen - 12) is None:
                    return
                continue
            if blen < 12 or blen % 4 or blen > _MAX_RECORD + 64:
                raise CaptureError(
                    f"{self.path}: corrupt pcapng block at byte {r.position - 8}: length {blen}"
                )
            body = r.take(blen - 8)
            if body is None:
                return
            body = body[:-4]
            if btype == 1:
                interfaces.append(self._idb(body, endian))
            elif btype == 6:
                if len(body) < 20:
                    raise CaptureError(f"{self.path}: pcapng packet block is cut short")
                iface, hi, lo, caplen, wirelen = struct.unpack(endian + "IIIII", body[:20])
                if iface >= len(interfaces) or caplen > len(body) - 20:
                    raise CaptureError(
                        f"{self.path}: pcapng packet block names interface {iface} "
                        f"or length {caplen} that does not exist"
                    )
                linktype, unit = interfaces[iface]
                yield ((hi << 32) | lo) * unit, wirelen, body[20:20 + caplen], linktype
            elif btype == 3:
                if not interfaces or len(body) < 4:
                    raise CaptureError(f"{self.path}: pcapng simple packet block without interface")
                (wirelen,) = struct.unpack(endian + "I", body[:4])
                linktype, _unit = interfaces[0]
                yield 0.0, wirelen, body[4:4 + wirelen], linktype

    def _idb(self, body: bytes, endian: str) -> tuple[int, float]:
        if len(body) < 8:
            raise CaptureError(f"{self.path}: pcapng interface block is cut short")
        linktype = struct.unpack(endian + "H", body[:2])[0]
        unit = 1e-6
        pos = 8
        while pos + 4 <= len(body):
            code, length = struct.unpack(endian + "HH", body[pos:pos + 4])
            if code == 0:
                break
            if code == 9 and length >= 1 and pos + 5 <= len(body):
                resol = body[pos + 4]
                exp = resol & 0x7F
                if exp > 30:
                    raise CaptureError(f"{self.path}: pcapng if_tsresol {resol} is out of range")
                unit = 2.0 ** -exp if resol & 0x80 else 10.0 ** -exp
            pos += 4 + ((length + 3) & ~3)
        return linktype, unit


class _Chunked:
    """Reads exact byte counts from a file through a 1 MiB buffer."""

    def __init__(self, fh: BinaryIO, owner: CaptureFile) -> None:
        self._fh = fh
        self._buf = b""
        self._pos = 0
        self._owner = owner
        self.position = 0

    def rest(self) -> bytes:
        """Hand over whatever is buffered (the caller reads on with read_more)."""
        data = self._buf[self._pos:]
        self._buf, self._pos = b"", 0
        return data

    def read_more(self) -> bytes:
        return self._fh.read(_CHUNK)

    def take(self, n: int) -> bytes | None:
        end = self._pos + n
        if end > len(self._buf):
            more = self._fh.read(max(_CHUNK, n))
            self._buf = self._buf[self._pos:] + more
            self._pos = 0
            end = n
            if end > len(self._buf):
                if self._buf:
                    self._owner.truncated = True
                return None
        data = self._buf[self._pos:end]
        self._pos = end
        self.position += n
        self._owner.bytes_read = self.position
        return data


class PcapWriter:
    """Writes a classic little-endian microsecond pcap (used by the benchmark and tests)."""

    def __init__(self, fh: BinaryIO, linktype: int = 1, snaplen: int = 65535) -> None:
        self._fh = fh
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype))
        self._rec = struct.Struct("<IIII")

    def write(self, ts: float, frame: bytes) -> None:
        sec = int(ts)
        usec = round((ts - sec) * 1e6)
        if usec >= 1_000_000:
            sec, usec = sec + 1, usec - 1_000_000
        self._fh.write(self._rec.pack(sec, usec, len(frame), len(frame)))
        self._fh.write(frame)
