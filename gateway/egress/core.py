"""The egress PEP core: pure functions from facts to what the proxy does.

No sockets and no mitmproxy here (the addon is the I/O shell): a decision and an
inspection of the body go in, a `Verdict` comes out, and the refusal body is built here
so that every refusal has the same JSON shape (contract 3's 403, plus what was refused):

    {"error": "forbidden", "reasons": ["destination-not-permitted"], "decision_id": "…",
     "device": "cam-7", "destination": "paste.example:443",
     "message": "zonegate egress: this terminal may not send this request"}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from gateway.pdp.port import LEVELS

Action = Literal["forward", "mask", "block"]

# reasons decided in Python, before or after the policy (stable kebab-case like Rego's)
DEVICE_CERTIFICATE_INVALID = "device-certificate-invalid"
DATA_LEVEL_EXCEEDED = "data-level-exceeded"
BODY_TOO_LARGE = "body-too-large"
BODY_UNINSPECTABLE = "body-uninspectable"
POLICY_UNAVAILABLE = "policy-unavailable"
LOOKUP_UNAVAILABLE = "device-lookup-unavailable"
UPGRADE_REFUSED = "upgrade-not-permitted"


def rank(level: str | None) -> int:
    """L1 -> 1 … L6 -> 6; None or anything else is 0."""
    return LEVELS.index(level) + 1 if level in LEVELS else 0


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with one outbound request."""

    action: Action
    status: int = 200
    reasons: tuple[str, ...] = ()
    level: str | None = None  # the body's level before masking, when it was inspected
    body: bytes | None = None  # the refusal, or the masked request body

    @property
    def blocked(self) -> bool:
        """True when the request must not leave."""
        return self.action == "block"


_ERRORS = {
    403: ("forbidden", "zonegate egress: this terminal may not send this request"),
    413: ("payload-too-large", "zonegate egress: the request body is above the limit"),
    503: ("unavailable", "zonegate egress: cannot decide now; refused"),
}


def refusal(status: int, reasons: tuple[str, ...], *, decision_id: str = "",
            device: str = "", destination: str = "", detail: str = "") -> bytes:
    """The JSON body of a refused request."""
    error, message = _ERRORS.get(status, _ERRORS[503])
    doc: dict[str, object] = {
        "error": error, "reasons": list(reasons), "decision_id": decision_id,
        "device": device, "destination": destination, "message": message,
    }
    if detail:
        doc["detail"] = detail
    return json.dumps(doc, separators=(",", ":")).encode("utf-8")


def judge_body(*, level: str | None, masked_body: bytes | None, ceiling: str,
               mode: Literal["block", "mask"], maskable: bool) -> Verdict:
    """Compare an inspected body's level with the terminal's ceiling (`max_level`).

    `level` None means nothing was sent. Above the ceiling the body is refused, or, in
    mask mode for a body the classifier can rewrite (`maskable`), replaced by `masked_body`.
    """
    if level is None or rank(level) <= rank(ceiling):
        return Verdict("forward", level=level)
    if mode == "mask" and maskable and masked_body is not None:
        return Verdict("mask", level=level, reasons=(DATA_LEVEL_EXCEEDED,), body=masked_body)
    return Verdict("block", 403, (DATA_LEVEL_EXCEEDED,), level=level)
