"""Our decoder and Community ID agree with tshark's on the shipped capture vectors."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.community_id import community_id_raw
from monitor.decode import decode
from monitor.pcapio import CaptureFile

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "monitor"


@pytest.mark.parametrize("name", ["mirai_scan.pcap", "iot_protocols.pcap", "cleartext.pcapng",
                                  "dns_abuse.pcap"])
def test_community_id_matches_tshark(require_tool: Callable[[str], str], name: str) -> None:
    tshark = require_tool("tshark")
    path = VECTORS / name
    result = subprocess.run(
        [tshark, "-r", str(path), "--enable-protocol", "communityid", "-T", "fields",
         "-e", "ip.src", "-e", "ip.dst", "-e", "communityid"],
        capture_output=True, text=True, check=True, timeout=120,
    )
    theirs = [line.split("\t") for line in result.stdout.splitlines()]
    ours = []
    for ts, wirelen, frame, linktype in CaptureFile(path).frames():
        pkt = decode(frame, ts, linktype, wirelen)
        cid = community_id_raw(pkt.src_ip_raw, pkt.dst_ip_raw, pkt.proto, pkt.sport,
                               pkt.dport) if pkt.src_ip_raw else ""
        ours.append([pkt.src_ip or "", pkt.dst_ip or "", cid])
    assert len(ours) == len(theirs) > 0
    assert ours == theirs
