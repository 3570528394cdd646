"""What the audit record of one request says, gathered as the request goes."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.pdp.port import JSONObject


@dataclass(slots=True)
class RequestTrail:
    """What the audit record of one request says."""

    request_id: str
    method: str
    path: str
    zone: str = ""
    subject: str = ""
    subject_type: str = ""
    authenticated: bool = False
    device: str = ""
    device_trust: str = ""
    decision_id: str = ""
    allow: bool | None = None
    reasons: tuple[str, ...] = ()
    outcome: str = ""
    status: int = 0
    response_level: str | None = None
    dlp: str = "none"
    bytes_sent: int = 0
    full_input: JSONObject | None = None

    def event(self, elapsed: float, policy_revision: str) -> dict[str, object]:
        """The audit event (the full policy input only under the `audit` obligation)."""
        event: dict[str, object] = {
            "request_id": self.request_id, "decision_id": self.decision_id,
            "method": self.method, "path": self.path, "zone": self.zone,
            "subject": self.subject, "subject_type": self.subject_type,
            "authenticated": self.authenticated, "device": self.device,
            "device_trust": self.device_trust, "allow": self.allow,
            "reasons": list(self.reasons), "outcome": self.outcome, "status": self.status,
            "response_level": self.response_level, "dlp": self.dlp,
            "bytes": self.bytes_sent, "duration_ms": round(elapsed * 1000, 3),
            "policy_revision": policy_revision,
        }
        if self.full_input is not None:
            event["input"] = self.full_input
        return event
