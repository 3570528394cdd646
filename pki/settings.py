"""The CA's issuing policy, stored in `<dir>/ca.json`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

from pki.durable import atomic_write
from pki.errors import CACorrupt, InvalidArgument
from pki.spiffe import validate_trust_domain
from pki.units import format_duration, parse_duration

__all__ = ["SETTINGS_NAME", "CASettings"]

SETTINGS_NAME = "ca.json"
_VERSION = 1


@dataclass(frozen=True, slots=True)
class CASettings:
    """Issuing policy of one CA (all durations in whole seconds)."""

    trust_domain: str
    encrypted: bool = False
    default_lifetime: timedelta = timedelta(hours=24)
    max_lifetime: timedelta = timedelta(hours=24)
    renew_grace: timedelta = timedelta(hours=72)
    crl_lifetime: timedelta = timedelta(hours=48)

    def __post_init__(self) -> None:
        validate_trust_domain(self.trust_domain)
        for name in ("default_lifetime", "max_lifetime", "crl_lifetime"):
            if getattr(self, name) < timedelta(minutes=1):
                raise InvalidArgument(f"{name.replace('_', ' ')} must be at least 1m")
        if self.renew_grace < timedelta(0):
            raise InvalidArgument("renew grace must not be negative")
        if self.default_lifetime > self.max_lifetime:
            raise InvalidArgument(
                f"default lifetime {format_duration(self.default_lifetime)} exceeds the "
                f"maximum {format_duration(self.max_lifetime)}"
            )

    def to_json(self) -> bytes:
        """The ca.json content."""
        data: dict[str, object] = {"version": _VERSION}
        for key, value in asdict(self).items():
            data[key] = format_duration(value) if isinstance(value, timedelta) else value
        return (json.dumps(data, indent=2) + "\n").encode()

    def save(self, directory: Path) -> None:
        """Write ca.json atomically."""
        atomic_write(directory / SETTINGS_NAME, self.to_json())

    @classmethod
    def load(cls, directory: Path) -> CASettings:
        """Read and validate ca.json; raises CACorrupt naming the field at fault."""
        path = directory / SETTINGS_NAME
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise CACorrupt(f"{path}: cannot read CA settings: {exc}") from exc
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            raise CACorrupt(f"{path}: not a version {_VERSION} zonegate CA settings file")
        known = {"version", *cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CACorrupt(f"{path}: unknown key {unknown[0]!r}")
        try:
            trust_domain = data["trust_domain"]
            encrypted = data.get("encrypted", False)
            if not isinstance(trust_domain, str) or not isinstance(encrypted, bool):
                raise CACorrupt(f"{path}: trust_domain must be a string, encrypted a boolean")
            durations = {
                name: parse_duration(_text(data[name], name), name)
                for name in ("default_lifetime", "max_lifetime", "renew_grace", "crl_lifetime")
                if name in data
            }
            return cls(trust_domain=trust_domain, encrypted=encrypted, **durations)
        except KeyError as exc:
            raise CACorrupt(f"{path}: missing key {exc.args[0]!r}") from exc
        except InvalidArgument as exc:
            raise CACorrupt(f"{path}: {exc}") from exc


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{name} must be a duration string such as '24h'")
    return value
