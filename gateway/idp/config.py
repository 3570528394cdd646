"""The dev IdP's YAML configuration, validated (unknown keys are errors).

```yaml
algorithm: ES256            # ES256 (default) or RS256
audience: zonegate          # default `aud` of issued access tokens
token_ttl: 300              # seconds
rotation_lead: 60           # seconds a new key is published before it signs
users:
  analyst:
    password_hash: "scrypt$16384$8$1$…$…"   # `zonegate idp hash-password`
    roles: [soc-analyst]
    groups: [soc]
    clearance: L3
clients:
  zonegate:
    secret: "…"             # compared in constant time
    grants: [client_credentials, password]
    scopes: [openid, zones]
  zonegate-console:         # a browser page cannot keep a secret: a public client
    public: true            # no secret; only the password grant
    grants: [password]
cors_origins: ["https://127.0.0.1:8444"]   # pages allowed to call /token (the console)
```

A public client is what the SOC console uses to sign in from the browser with the password
grant (RFC 6749 §4.3; PKCE belongs to the authorization-code flow, which this IdP does not
have). That is acceptable only because this is a development IdP: the password grant hands
the user's password to the page, and a public client proves nothing about who calls.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from gateway.config import load_yaml
from gateway.idp.errors import IdPConfigError
from gateway.idp.passwords import is_password_hash

__all__ = ["ClientConfig", "IdPConfig", "UserConfig", "demo_config", "load_idp_config",
           "parse_idp_config"]

LEVELS = ("L1", "L2", "L3", "L4", "L5", "L6")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
Grant = Literal["client_credentials", "password"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _words(value: tuple[str, ...]) -> tuple[str, ...]:
    bad = [item for item in value if not _WORD.match(item)]
    if bad:
        raise ValueError(f"not a valid name: {bad[0]!r}")
    return value


class UserConfig(_Strict):
    password_hash: str
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    clearance: str = "L1"
    acr: str = "urn:zonegate:acr:password"

    @field_validator("password_hash")
    @classmethod
    def _hash(cls, value: str) -> str:
        if not is_password_hash(value):
            raise ValueError("must be a scrypt hash from 'zonegate idp hash-password'")
        return value

    @field_validator("clearance")
    @classmethod
    def _clearance(cls, value: str) -> str:
        if value not in LEVELS:
            raise ValueError(f"must be one of {', '.join(LEVELS)}, got {value!r}")
        return value

    _roles = field_validator("roles", "groups")(_words)


class ClientConfig(_Strict):
    secret: str | None = Field(default=None, min_length=16)
    public: bool = False  # no secret (a browser page); only the password grant
    grants: tuple[Grant, ...] = ("client_credentials",)
    scopes: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    audience: str | None = None

    _names = field_validator("scopes", "roles")(_words)

    @model_validator(mode="after")
    def _public_or_secret(self) -> ClientConfig:
        if not self.public and self.secret is None:
            raise ValueError("a client needs a secret (or public: true)")
        if self.public and self.secret is not None:
            raise ValueError("a public client has no secret")
        if self.public and set(self.grants) != {"password"}:
            raise ValueError("a public client may use only the password grant "
                             "(client_credentials needs a secret)")
        return self


def _origin(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname \
            or value != f"{parts.scheme}://{parts.netloc}" or "@" in parts.netloc:
        raise ValueError(f"must be an origin such as https://127.0.0.1:8444 (scheme, host, "
                         f"optional port; no path or trailing slash), got {value!r}")
    return value


class IdPConfig(_Strict):
    algorithm: Literal["ES256", "RS256"] = "ES256"
    audience: str = "zonegate"
    token_ttl: int = Field(default=300, ge=30, le=86400)
    rotation_lead: float = Field(default=60.0, ge=0, le=86400)
    users: dict[str, UserConfig] = Field(default_factory=dict)
    clients: dict[str, ClientConfig] = Field(default_factory=dict)
    # browser origins allowed to call /token (CORS), e.g. the SOC console's
    cors_origins: tuple[Annotated[str, AfterValidator(_origin)], ...] = ()

    @field_validator("users", "clients")
    @classmethod
    def _names(cls, value: dict[str, object]) -> dict[str, object]:
        bad = [name for name in value if not _NAME.match(name)]
        if bad:
            raise ValueError(f"not a valid user or client name: {bad[0]!r}")
        return value


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
    return f"{where}: {msg.removeprefix('Value error, ')}"


def parse_idp_config(text: str, source: str = "<idp config>") -> IdPConfig:
    """Parse and validate YAML text; errors name `source` and the field."""
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise IdPConfigError(f"{source}{where}: {getattr(exc, 'problem', None) or 'bad YAML'}"
                             ) from None
    if not isinstance(raw, dict):
        raise IdPConfigError(f"{source}: the top level must be a mapping of keys")
    try:
        return IdPConfig.model_validate(raw)
    except ValidationError as exc:
        raise IdPConfigError(f"{source}: {_describe(exc)}") from None


def load_idp_config(path: Path) -> IdPConfig:
    """Read and validate an IdP configuration file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise IdPConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise IdPConfigError(f"{path}: not UTF-8 text") from None
    return parse_idp_config(text, str(path))


def demo_config() -> IdPConfig:
    """The shipped demo users and clients (gateway/idp/demo.yaml)."""
    text = resources.files("gateway.idp").joinpath("demo.yaml").read_text(encoding="utf-8")
    return parse_idp_config(text, "gateway/idp/demo.yaml")
