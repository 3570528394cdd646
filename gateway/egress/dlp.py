"""Outbound DLP: the level of what a terminal is about to send, and a masked copy.

JSON and text bodies go through the ingress's `MaskingInspector` over classify/ (same
levels, same masking); form bodies and query strings are percent-decoded and graded but
never rewritten. A body that is not UTF-8 cannot be graded and is refused by the caller
(`Uninspectable`): an IoT terminal has no business sending opaque blobs past the proxy
unless an operator grants it another way.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_plus

from classify import Classifier
from gateway.ingress.core import is_inspectable
from gateway.ingress.dlp import MaskingInspector, Uninspectable

__all__ = ["OutboundInspection", "OutboundInspector", "Uninspectable"]


@dataclass(frozen=True, slots=True)
class OutboundInspection:
    """The level of one body or query; `masked` is set when masking changed the body."""

    level: str
    masked: bytes | None = None
    maskable: bool = False


class OutboundInspector:
    """Grades outbound bodies and query strings with one shared classifier."""

    def __init__(self, classifier: Classifier) -> None:
        self._classifier = classifier
        self._masking = MaskingInspector(classifier)

    def body(self, body: bytes, content_type: str, ceiling: str) -> OutboundInspection:
        """Grade (and, for JSON and text, mask above `ceiling`) a request body."""
        mime = content_type.split(";", 1)[0].strip().lower()
        if mime == "application/x-www-form-urlencoded":
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise Uninspectable("the form body is not UTF-8") from None
            fields = {key: value for key, value in parse_qsl(text, keep_blank_values=True)}
            return OutboundInspection(self._classifier.scan_json(fields).level or "L1")
        if is_inspectable(mime):
            found = self._masking.inspect(body, mime, ceiling)
            return OutboundInspection(found.level, found.masked_body, maskable=True)
        # any other declared type: graded as text if it is text at all
        found = self._masking.inspect(body, "text/plain", ceiling)
        return OutboundInspection(found.level)

    def query(self, query: str) -> str:
        """The level of a percent-decoded query string ("L1" when empty)."""
        if not query:
            return "L1"
        return self._classifier.scan_text(unquote_plus(query)).level or "L1"
