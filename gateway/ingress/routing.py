"""Zones and the longest-prefix zone table."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from yarl import URL

from gateway.config import LEVELS, ZoneConfig
from gateway.ingress.errors import AmbiguousPath, IngressSetupError
from gateway.ingress.paths import NormalisedTarget

DLPMode = Literal["mask", "block"]
# Paths the gateway answers itself; no zone may take them.
RESERVED_PATHS = ("/healthz", "/readyz", "/metrics")
RESERVED_PREFIX = "/.well-known/zonegate/"


def level_rank(level: str) -> int:
    """Position of a level in L1..L6 (1-based); unknown levels rank above every real one."""
    return LEVELS.index(level) + 1 if level in LEVELS else len(LEVELS) + 1


@dataclass(frozen=True, slots=True)
class ZoneRoute:
    """One data zone: where it lives, how sensitive it is, how its responses are guarded."""

    name: str
    prefix: str  # starts and ends with '/'
    upstream: URL
    level: str
    dlp_mode: DLPMode = "mask"
    forward_authorization: bool = False

    @property
    def depth(self) -> int:
        """Number of path segments in the prefix."""
        return len([s for s in self.prefix.split("/") if s])

    @classmethod
    def from_config(cls, zone: ZoneConfig, *, dlp_mode: DLPMode = "mask",
                    forward_authorization: bool = False) -> ZoneRoute:
        """Build a route from a validated config entry."""
        return cls(name=zone.name, prefix=zone.prefix, upstream=URL(zone.upstream),
                   level=zone.level, dlp_mode=dlp_mode,
                   forward_authorization=forward_authorization)


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """A zone and the part of the path below its prefix."""

    zone: ZoneRoute
    resource_path: str


class ZoneTable:
    """Immutable longest-prefix table; rebuilding it swaps one reference."""

    def __init__(self, zones: Iterable[ZoneRoute]) -> None:
        routes = tuple(zones)
        for zone in routes:
            bare = zone.prefix.rstrip("/")
            if zone.prefix.startswith(RESERVED_PREFIX) or bare in RESERVED_PATHS:
                raise IngressSetupError(
                    f"zone {zone.name!r}: prefix {zone.prefix!r} is reserved for the gateway")
        self._routes = tuple(sorted(routes, key=lambda z: len(z.prefix), reverse=True))

    @property
    def zones(self) -> tuple[ZoneRoute, ...]:
        """Zones, longest prefix first."""
        return self._routes

    def match(self, target: NormalisedTarget) -> RouteMatch | None:
        """The zone for a normalised target, None when no zone matches (404).

        Raises AmbiguousPath when dot segments climbed out of the matched zone's prefix
        on the way (`/zones/health/../transport/x`): such a path names two zones.
        """
        path = target.path
        for zone in self._routes:
            if path.startswith(zone.prefix) or path == zone.prefix[:-1]:
                if target.climbed_to is not None and target.climbed_to < zone.depth:
                    raise AmbiguousPath("dot segments leave the zone's prefix")
                rest = path[len(zone.prefix) - 1:] if path.startswith(zone.prefix) else "/"
                return RouteMatch(zone=zone, resource_path=rest)
        if target.climbed_to is not None:
            raise AmbiguousPath("dot segments in a path outside every zone")
        return None
