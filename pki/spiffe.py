"""SPIFFE IDs of zonegate's shape.

The SPIFFE ID standard fixes the syntax: `spiffe://<trust-domain><path>`, the trust domain
made of lowercase letters, digits, `.`, `-` and `_`, no port, user info, query or fragment;
path segments of letters, digits, `.`, `-` and `_`, none empty, `.` or `..`; at most 2048
bytes. zonegate narrows the path to two shapes:

    spiffe://<td>/zone/<zone>/device/<id>
    spiffe://<td>/zone/<zone>/svc/<name>
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from pki.errors import BadSpiffeId, InvalidArgument, WrongTrustDomain

__all__ = ["Kind", "SpiffeId", "parse_spiffe_id", "validate_segment", "validate_trust_domain"]

Kind = Literal["device", "svc"]
KINDS: tuple[Kind, ...] = get_args(Kind)

_MAX_ID_BYTES = 2048
# Our segments also start with a letter or digit so that none reads like `.` or `..`,
# and are at most 63 characters so that one fits the certificate's CN.
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_TRUST_DOMAIN = re.compile(r"[a-z0-9][a-z0-9._-]{0,254}")


@dataclass(frozen=True, slots=True)
class SpiffeId:
    """A parsed zonegate SPIFFE ID."""

    trust_domain: str
    zone: str
    kind: Kind
    name: str

    @classmethod
    def build(cls, trust_domain: str, zone: str, kind: str, name: str) -> SpiffeId:
        """Build an ID from its parts; raises InvalidArgument naming the bad part."""
        validate_trust_domain(trust_domain)
        validate_segment("zone", zone)
        if kind not in KINDS:
            raise InvalidArgument(f"kind {kind!r} is not one of {', '.join(KINDS)}")
        validate_segment(kind, name)
        return cls(trust_domain, zone, "device" if kind == "device" else "svc", name)

    @property
    def uri(self) -> str:
        """The `spiffe://…` form."""
        return f"spiffe://{self.trust_domain}/zone/{self.zone}/{self.kind}/{self.name}"

    def __str__(self) -> str:
        return self.uri


def validate_trust_domain(trust_domain: str) -> None:
    """Raise InvalidArgument unless `trust_domain` is a valid SPIFFE trust domain name."""
    if not _TRUST_DOMAIN.fullmatch(trust_domain) or ".." in trust_domain:
        raise InvalidArgument(
            f"trust domain {trust_domain!r} is invalid: use lowercase letters, digits, "
            "'.', '-' and '_' (for example city.example)"
        )


def validate_segment(what: str, value: str) -> None:
    """Raise InvalidArgument unless `value` can be one path segment of our SPIFFE IDs."""
    if not _SEGMENT.fullmatch(value):
        raise InvalidArgument(
            f"{what} {value!r} is invalid: 1-63 characters of letters, digits, '.', '-' "
            "and '_', starting with a letter or digit"
        )


def parse_spiffe_id(uri: str, *, trust_domain: str | None = None) -> SpiffeId:
    """Parse and check a SPIFFE ID of zonegate's shape.

    Raises BadSpiffeId for any syntax or shape fault, and WrongTrustDomain when
    `trust_domain` is given and differs.
    """
    if len(uri.encode("utf-8", "surrogatepass")) > _MAX_ID_BYTES:
        raise BadSpiffeId(f"SPIFFE ID is longer than {_MAX_ID_BYTES} bytes")
    prefix = "spiffe://"
    if not uri.startswith(prefix):
        raise BadSpiffeId(f"{uri!r} does not start with {prefix!r}")
    rest = uri[len(prefix):]
    if any(c in rest for c in "?#@:%"):
        raise BadSpiffeId(f"{uri!r} has a query, fragment, user info, port or escape")
    domain, slash, path = rest.partition("/")
    if not _TRUST_DOMAIN.fullmatch(domain) or ".." in domain:
        raise BadSpiffeId(f"{uri!r} has an invalid trust domain {domain!r}")
    if trust_domain is not None and domain != trust_domain:
        raise WrongTrustDomain(
            f"{uri!r} belongs to trust domain {domain!r}, expected {trust_domain!r}"
        )
    segments = path.split("/") if slash else []
    if (len(segments) != 4 or segments[0] != "zone" or segments[2] not in KINDS
            or not all(_SEGMENT.fullmatch(s) for s in (segments[1], segments[3]))):
        raise BadSpiffeId(
            f"{uri!r} is not of the shape spiffe://{domain}/zone/<zone>/device/<id> "
            f"or spiffe://{domain}/zone/<zone>/svc/<name>"
        )
    kind: Kind = "device" if segments[2] == "device" else "svc"
    return SpiffeId(domain, segments[1], kind, segments[3])
