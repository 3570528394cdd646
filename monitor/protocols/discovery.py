"""SSDP announcements (UPnP): the SERVER and friendly headers that name a device."""

from __future__ import annotations


def ssdp_server(payload: bytes) -> str | None:
    """The SERVER header of an SSDP NOTIFY or search response, if any."""
    if not (payload.startswith(b"NOTIFY ") or payload.startswith(b"HTTP/1.1 200")):
        return None
    for line in payload[:2048].split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"server":
            text = value.strip().decode("utf-8", "replace")[:128]
            return text or None
    return None
