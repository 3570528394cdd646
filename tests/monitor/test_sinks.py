"""Alert destinations: NDJSON (fsynced), HTTP with a spool, CEF over syslog, OCSF."""

from __future__ import annotations

import http.server
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from monitor.alerts import Detection, Incident, to_ecs
from monitor.errors import AlertSinkError
from monitor.sinks import CefSyslogSink, HttpSink, NdjsonSink, OcsfSink, to_cef, to_ocsf
from monitor.sinks.ndjson import append_durably


def _incident(count: int = 1) -> Incident:
    det = Detection("telnet_bruteforce", 1_700_000_000.25, ("10.0.0.13",), 90,
                    "10.0.0.13 sent a Mirai|signature SYN = bad",
                    src_ip="10.0.0.13", src_mac="00:12:12:00:00:0d", dst_ip="10.0.0.77",
                    dst_port=23, transport=6, community_id="1:abc=", device_id="00:12:12:00:00:0d",
                    evidence={"mirai_signature": True})
    return Incident("inc1", det, det, det.ts, det.ts + 5, count, 90, 1)


def _doc(action: str = "incident-opened") -> dict[str, object]:
    return to_ecs(_incident(), action)


def test_ndjson_appends_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "alerts.ndjson"
    sink = NdjsonSink(path)
    sink.emit(_doc(), _incident())
    sink.emit(_doc("incident-closed"), _incident())
    sink.close()
    lines = path.read_text().splitlines()
    assert [json.loads(x)["event"]["action"] for x in lines] == \
        ["incident-opened", "incident-closed"]


def test_ndjson_unwritable_path(tmp_path: Path) -> None:
    with pytest.raises(AlertSinkError, match="cannot open"):
        NdjsonSink(tmp_path / "missing-dir" / "a.ndjson")


