"""Claims mapping: where roles, groups and clearance come from, and bad shapes refused."""

from __future__ import annotations

import pytest

from gateway.identity import ClaimMapping, InvalidCredentials, IssuerOptions, Presented
from gateway.identity.claims import subject_from_claims
from gateway.idp import DevIdP
from tests.gateway.identity.conftest import MakeAuth

BASE = {"iss": "https://idp", "sub": "alice"}
KEYCLOAK = ClaimMapping(roles=("realm_access.roles",), groups=("groups",),
                        clearance=("attributes.clearance",))

MAPPED = [
    ("default-roles", ClaimMapping(), {"roles": ["a", "b"]}, ("a", "b"), (), "L1"),
    ("keycloak-fallback", ClaimMapping(), {"realm_access": {"roles": ["kc"]}}, ("kc",), (),
     "L1"),
    ("first-path-wins", ClaimMapping(), {"roles": ["top"], "realm_access": {"roles": ["kc"]}},
     ("top",), (), "L1"),
    ("space-separated", ClaimMapping(), {"roles": "a b a"}, ("a", "b"), (), "L1"),
    ("keycloak-mapping", KEYCLOAK, {"realm_access": {"roles": ["x"]}, "groups": ["g"],
                                    "attributes": {"clearance": "L5"}}, ("x",), ("g",), "L5"),
    ("custom-default-clearance", ClaimMapping(default_clearance="L2"), {}, (), (), "L2"),
    ("null-roles-is-empty", ClaimMapping(), {"roles": None}, (), (), "L1"),
]


@pytest.mark.parametrize(("mapping", "extra", "roles", "groups", "clearance"),
                         [row[1:] for row in MAPPED], ids=[row[0] for row in MAPPED])
def test_mapping(mapping: ClaimMapping, extra: dict[str, object], roles: tuple[str, ...],
                 groups: tuple[str, ...], clearance: str) -> None:
    subject = subject_from_claims(BASE | extra, mapping)
    assert (subject.roles, subject.groups, subject.clearance) == (roles, groups, clearance)


REFUSED = [
    ("clearance-unknown-level", {"clearance": "TOP-SECRET"}),
    ("clearance-number", {"clearance": 4}),
    ("roles-object", {"roles": {"admin": True}}),
    ("roles-mixed", {"roles": ["a", 1]}),
    ("groups-number", {"groups": 3}),
    ("amr-number", {"amr": 1}),
    ("auth-time-string", {"auth_time": "yesterday"}),
    ("auth-time-bool", {"auth_time": True}),
    ("acr-list", {"acr": ["x"]}),
    ("sub-number", {"sub": 5}),
    ("sub-empty", {"sub": ""}),
    ("too-many-roles", {"roles": [f"r{i}" for i in range(1000)]}),
]


@pytest.mark.parametrize("extra", [row[1] for row in REFUSED], ids=[row[0] for row in REFUSED])
def test_bad_shapes_refused(extra: dict[str, object]) -> None:
    with pytest.raises(InvalidCredentials) as caught:
        subject_from_claims(BASE | extra, ClaimMapping())
    assert caught.value.code in {"bad-claim", "missing-claim"}


def test_bad_default_clearance_is_a_setup_error() -> None:
    with pytest.raises(ValueError, match="default_clearance"):
        ClaimMapping(default_clearance="L7")


async def test_keycloak_shaped_token_over_http(idp: DevIdP, make_auth: MakeAuth) -> None:
    auth = make_auth(idp.issuer, options=IssuerOptions(claims=KEYCLOAK))
    token = idp.mint(user="engineer", roles=None, clearance=None,
                     realm_access={"roles": ["traffic-engineer", "viewer"]},
                     attributes={"clearance": "L3"})
    subject = (await auth.authenticate(Presented(authorization=f"Bearer {token}"))).subject
    assert subject.roles == ("traffic-engineer", "viewer")
    assert subject.groups == ("transport",) and subject.clearance == "L3"


async def test_issuer_settings_from_an_extended_config_model(idp: DevIdP) -> None:
    """When the config's issuer entry grows these fields, the factory uses them."""
    from pydantic import BaseModel

    from gateway.config import GatewayConfig, IdentityConfig, OIDCIssuer
    from gateway.identity import build_authenticator

    class Claims(BaseModel):
        roles: tuple[str, ...] = ("realm_access.roles",)
        groups: tuple[str, ...] = ("groups",)
        clearance: tuple[str, ...] = ("attributes.clearance",)
        default_clearance: str = "L2"

    class ExtendedIssuer(OIDCIssuer):
        require_typ: bool = False
        claims: Claims = Claims()

    entry = ExtendedIssuer(issuer=idp.issuer, audience="zonegate")
    config = GatewayConfig(trust_domain="city.example", identity=IdentityConfig(oidc=(entry,)))
    auth = build_authenticator(config)
    try:
        token = idp.mint(user="doctor", header={"typ": "JWT"}, clearance=None,
                         realm_access={"roles": ["kc-doctor"]})
        subject = (await auth.authenticate(Presented(authorization=f"Bearer {token}"))).subject
    finally:
        await auth.close()
    assert (subject.roles, subject.clearance) == (("kc-doctor",), "L2")
