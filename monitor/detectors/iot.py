"""IoT protocol abuse: MQTT anonymous sessions and wildcard subscriptions, CoAP
amplification, Modbus writes from hosts that are not masters.

mqtt_anonymous: a CONNECT without a user name that the broker accepts (CONNACK code 0);
source is the client, destination the broker.
mqtt_wildcard_subscribe: a SUBSCRIBE to '#', '+/#' or anything under '$SYS'.
coap_amplification: a CoAP server whose responses to one peer exceed `ratio` times the
requests it got from it, and at least `min_response_bytes`, in the window; source is the
reflecting server, destination the (probably spoofed) victim.
modbus_write: a write function code (5, 6, 15, 16, 22, 23) from a host not in `masters`
and not seen writing during the learning window. At `severity` (80, the default quarantine
threshold) only when `masters` is configured; without it the real master may simply not
have written while learning (or there was no learning window), so the alert is raised at
`severity_without_masters` (60), below the default quarantine threshold.
"""

from __future__ import annotations

from monitor.detectors.base import DetectorContext
from monitor.model import Packet
from monitor.protocols.coap import CoapMessage
from monitor.protocols.modbus import WRITE_FUNCTIONS, ModbusPdu
from monitor.protocols.mqtt import CONNACK, CONNECT, SUBSCRIBE, MqttPacket

_TABLE_LIMIT = 1 << 16
_WILDCARDS = frozenset({"#", "+/#", "/#"})


def is_wildcard(topic: str) -> bool:
    return topic in _WILDCARDS or topic == "$SYS" or topic.startswith("$SYS/")


class Mqtt:
    def __init__(self, ctx: DetectorContext) -> None:
        self.ctx = ctx
        self.anon = ctx.config.detectors.mqtt_anonymous
        self.wild = ctx.config.detectors.mqtt_wildcard_subscribe
        self._connects: dict[tuple[str | None, int, str | None, int], MqttPacket] = {}

    def on_mqtt(self, pkt: Packet, msgs: list[MqttPacket]) -> None:
        for msg in msgs:
            if msg.kind == CONNECT:
                if len(self._connects) >= _TABLE_LIMIT:
                    self._connects.clear()
                self._connects[(pkt.src_ip, pkt.sport, pkt.dst_ip, pkt.dport)] = msg
            elif msg.kind == CONNACK:
                connect = self._connects.pop((pkt.dst_ip, pkt.dport, pkt.src_ip, pkt.sport),
                                             None)
                if connect is not None and connect.username is None and msg.return_code == 0 \
                        and self.anon.enabled and pkt.sport in self.anon.ports:
                    self.ctx.detect(
                        "mqtt_anonymous", pkt, (pkt.dst_ip, pkt.src_ip), self.anon.severity,
                        f"broker {pkt.src_ip}:{pkt.sport} accepted an anonymous MQTT session "
                        f"from {pkt.dst_ip} (client id {connect.client_id!r})",
                        {"client_id": connect.client_id, "broker": pkt.src_ip,
                         "protocol_level": connect.protocol_level},
                        reverse=True,
                    )
            elif msg.kind == SUBSCRIBE and self.wild.enabled and pkt.dport in self.wild.ports:
                wild = [t for t in msg.topics if is_wildcard(t)]
                if wild:
                    self.ctx.detect(
                        "mqtt_wildcard_subscribe", pkt, (pkt.src_ip, pkt.dst_ip),
                        self.wild.severity,
                        f"{pkt.src_ip} subscribed to {', '.join(wild)} on {pkt.dst_ip}",
                        {"topics": wild[:16]},
                    )


class CoapAmplification:
    def __init__(self, ctx: DetectorContext) -> None:
        self.ctx = ctx
        self.cfg = ctx.config.detectors.coap_amplification
        self._flows: dict[tuple[str, str], list[float]] = {}

    def on_coap(self, pkt: Packet, msg: CoapMessage) -> None:
        if pkt.src_ip is None or pkt.dst_ip is None:
            return
        if msg.is_request:
            key = (pkt.dst_ip, pkt.src_ip)
            slot = 1
        else:
            key = (pkt.src_ip, pkt.dst_ip)
            slot = 2
        if len(self._flows) >= _TABLE_LIMIT:
            self._flows.clear()
        flow = self._flows.get(key)
        if flow is None or pkt.ts - flow[0] > self.cfg.window_seconds:
            flow = self._flows[key] = [pkt.ts, 0.0, 0.0]
        flow[slot] += pkt.length
        requested, answered = flow[1], flow[2]
        if slot == 2 and answered >= self.cfg.min_response_bytes \
                and answered >= self.cfg.ratio * max(requested, 1.0):
            self.ctx.detect(
                "coap_amplification", pkt, key, self.cfg.severity,
                f"CoAP server {key[0]} sent {answered:.0f} bytes to {key[1]} for "
                f"{requested:.0f} bytes of requests "
                f"(x{answered / max(requested, 1.0):.1f})",
                {"request_bytes": int(requested), "response_bytes": int(answered),
                 "uri_path": msg.uri_path},
            )


class ModbusWrite:
    def __init__(self, ctx: DetectorContext) -> None:
        self.ctx = ctx
        self.cfg = ctx.config.detectors.modbus_write
        self.masters = set(self.cfg.masters)
        self.severity = self.cfg.severity if self.cfg.masters \
            else self.cfg.severity_without_masters

    def on_modbus(self, pkt: Packet, pdus: list[ModbusPdu]) -> None:
        if pkt.dport != 502 or pkt.src_ip is None:
            return
        for pdu in pdus:
            if not pdu.is_write:
                continue
            if self.ctx.learning(pkt.ts):
                self.masters.add(pkt.src_ip)
                continue
            if pkt.src_ip in self.masters:
                continue
            self.ctx.detect(
                "modbus_write", pkt, (pkt.src_ip, pkt.dst_ip), self.severity,
                f"{pkt.src_ip} sent Modbus {WRITE_FUNCTIONS[pdu.function]} to "
                f"{pkt.dst_ip} unit {pdu.unit}, and is not a "
                f"{'configured' if self.cfg.masters else 'known'} master",
                {"function_code": pdu.function, "function": WRITE_FUNCTIONS[pdu.function],
                 "unit": pdu.unit, "masters_configured": bool(self.cfg.masters)},
            )