class _Collector(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.status == 200:
            type(self).received.append(json.loads(body))
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def control_plane() -> Iterator[tuple[str, type[_Collector]]]:
    handler = type("Handler", (_Collector,), {"received": [], "status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/alerts", handler
    server.shutdown()
    server.server_close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_http_delivers(tmp_path: Path, control_plane: tuple[str, type[_Collector]]) -> None:
    url, handler = control_plane
    sink = HttpSink(url, tmp_path / "spool")
    sink.emit(_doc(), _incident())
    assert [d["event"]["id"] for d in handler.received] == ["inc1"]
    assert sink.pending() == 0


def test_http_spools_while_unreachable_then_replays_in_order(tmp_path: Path) -> None:
    clock = [0.0]
    port = _free_port()
    spool = tmp_path / "spool.ndjson"
    sink = HttpSink(f"http://127.0.0.1:{port}/alerts", spool, retry_seconds=10,
                    clock=lambda: clock[0])
    docs = []
    for i in range(3):
        doc = _doc()
        doc["message"] = f"alert {i}"
        docs.append(doc)
        sink.emit(doc, _incident())
    assert sink.pending() == 3 and sink.delivered == 0
    handler = type("Handler", (_Collector,), {"received": [], "status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        late = _doc()
        late["message"] = "alert 3"
        sink.emit(late, _incident())  # still inside the back-off: spooled, not posted
        assert handler.received == [] and sink.pending() == 4
        clock[0] = 11.0
        fresh = _doc()
        fresh["message"] = "alert 4"
        sink.emit(fresh, _incident())
        assert [d["message"] for d in handler.received] == [f"alert {i}" for i in range(5)]
        assert sink.pending() == 0
    finally:
        server.shutdown()
        server.server_close()


def test_http_server_error_keeps_alert(tmp_path: Path,
                                       control_plane: tuple[str, type[_Collector]]) -> None:
    url, handler = control_plane
    handler.status = 503
    sink = HttpSink(url, tmp_path / "spool")
    sink.emit(_doc(), _incident())
    assert sink.pending() == 1 and sink.last_error == "HTTP 503"


@pytest.mark.parametrize("url", ["ftp://x/", "file:///etc/passwd", "not a url"])
def test_http_rejects_non_http_urls(tmp_path: Path, url: str) -> None:
    with pytest.raises(AlertSinkError, match="http"):
        HttpSink(url, tmp_path / "spool")


def test_cef_format_escapes() -> None:
    line = to_cef(_doc())
    assert line.startswith("CEF:0|zonegate|monitor|0.1.0|telnet_bruteforce|")
    assert "|9|" in line
    assert "msg=10.0.0.13 sent a Mirai|signature SYN \\= bad" in line
    assert "src=10.0.0.13" in line and "dpt=23" in line and "cs1=1:abc\\=" in line


def test_cef_over_real_udp_syslog() -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    sink = CefSyslogSink("127.0.0.1", receiver.getsockname()[1], "udp", hostname="mon1")
    try:
        sink.emit(_doc(), _incident())
        data, _addr = receiver.recvfrom(65535)
    finally:
        sink.close()
        receiver.close()
    text = data.decode()
    assert text.startswith("<162>1 2023-11-14T22:13:20.250Z mon1 zonegate-monitor - - - CEF:0|")


def _complete(data: bytes) -> bool:
    """An octet-counted syslog frame (RFC 6587) has fully arrived."""
    length, sep, rest = data.partition(b" ")
    return bool(sep) and len(rest) >= int(length)


def test_cef_over_real_tcp_syslog() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    sink = CefSyslogSink("127.0.0.1", server.getsockname()[1], "tcp")
    conn, _addr = server.accept()
    try:
        sink.emit(_doc(), _incident())
        conn.settimeout(5)
        data = b""
        while not _complete(data):
            data += conn.recv(65535)
    finally:
        sink.close()
        conn.close()
        server.close()
    length, _sep, message = data.partition(b" ")
    assert int(length) == len(message) and b"CEF:0|zonegate" in message


def test_ocsf_detection_finding(tmp_path: Path) -> None:
    finding = to_ocsf(_doc(), _incident(count=3))
    assert finding["class_uid"] == 2004 and finding["type_uid"] == 200401
    assert finding["severity_id"] == 5 and finding["count"] == 3
    assert finding["time"] == 1_700_000_000_250
    info = finding["finding_info"]
    assert isinstance(info, dict)
    assert info["analytic"]["uid"] == "telnet_bruteforce"
    assert info["attacks"][0]["technique"]["uid"] == "T1110.001"
    assert finding["src_endpoint"] == {"ip": "10.0.0.13", "mac": "00:12:12:00:00:0d",
                                       "uid": "00:12:12:00:00:0d"}
    closed = to_ocsf(_doc("incident-closed"), _incident())
    assert closed["activity_id"] == 2
    path = tmp_path / "ocsf.ndjson"
    sink = OcsfSink(path)
    sink.emit(_doc(), _incident())
    sink.close()
    assert json.loads(path.read_text())["class_uid"] == 2004


def test_append_durably_writes_to_a_pipe_without_fsync(tmp_path: Path) -> None:
    # containers send alerts to /dev/stdout, a pipe: fsync there fails with EINVAL
    read_end, write_end = os.pipe()
    try:
        append_durably(write_end, b'{"a":1}\n', tmp_path / "stdout")
        assert os.read(read_end, 100) == b'{"a":1}\n'
    finally:
        os.close(read_end)
        os.close(write_end)


def test_http_spool_is_replayed_without_waiting_for_the_next_alert(
        tmp_path: Path, control_plane: tuple[str, type[_Collector]]) -> None:
    url, handler = control_plane
    clock = [0.0]
    handler.status = 503
    sink = HttpSink(url, tmp_path / "spool", retry_seconds=10, clock=lambda: clock[0])
    sink.emit(_doc(), _incident())
    assert sink.pending() == 1
    handler.status = 200
    sink.poll()  # inside the back-off: nothing is tried
    assert handler.received == [] and sink.pending() == 1
    clock[0] = 11.0
    sink.poll()  # a quiet capture: no new alert, the spool still empties
    assert [d["event"]["id"] for d in handler.received] == ["inc1"]
    assert sink.pending() == 0


class _Picky(_Collector):
    """Refuses one alert for good (422), stores the rest; `status` 503 refuses all."""

    def do_POST(self) -> None:
        doc = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status = type(self).status
        if status == 200 and doc.get("message") == "refused for good":
            status = 422
        if status == 200:
            type(self).received.append(doc)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_http_permanent_refusal_is_dead_lettered_and_does_not_block(tmp_path: Path) -> None:
    handler = type("Handler", (_Picky,), {"received": [], "status": 503})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        clock = [0.0]
        sink = HttpSink(f"http://127.0.0.1:{server.server_address[1]}/api/alerts",
                        tmp_path / "spool", retry_seconds=10, clock=lambda: clock[0])
        bad, good = _doc(), _doc()
        bad["message"], good["message"] = "refused for good", "fine"
        sink.emit(bad, _incident())
        sink.emit(good, _incident())
        assert sink.pending() == 2
        handler.status = 200
        clock[0] = 11.0
        sink.poll()
        assert sink.rejected == 1 and sink.last_error is not None
        assert "422" in sink.last_error
        rejected = [json.loads(line) for line in sink.rejected_path.read_text().splitlines()]
        assert [d["message"] for d in rejected] == ["refused for good"]
        assert [d["message"] for d in handler.received] == ["fine"]  # not stuck behind it
        assert sink.pending() == 0  # and nothing lost
    finally:
        server.shutdown()
        server.server_close()


def test_http_auth_refusal_is_retried_not_dead_lettered(
        tmp_path: Path, control_plane: tuple[str, type[_Collector]]) -> None:
    url, handler = control_plane
    handler.status = 403  # e.g. a certificate being renewed
    sink = HttpSink(url, tmp_path / "spool")
    sink.emit(_doc(), _incident())
    assert sink.pending() == 1 and sink.rejected == 0
    assert not sink.rejected_path.exists()
