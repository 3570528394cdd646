"""Parse Envoy's `X-Forwarded-Client-Cert` header defensively.

Format (Envoy docs, "x-forwarded-client-cert"): elements separated by `,`, each a list of
`Key=Value` pairs separated by `;`. Values may be double-quoted (then `,`, `;` and `=` are
literal and `\\"` is a quote). Keys: By, Hash, Cert, Chain, Subject, URI, DNS. `Cert` and
`Chain` are URL-encoded PEM. Anything unexpected is a `XFCCError`; the caller decides what
that means (from a trusted peer: InvalidCredentials; from anyone else: the header is
ignored before it is ever parsed).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from gateway.identity.errors import IdentityError

__all__ = ["MAX_XFCC_BYTES", "XFCCElement", "XFCCError", "parse_xfcc"]

MAX_XFCC_BYTES = 64 * 1024
_MAX_ELEMENTS = 8
_SINGLE = frozenset({"hash", "cert", "chain", "subject"})
_MULTI = frozenset({"by", "uri", "dns"})


class XFCCError(IdentityError):
    """The header does not follow the Envoy XFCC format."""


@dataclass(frozen=True, slots=True)
class XFCCElement:
    """One proxy hop's view of the client certificate."""

    by: tuple[str, ...] = ()
    hash: str | None = None
    cert_pem: bytes | None = None
    chain_pem: bytes | None = None
    subject: str | None = None
    uris: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()


def _split(text: str, sep: str) -> list[str]:
    """Split on `sep` outside double quotes; quotes stay in the pieces."""
    pieces: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quoted:
            current.append(char)
            escaped = True
        elif char == '"':
            current.append(char)
            quoted = not quoted
        elif char == sep and not quoted:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    if quoted:
        raise XFCCError("unterminated quoted value")
    pieces.append("".join(current))
    return pieces


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        inner = value[1:-1]
        out: list[str] = []
        escaped = False
        for char in inner:
            if escaped:
                out.append(char)
                escaped = False
            elif char == "\\":
                escaped = True
            else:
                out.append(char)
        return "".join(out)
    if '"' in value:
        raise XFCCError("stray quote in a value")
    return value


def _pem(value: str, key: str) -> bytes:
    data = unquote_to_bytes(value)
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise XFCCError(f"{key} is not a URL-encoded PEM certificate")
    return data


def _element(text: str) -> XFCCElement:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {name: [] for name in _MULTI}
    for pair in _split(text, ";"):
        if not pair.strip():
            continue
        key, eq, raw = pair.partition("=")
        key = key.strip().lower()
        if not eq or not key:
            raise XFCCError(f"expected Key=Value, got {pair[:40]!r}")
        value = _unquote(raw.strip())
        if key in _SINGLE:
            if key in single:
                raise XFCCError(f"{key} appears twice in one element")
            single[key] = value
        elif key in _MULTI:
            multi[key].append(value)
        else:
            raise XFCCError(f"unknown key {key!r}")
    hash_value = single.get("hash")
    if hash_value is not None and (len(hash_value) != 64
                                   or any(c not in "0123456789abcdefABCDEF" for c in hash_value)):
        raise XFCCError("Hash is not a hex SHA-256 digest")
    return XFCCElement(
        by=tuple(multi["by"]),
        hash=hash_value.lower() if hash_value is not None else None,
        cert_pem=_pem(single["cert"], "Cert") if "cert" in single else None,
        chain_pem=_pem(single["chain"], "Chain") if "chain" in single else None,
        subject=single.get("subject"),
        uris=tuple(multi["uri"]),
        dns=tuple(multi["dns"]),
    )


def parse_xfcc(header: str) -> tuple[XFCCElement, ...]:
    """Parse the whole header into its elements (first = closest to the client)."""
    if len(header) > MAX_XFCC_BYTES:
        raise XFCCError(f"header longer than {MAX_XFCC_BYTES} bytes")
    if not header.isascii() or any(ord(c) < 0x20 for c in header):
        raise XFCCError("header contains non-ASCII or control characters")
    elements = [part for part in _split(header, ",") if part.strip()]
    if not elements:
        raise XFCCError("empty header")
    if len(elements) > _MAX_ELEMENTS:
        raise XFCCError(f"more than {_MAX_ELEMENTS} elements")
    return tuple(_element(part) for part in elements)
