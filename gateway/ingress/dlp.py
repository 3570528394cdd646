"""Response DLP: the hook through which classify/ judges and masks response bodies.

`ResponseInspector` is the port the data plane calls with a whole (bounded) JSON or text
body and the caller's ceiling. `MaskingInspector` adapts anything with classify/'s
`mask_json(obj, above)` / `mask_text(text, above)` methods to it. A body that claims to
be JSON but does not parse is scanned as text; a body that is not UTF-8 raises
`Uninspectable` and the shell treats it as a body it could not classify.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.ingress.core import is_inspectable
from gateway.ingress.errors import IngressError


class Uninspectable(IngressError):
    """The body cannot be classified (not UTF-8, nested too deep)."""


@dataclass(frozen=True, slots=True)
class Inspection:
    """The verdict on one body: its level and, when masking changed it, the new body."""

    level: str
    masked_body: bytes | None  # None when masking left the body unchanged
    # the level of the masked body, scanned again: combination and volume rules can keep
    # it above the ceiling after every single finding above it was masked (None: unmasked)
    residual_level: str | None = None


class ResponseInspector(Protocol):
    """Port: classify a response body and mask what lies above `ceiling`."""

    def inspect(self, body: bytes, content_type: str, ceiling: str) -> Inspection:
        """Return the body's level (before masking) and the masked body if it changed,
        with the masked body's own level (`residual_level`).

        Raises Uninspectable when the body cannot be read as text at all.
        """
        ...


class ScanLevel(Protocol):
    """The part of classify's ScanResult the data plane needs."""

    @property
    def level(self) -> str | None:
        """Highest level found (None or 'L1' for nothing sensitive)."""
        ...


class Masker(Protocol):
    """The part of classify's Classifier the data plane needs."""

    def mask_json(self, obj: Any, above: str) -> tuple[Any, ScanLevel]:
        """Mask every finding above `above` in a parsed JSON value."""
        ...

    def mask_text(self, text: str, above: str) -> tuple[str, ScanLevel]:
        """Mask every finding above `above` in text."""
        ...

    def scan_json(self, obj: Any) -> ScanLevel:
        """Grade a parsed JSON value (a masked body, before it is released)."""
        ...

    def scan_text(self, text: str) -> ScanLevel:
        """Grade text (a masked body, before it is released)."""
        ...


def _is_json(content_type: str) -> bool:
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime == "application/json" or mime.endswith("+json")


class MaskingInspector:
    """ResponseInspector over a classify-style masker."""

    def __init__(self, masker: Masker) -> None:
        self._masker = masker

    def inspect(self, body: bytes, content_type: str, ceiling: str) -> Inspection:
        """Classify and mask a JSON or text body (see ResponseInspector)."""
        if not is_inspectable(content_type):
            raise Uninspectable(f"content type {content_type!r} is not classified")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Uninspectable("the body is not UTF-8 text") from None
        if _is_json(content_type):
            try:
                document = json.loads(text)
            except json.JSONDecodeError:
                document = None
            except RecursionError:
                raise Uninspectable("the JSON body is nested too deep") from None
            else:
                try:
                    masked, result = self._masker.mask_json(document, ceiling)
                except RecursionError:
                    raise Uninspectable("the JSON body is nested too deep") from None
                level = result.level or "L1"
                # classify returns the very object when nothing was masked: skip the deep
                # comparison then (another masker may return an equal copy)
                if masked is document or masked == document:
                    return Inspection(level, None)
                residual = self._masker.scan_json(masked).level or "L1"
                out = json.dumps(masked, ensure_ascii=False, separators=(",", ":"))
                return Inspection(level, out.encode("utf-8"), residual)
        masked_text, result = self._masker.mask_text(text, ceiling)
        level = result.level or "L1"
        if masked_text == text:
            return Inspection(level, None)
        residual = self._masker.scan_text(masked_text).level or "L1"
        return Inspection(level, masked_text.encode("utf-8"), residual)


class CachingInspector:
    """Remembers verdicts on recently seen bodies (hot records are fetched again and again).

    Keyed on the SHA-256 of the body with its content type and the ceiling, so a hit is
    exactly the verdict the inner inspector would give again. Bounded: bodies above
    `max_body` bytes are never cached, and at most `max_entries` verdicts are kept (least
    recently used first out), so the cache holds at most about
    `max_entries * max_body * 2` bytes.
    """

    def __init__(self, inner: ResponseInspector, *, max_entries: int = 512,
                 max_body: int = 16 << 10,
                 on_lookup: Callable[[bool], None] | None = None) -> None:
        self._inner = inner
        self._max_entries = max_entries
        self._max_body = max_body
        self._on_lookup = on_lookup
        self._entries: OrderedDict[bytes, Inspection] = OrderedDict()

    def inspect(self, body: bytes, content_type: str, ceiling: str) -> Inspection:
        """The inner verdict, from the cache when this exact body was judged before."""
        if len(body) > self._max_body:
            return self._inner.inspect(body, content_type, ceiling)
        digest = hashlib.sha256(body)
        digest.update(b"\0" + content_type.encode("latin-1", "replace") + b"\0"
                      + ceiling.encode("ascii", "replace"))
        key = digest.digest()
        found = self._entries.get(key)
        if self._on_lookup is not None:
            self._on_lookup(found is not None)
        if found is not None:
            self._entries.move_to_end(key)
            return found
        verdict = self._inner.inspect(body, content_type, ceiling)
        self._entries[key] = verdict
        if len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return verdict
