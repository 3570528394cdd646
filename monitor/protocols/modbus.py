"""Modbus/TCP (MBAP) request headers."""

from __future__ import annotations

import struct
from dataclasses import dataclass

WRITE_FUNCTIONS = {
    5: "write_single_coil",
    6: "write_single_register",
    15: "write_multiple_coils",
    16: "write_multiple_registers",
    22: "mask_write_register",
    23: "read_write_multiple_registers",
}
_MBAP = struct.Struct("!HHHBB")


@dataclass(slots=True)
class ModbusPdu:
    """One Modbus/TCP application data unit header."""

    transaction: int
    unit: int
    function: int

    @property
    def is_write(self) -> bool:
        return self.function in WRITE_FUNCTIONS


def parse_modbus(payload: bytes) -> list[ModbusPdu]:
    """Parse the Modbus/TCP ADUs in one TCP payload (empty if it is not Modbus)."""
    out: list[ModbusPdu] = []
    pos = 0
    while pos + 8 <= len(payload) and len(out) < 32:
        txn, proto, length, unit, function = _MBAP.unpack_from(payload, pos)
        if proto != 0 or not 2 <= length <= 254:
            break
        out.append(ModbusPdu(txn, unit, function & 0x7F))
        pos += 6 + length
    return out
