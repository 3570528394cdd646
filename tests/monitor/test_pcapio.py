"""Streaming pcap/pcapng reading, including files cut short or corrupted."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import PcapNgWriter, PcapWriter, wrpcap

from monitor.errors import CaptureError
from monitor.pcapio import CaptureFile
from monitor.pcapio import PcapWriter as OwnWriter


def _packets(n: int = 5) -> list[Ether]:
    out = []
    for i in range(n):
        pkt = Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1000 + i, dport=53)
        pkt.time = 1_700_000_000 + i + 0.25
        out.append(pkt)
    return out


def _read(path: Path) -> list[tuple[float, int, bytes, int]]:
    return list(CaptureFile(path).frames())


@pytest.mark.parametrize("kind", ["pcap-us", "pcap-ns", "pcapng"])
def test_reads_what_scapy_writes(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"t.{kind}"
    pkts = _packets()
    if kind == "pcap-us":
        wrpcap(str(path), pkts)
    elif kind == "pcap-ns":
        with PcapWriter(str(path), nano=True) as writer:
            writer.write(pkts)
    else:
        with PcapNgWriter(str(path)) as writer:
            writer.write(pkts)
    frames = _read(path)
    assert [f[2] for f in frames] == [bytes(p) for p in pkts]
    assert [f[3] for f in frames] == [1] * 5
    assert frames[2][0] == pytest.approx(1_700_000_002.25, abs=1e-5)


def test_own_writer_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "own.pcap"
    with path.open("wb") as fh:
        writer = OwnWriter(fh)
        writer.write(12.5, b"\x01" * 60)
        writer.write(13.999_999_9, b"\x02" * 61)
    frames = _read(path)
    assert [(round(t, 6), len(b)) for t, _w, b, _l in frames] == [(12.5, 60), (14.0, 61)]


def test_truncated_tail_ends_stream(tmp_path: Path) -> None:
    path = tmp_path / "cut.pcap"
    wrpcap(str(path), _packets())
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    capture = CaptureFile(path)
    frames = list(capture.frames())
    assert len(frames) == 4
    assert capture.truncated


@pytest.mark.parametrize(("content", "message"), [
    (b"", "not a pcap"),
    (b"hello world, not a capture", "not a pcap"),
    (b"\xd4\xc3\xb2\xa1" + b"\x00" * 10, "global header is cut short"),
])
def test_bad_headers(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureError, match=message):
        list(CaptureFile(path).frames())


def test_corrupt_record_length(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.pcap"
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    record = struct.pack("<IIII", 1, 0, 0x7FFFFFFF, 60)
    path.write_bytes(header + record + b"\x00" * 60)
    with pytest.raises(CaptureError, match="exceeds"):
        list(CaptureFile(path).frames())


def test_corrupt_pcapng_block(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.pcapng"
    with PcapNgWriter(str(path)) as writer:
        writer.write(_packets(2))
    data = bytearray(path.read_bytes())
    # the last EPB: overwrite its total length with an absurd value
    last = len(data) - struct.unpack("<I", data[-4:])[0]
    data[last + 4:last + 8] = struct.pack("<I", 0x7FFFFFF0)
    path.write_bytes(bytes(data))
    with pytest.raises(CaptureError, match="corrupt pcapng block"):
        list(CaptureFile(path).frames())


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="cannot read"):
        CaptureFile(tmp_path / "nope.pcap")
