"""Our small parsers agree with what scapy's builders and contrib dissectors produce."""

from __future__ import annotations

import pytest
from scapy.contrib.coap import CoAP
from scapy.contrib.modbus import (
    ModbusADURequest,
    ModbusPDU03ReadHoldingRegistersRequest,
    ModbusPDU06WriteSingleRegisterRequest,
    ModbusPDU10WriteMultipleRegistersRequest,
)
from scapy.contrib.mqtt import (
    MQTT,
    MQTTConnack,
    MQTTConnect,
    MQTTPublish,
    MQTTSubscribe,
    MQTTTopicQOS,
)
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dns import DNS, DNSQR, DNSRR

from monitor.protocols.cleartext import ftp_command, http_basic, telnet_prompt, telnet_text
from monitor.protocols.coap import parse_coap
from monitor.protocols.dhcp import parse_dhcp
from monitor.protocols.discovery import ssdp_server
from monitor.protocols.dns import parse_dns
from monitor.protocols.modbus import parse_modbus
from monitor.protocols.mqtt import CONNACK, CONNECT, PUBLISH, SUBSCRIBE, parse_mqtt


def test_dns_query_and_answer() -> None:
    query = DNS(id=7, rd=1, qd=DNSQR(qname="cam.example.com", qtype="TXT"))
    msg = parse_dns(bytes(query))
    assert msg is not None and not msg.is_response
    assert msg.questions == [("cam.example.com", 16)]
    answer = DNS(id=7, qr=1, rcode=3, qd=DNSQR(qname="x.example.com"),
                 an=DNSRR(rrname="x.example.com", type="A", rdata="93.184.216.34"))
    msg = parse_dns(bytes(answer))
    assert msg is not None and msg.is_response and msg.rcode == 3
    assert msg.answers == [("x.example.com", 1, "93.184.216.34")]


def test_dns_compression_loop_is_rejected() -> None:
    raw = bytes(DNS(id=1, qd=DNSQR(qname="a.b")))[:12] + b"\xc0\x0c" + b"\x00\x01\x00\x01"
    assert parse_dns(raw) is None


def test_dhcp_fingerprint() -> None:
    pkt = BOOTP(op=1, chaddr=bytes.fromhex("001212aabbcc") + b"\0" * 10) / DHCP(options=[
        ("message-type", "request"), ("hostname", b"cam-lobby"), ("vendor_class_id", b"udhcp 1.30"),
        ("param_req_list", [1, 3, 6, 15, 28, 42]), "end"])
    msg = parse_dhcp(bytes(pkt))
    assert msg is not None
    assert (msg.msg_type, msg.client_mac, msg.hostname, msg.vendor_class, msg.fingerprint) == \
        (3, "00:12:12:aa:bb:cc", "cam-lobby", "udhcp 1.30", "1,3,6,15,28,42")


def test_dhcp_server_id() -> None:
    pkt = BOOTP(op=2, yiaddr="10.0.0.50") / DHCP(options=[
        ("message-type", "offer"), ("server_id", "10.0.0.66"), "end"])
    msg = parse_dhcp(bytes(pkt))
    assert msg is not None and (msg.op, msg.msg_type, msg.server_id, msg.your_ip) == \
        (2, 2, "10.0.0.66", "10.0.0.50")


@pytest.mark.parametrize(("user", "password"), [(None, None), (b"meter", b"s3cret")])
def test_mqtt_connect(user: bytes | None, password: bytes | None) -> None:
    fields = {"protoname": b"MQTT", "protolevel": 4, "clientId": b"meter-7"}
    if user is not None:
        fields.update(usernameflag=1, passwordflag=1, username=user, password=password)
    msgs = parse_mqtt(bytes(MQTT() / MQTTConnect(**fields)))
    assert [m.kind for m in msgs] == [CONNECT]
    assert msgs[0].client_id == "meter-7"
    assert msgs[0].username == (user.decode() if user else None)
    assert msgs[0].has_password is (password is not None)
    assert msgs[0].password_length == (len(password) if password else 0)


def test_mqtt_several_packets_in_one_segment() -> None:
    payload = (bytes(MQTT() / MQTTConnack(retcode=0))
               + bytes(MQTT(QOS=1) / MQTTSubscribe(msgid=1, topics=[
                   MQTTTopicQOS(topic=b"$SYS/#", QOS=0), MQTTTopicQOS(topic=b"a/b", QOS=1)]))
               + bytes(MQTT() / MQTTPublish(topic=b"t", value=b"v")))
    msgs = parse_mqtt(payload)
    assert [m.kind for m in msgs] == [CONNACK, SUBSCRIBE, PUBLISH]
    assert msgs[0].return_code == 0
    assert msgs[1].topics == ["$SYS/#", "a/b"]


def test_coap() -> None:
    req = CoAP(type=0, code=1, msg_id=5, token=b"ab",
               options=[("Uri-Path", b".well-known"), ("Uri-Path", b"core")])
    msg = parse_coap(bytes(req))
    assert msg is not None and msg.is_request and msg.uri_path == "/.well-known/core"
    resp = parse_coap(bytes(CoAP(type=2, code=69, msg_id=5, token=b"ab")) + b"\xff" + b"x" * 50)
    assert resp is not None and not resp.is_request


@pytest.mark.parametrize(("pdu", "function", "write"), [
    (ModbusPDU03ReadHoldingRegistersRequest(), 3, False),
    (ModbusPDU06WriteSingleRegisterRequest(registerAddr=1, registerValue=9), 6, True),
    (ModbusPDU10WriteMultipleRegistersRequest(outputsValue=[1, 2]), 16, True),
])
def test_modbus(pdu: object, function: int, write: bool) -> None:
    raw = bytes(ModbusADURequest(transId=3, unitId=9) / pdu)  # type: ignore[operator]
    pdus = parse_modbus(raw)
    assert [(p.unit, p.function, p.is_write) for p in pdus] == [(9, function, write)]


def test_http_basic_never_keeps_the_secret() -> None:
    cred = http_basic(b"GET / HTTP/1.1\r\nHost: x\r\n"
                      b"Authorization: Basic YWRtaW46aHVudGVyMg==\r\n\r\n")
    assert cred is not None and cred.username == "admin" and cred.secret_length == 7
    assert "hunter2" not in repr(cred)
    assert http_basic(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") is None


def test_ftp_and_telnet_helpers() -> None:
    assert ftp_command(b"USER anonymous\r\n") == ("USER", "anonymous")
    assert ftp_command(b"PASS x\r\n") == ("PASS", "1")
    assert ftp_command(b"LIST\r\n") is None
    assert telnet_prompt(b"\r\nPassword: ") == "password"
    assert telnet_prompt(b"router login: ") == "login"
    assert telnet_prompt(b"Welcome") is None
    assert telnet_text(b"\xff\xfb\x01ab\xff\xfa\x18\x00xx\xff\xf0c") == b"abc"


def test_ssdp() -> None:
    notify = (b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"
              b"SERVER: Linux/3.10 UPnP/1.0 IPCamera/2.1\r\n\r\n")
    assert ssdp_server(notify) == "Linux/3.10 UPnP/1.0 IPCamera/2.1"
    assert ssdp_server(b"M-SEARCH * HTTP/1.1\r\n\r\n") is None
