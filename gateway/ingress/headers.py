"""Which headers cross the gateway, in each direction.

Inbound, the client never decides what the upstream believes: hop-by-hop headers (and
those the Connection header names), every `X-Zonegate-*`, `X-Forwarded-Client-Cert`, the
client's own `X-Forwarded-*` and `Forwarded`, and the identity, client-address, path and
method claims other proxies and frameworks trust (`_IDENTITY_DROP`, `_IDENTITY_PREFIXES`)
are dropped; `Authorization` is dropped unless the zone asks for it. The gateway then
adds its own forwarding headers and signed assertion.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
})
# Never accepted from a client, never set by a policy obligation.
_INBOUND_DROP = frozenset({
    "host", "content-length", "expect", "accept-encoding", "x-forwarded-client-cert",
    "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-real-ip", "forwarded",
})
# Identity, client-address, path and method claims that front proxies, auth proxies and
# web frameworks believe (oauth2-proxy, Kubernetes, IAP, ALB, Azure, Cloudflare, IIS,
# Express/Symfony method overrides): a client must not be able to assert any of them to
# the upstream, which may trust them more than the signed assertion.
_IDENTITY_DROP = frozenset({
    "remote-user", "x-user", "x-user-id", "x-userid", "x-user-email", "x-user-name",
    "x-username", "x-email", "x-groups", "x-roles", "x-jwt-assertion", "x-id-token",
    "x-access-token", "x-client-ip", "true-client-ip", "cf-connecting-ip",
    "x-cluster-client-ip", "x-original-forwarded-for", "x-remote-addr", "x-client-cert",
    "x-client-verify", "x-client-dn", "x-arr-clientcert", "x-original-url",
    "x-rewrite-url", "x-original-uri", "x-original-method", "x-http-method-override",
    "x-http-method", "x-method-override",
})
_IDENTITY_PREFIXES = ("x-forwarded-", "x-auth-request-", "x-remote-", "x-ssl-",
                      "ssl-client-", "x-amzn-oidc-", "x-goog-authenticated-user-",
                      "x-goog-iap-", "x-ms-client-principal", "x-pomerium-", "cf-access-")
_RESPONSE_DROP = frozenset({"content-length", "content-encoding"})
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
RESERVED_PREFIX = "x-zonegate-"
GATEWAY_SET = frozenset({"x-zonegate-assertion", "x-zonegate-decision-id"})


def _connection_named(headers: Iterable[tuple[str, str]]) -> set[str]:
    named: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            named.update(t.strip().lower() for t in value.split(",") if t.strip())
    return named


def upstream_request_headers(
    inbound: Iterable[tuple[str, str]],
    *,
    forward_authorization: bool,
    client_ip: str,
    proto: str,
    host: str,
    assertion: str,
    decision_id: str,
    extra: Mapping[str, str] = {},
) -> list[tuple[str, str]]:
    """The header list sent upstream for one request (inbound pairs in order)."""
    pairs = list(inbound)
    drop = HOP_BY_HOP | _INBOUND_DROP | _connection_named(pairs)
    out: list[tuple[str, str]] = []
    for name, value in pairs:
        lower = name.lower()
        if (lower in drop or lower in _IDENTITY_DROP or lower.startswith(RESERVED_PREFIX)
                or lower.startswith(_IDENTITY_PREFIXES)):
            continue
        if lower == "authorization" and not forward_authorization:
            continue
        out.append((name, value))
    out.extend(extra.items())
    out.extend([
        ("X-Forwarded-For", client_ip),
        ("X-Forwarded-Proto", proto),
        ("X-Forwarded-Host", host),
        ("X-Zonegate-Assertion", assertion),
        ("X-Zonegate-Decision-Id", decision_id),
        # the response is classified, so it must arrive in a form we can read
        ("Accept-Encoding", "identity"),
    ])
    return out


def invalid_obligation_header(name: str, value: str) -> str | None:
    """Why a policy-supplied header may not be sent upstream, or None when it may."""
    lower = name.lower()
    if not _TOKEN.match(name):
        return f"header name {name!r} is not an HTTP token"
    if "\r" in value or "\n" in value or "\0" in value:
        return f"header {name!r} has a control character in its value"
    # policy may add its own X-Zonegate-* headers, never the ones the gateway signs or sets
    if (lower in HOP_BY_HOP or lower in _INBOUND_DROP or lower in GATEWAY_SET
            or lower in ("authorization", "cookie")):
        return f"header {name!r} is reserved for the gateway"
    return None


def downstream_response_headers(upstream: Iterable[tuple[str, str]],
                                *, rewritten: bool) -> list[tuple[str, str]]:
    """Upstream response headers relayed to the client (hop-by-hop removed).

    When the gateway rewrote the body (masking), Content-Length and Content-Encoding are
    recomputed by the gateway rather than relayed.
    """
    pairs = list(upstream)
    drop = HOP_BY_HOP | _connection_named(pairs)
    # content-length is always set by the gateway itself (relayed or recomputed)
    drop = drop | (_RESPONSE_DROP if rewritten else {"content-length"})
    return [(n, v) for n, v in pairs
            if n.lower() not in drop and not n.lower().startswith(RESERVED_PREFIX)]
