"""Credentials in cleartext: Telnet login, FTP USER/PASS, HTTP Basic, MQTT password on 1883.

Telnet: a server prompt "Password:" followed by client data in the same connection. The
evidence carries the user name (FTP, HTTP, MQTT) and the secret's length, never the secret.
"""

from __future__ import annotations

from monitor.detectors.base import DetectorContext
from monitor.model import Packet
from monitor.protocols.cleartext import ftp_command, http_basic, telnet_prompt, telnet_text
from monitor.protocols.mqtt import CONNECT, MqttPacket

_TABLE_LIMIT = 1 << 16
_Flow = tuple[str | None, int, str | None, int]


class CleartextCredentials:
    def __init__(self, ctx: DetectorContext) -> None:
        self.ctx = ctx
        self.cfg = ctx.config.detectors.cleartext_credentials
        self.tcp_ports = frozenset({21, 23, 2323, *self.cfg.http_ports})
        self._http = frozenset(self.cfg.http_ports)
        self._telnet_prompted: dict[_Flow, str] = {}
        self._ftp_users: dict[_Flow, str] = {}

    def on_tcp_payload(self, pkt: Packet) -> None:
        if pkt.dport in self._http:
            cred = http_basic(pkt.payload)
            if cred is not None:
                self._emit(pkt, "http", cred.username, cred.secret_length)
        elif pkt.dport == 21:
            command = ftp_command(pkt.payload)
            flow = (pkt.src_ip, pkt.sport, pkt.dst_ip, pkt.dport)
            if command is None:
                return
            if command[0] == "USER":
                self._bounded(self._ftp_users)[flow] = command[1]
            else:
                user = self._ftp_users.pop(flow, None)
                self._emit(pkt, "ftp", user, int(command[1]))
        elif pkt.dport in (23, 2323):
            flow = (pkt.src_ip, pkt.sport, pkt.dst_ip, pkt.dport)
            if self._telnet_prompted.pop(flow, None) == "password":
                text = telnet_text(pkt.payload).strip()
                self._emit(pkt, "telnet", None, len(text))
        elif pkt.sport in (23, 2323):
            prompt = telnet_prompt(telnet_text(pkt.payload))
            if prompt is not None:
                flow = (pkt.dst_ip, pkt.dport, pkt.src_ip, pkt.sport)
                self._bounded(self._telnet_prompted)[flow] = prompt

    def on_mqtt(self, pkt: Packet, msgs: list[MqttPacket]) -> None:
        if pkt.dport != 1883:
            return
        for msg in msgs:
            if msg.kind == CONNECT and msg.has_password:
                self._emit(pkt, "mqtt", msg.username, msg.password_length)

    @staticmethod
    def _bounded(table: dict[_Flow, str]) -> dict[_Flow, str]:
        if len(table) >= _TABLE_LIMIT:
            table.clear()
        return table

    def _emit(self, pkt: Packet, protocol: str, user: str | None, secret_length: int) -> None:
        who = f"user {user!r}" if user else "a login"
        self.ctx.detect(
            "cleartext_credentials", pkt, (pkt.src_ip, pkt.dst_ip, protocol),
            self.cfg.severity,
            f"{pkt.src_ip} sent {who} with a password in cleartext {protocol} to "
            f"{pkt.dst_ip}:{pkt.dport}",
            {"protocol": protocol, "username": user, "secret_length": secret_length},
        )
