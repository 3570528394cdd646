"""The catalog: categories, levels, detectors, keywords and escalation rules, from YAML.

`load_catalog(path)` merges a user file over the shipped `catalog.yaml` (mappings merge key
by key, lists and scalars replace; `extends: none` starts from nothing) and validates the
result. Every problem is a `CatalogError` naming the file and the dotted field, e.g.
``site.yaml: detectors.cn_mobile.level: must be one of L1..L6, got 'L9'``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from classify.errors import CatalogError
from classify.levels import LEVELS, is_level
from classify.masking import MASKS

SHIPPED = Path(__file__).with_name("catalog.yaml")
BUILTIN_TYPES = (
    "cn_resident_id", "cn_mobile", "cn_landline", "bank_card", "cn_uscc", "cn_passport",
    "hk_macau_permit", "cn_license_plate", "email", "ipv4", "ipv6", "mac_address", "imei",
    "gps_coordinate", "person_name", "address", "credential", "medical",
)
_CATEGORY_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:\.[A-Z][A-Z0-9]*)+")
_TYPE_NAME = re.compile(r"[a-z][a-z0-9_]{1,40}")


@dataclass(frozen=True, slots=True)
class DetectorSpec:
    """How one finding type is reported: category, level, context words, mask."""

    name: str
    category: str
    level: str
    mask: str
    keywords: tuple[str, ...]
    exclude: tuple[str, ...]
    boost: float
    penalty: float
    enabled: bool
    pattern: str | None
    score: float
    unverified_score: float


@dataclass(frozen=True, slots=True)
class CombinationRule:
    """Findings from every group in one record raise them to `level`."""

    name: str
    groups: tuple[frozenset[str], ...]
    level: str


@dataclass(frozen=True, slots=True)
class Catalog:
    """A validated, immutable catalog."""

    source: str
    default_level: str
    min_score: float
    window: int
    allow_list: frozenset[str]
    allow_patterns: tuple[re.Pattern[str], ...]
    categories: Mapping[str, str]
    detectors: Mapping[str, DetectorSpec]
    combinations: tuple[CombinationRule, ...]
    subject_types: frozenset[str]
    volume: tuple[tuple[int, str], ...]
    minor_age: int
    minor_level: str
    column_share: float
    header_share: float
    min_values: int


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The shipped catalog, or `path` merged over it; CatalogError on any problem."""
    base = _read(SHIPPED)
    if path is None:
        return _Validator(str(SHIPPED.name)).catalog(base)
    path = Path(path)
    user = _read(path)
    extends = user.pop("extends", "builtin")
    if extends not in ("builtin", "none"):
        raise CatalogError(f"{path}: extends: must be 'builtin' or 'none', got {extends!r}")
    merged = user if extends == "none" else _merge(base, user)
    return _Validator(str(path)).catalog(merged)


def _read(path: Path) -> dict[str, object]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: cannot read catalog: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise CatalogError(f"{path}: not valid YAML{line}: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: the catalog must be a YAML mapping")
    return {str(k): v for k, v in data.items()}


def _merge(base: Mapping[str, object], over: Mapping[str, object]) -> dict[str, object]:
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            out[key] = _merge(old, value)
        else:
            out[key] = value
    return out


class _Validator:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> CatalogError:
        return CatalogError(f"{self.source}: {where}: {message}")

    def mapping(self, node: object, where: str, allowed: tuple[str, ...],
                required: tuple[str, ...] = ()) -> Mapping[str, object]:
        if not isinstance(node, Mapping):
            raise self.fail(where, "must be a mapping")
        for key in node:
            if key not in allowed:
                raise self.fail(f"{where}.{key}" if where else str(key),
                                f"unknown key (allowed: {', '.join(allowed)})")
        for key in required:
            if key not in node:
                raise self.fail(f"{where}.{key}" if where else key, "is required")
        return node

    def level(self, node: object, where: str) -> str:
        if not is_level(node):
            raise self.fail(where, f"must be one of {', '.join(LEVELS)}, got {node!r}")
        return str(node)

    def number(self, node: object, where: str, low: float, high: float) -> float:
        if isinstance(node, bool) or not isinstance(node, int | float) or not low <= node <= high:
            raise self.fail(where, f"must be a number from {low} to {high}, got {node!r}")
        return float(node)

    def words(self, node: object, where: str) -> tuple[str, ...]:
        if not isinstance(node, list) or not all(isinstance(w, str) and w for w in node):
            raise self.fail(where, "must be a list of non-empty strings")
        return tuple(node)

    def catalog(self, data: Mapping[str, object]) -> Catalog:
        top = self.mapping(data, "", ("version", "default_level", "min_score", "context",
                                      "allow_list", "allow_patterns", "categories",
                                      "detectors", "rules", "structured"),
                           ("categories", "detectors"))
        if top.get("version", 1) != 1:
            raise self.fail("version", f"only version 1 is known, got {top.get('version')!r}")
        context = self.mapping(top.get("context", {}), "context", ("window",))
        window = int(self.number(context.get("window", 20), "context.window", 0, 200))
        categories = self.categories(top["categories"])
        detectors = {str(name): self.detector(str(name), spec, categories)
                     for name, spec in self.mapping(top["detectors"], "detectors",
                                                    tuple(_names(top["detectors"]))).items()}
        rules = self.mapping(top.get("rules", {}), "rules", ("combinations", "volume", "minor"))
        structured = self.mapping(top.get("structured", {}), "structured",
                                  ("column_share", "header_share", "min_values"))
        volume = self.mapping(rules.get("volume", {}), "rules.volume",
                              ("subject_types", "thresholds"))
        minor = self.mapping(rules.get("minor", {}), "rules.minor", ("under_age", "level"))
        return Catalog(
            source=self.source,
            default_level=self.level(top.get("default_level", "L1"), "default_level"),
            min_score=self.number(top.get("min_score", 0.5), "min_score", 0.0, 1.0),
            window=window,
            allow_list=frozenset(self.words(top.get("allow_list", []), "allow_list")),
            allow_patterns=self.patterns(top.get("allow_patterns", [])),
            categories=categories,
            detectors=detectors,
            combinations=self.combinations(rules.get("combinations", []), categories, detectors),
            subject_types=frozenset(self.types(volume.get("subject_types", []),
                                               "rules.volume.subject_types", detectors)),
            volume=self.thresholds(volume.get("thresholds", [])),
            minor_age=int(self.number(minor.get("under_age", 14), "rules.minor.under_age", 0, 30)),
            minor_level=self.level(minor.get("level", "L4"), "rules.minor.level"),
            column_share=self.number(structured.get("column_share", 0.6),
                                     "structured.column_share", 0.01, 1.0),
            header_share=self.number(structured.get("header_share", 0.3),
                                     "structured.header_share", 0.01, 1.0),
            min_values=int(self.number(structured.get("min_values", 3),
                                       "structured.min_values", 1, 1e9)),
        )

    def categories(self, node: object) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, spec in self.mapping(node, "categories", tuple(_names(node))).items():
            name = str(key)
            where = f"categories.{name}"
            if not _CATEGORY_NAME.fullmatch(name):
                raise self.fail(where, "a category name looks like PI.CONTACT")
            body = self.mapping(spec, where, ("level", "description"), ("level",))
            out[name] = self.level(body["level"], f"{where}.level")
        return out

    def detector(self, name: str, node: object, categories: Mapping[str, str]) -> DetectorSpec:
        where = f"detectors.{name}"
        if not _TYPE_NAME.fullmatch(name):
            raise self.fail(where, "a detector name is lower_snake_case")
        body = self.mapping(node, where, ("category", "level", "mask", "keywords", "exclude",
                                          "boost", "penalty", "enabled", "pattern", "score",
                                          "unverified_score"), ("category",))
        category = body["category"]
        if category not in categories:
            raise self.fail(f"{where}.category", f"unknown category {category!r}")
        pattern = body.get("pattern")
        if name not in BUILTIN_TYPES and not isinstance(pattern, str):
            raise self.fail(f"{where}.pattern",
                            "a detector that is not built in needs a pattern (a regex)")
        if pattern is not None and (name in BUILTIN_TYPES or not isinstance(pattern, str)):
            raise self.fail(f"{where}.pattern", "only a new detector may set a pattern string")
        mask = body.get("mask", "redact")
        if mask not in MASKS:
            raise self.fail(f"{where}.mask", f"unknown mask {mask!r} (known: {', '.join(MASKS)})")
        enabled = body.get("enabled", True)
        if not isinstance(enabled, bool):
            raise self.fail(f"{where}.enabled", "must be true or false")
        return DetectorSpec(
            name=name,
            category=str(category),
            level=self.level(body.get("level", categories[str(category)]), f"{where}.level"),
            mask=str(mask),
            keywords=self.words(body.get("keywords", []), f"{where}.keywords"),
            exclude=self.words(body.get("exclude", []), f"{where}.exclude"),
            boost=self.number(body.get("boost", 0.3), f"{where}.boost", 0.0, 1.0),
            penalty=self.number(body.get("penalty", 0.5), f"{where}.penalty", 0.0, 1.0),
            enabled=enabled,
            pattern=pattern,
            score=self.number(body.get("score", 0.8), f"{where}.score", 0.0, 1.0),
            unverified_score=self.number(body.get("unverified_score", 0.3),
                                         f"{where}.unverified_score", 0.0, 1.0),
        )

    def patterns(self, node: object) -> tuple[re.Pattern[str], ...]:
        out = []
        for index, text in enumerate(self.words(node, "allow_patterns")):
            try:
                out.append(re.compile(text))
            except re.error as exc:
                raise self.fail(f"allow_patterns[{index}]", f"bad regex: {exc}") from exc
        return tuple(out)

    def types(self, node: object, where: str, detectors: Mapping[str, DetectorSpec]
              ) -> tuple[str, ...]:
        names = self.words(node, where)
        for name in names:
            if name not in detectors:
                raise self.fail(where, f"unknown detector {name!r}")
        return names

    def combinations(self, node: object, categories: Mapping[str, str],
                     detectors: Mapping[str, DetectorSpec]) -> tuple[CombinationRule, ...]:
        if not isinstance(node, list):
            raise self.fail("rules.combinations", "must be a list")
        out = []
        for index, item in enumerate(node):
            where = f"rules.combinations[{index}]"
            body = self.mapping(item, where, ("name", "groups", "level"),
                                ("name", "groups", "level"))
            groups = body["groups"]
            if not isinstance(groups, list) or len(groups) < 2:
                raise self.fail(f"{where}.groups", "must be a list of at least two groups")
            parsed = []
            for g, group in enumerate(groups):
                members = self.words(group, f"{where}.groups[{g}]")
                for member in members:
                    if member not in categories and member not in detectors:
                        raise self.fail(f"{where}.groups[{g}]",
                                        f"{member!r} is neither a category nor a detector")
                parsed.append(frozenset(members))
            out.append(CombinationRule(str(body["name"]), tuple(parsed),
                                       self.level(body["level"], f"{where}.level")))
        return tuple(out)

    def thresholds(self, node: object) -> tuple[tuple[int, str], ...]:
        if not isinstance(node, list):
            raise self.fail("rules.volume.thresholds", "must be a list")
        out = []
        for index, item in enumerate(node):
            where = f"rules.volume.thresholds[{index}]"
            body = self.mapping(item, where, ("min_subjects", "level"), ("min_subjects", "level"))
            count = int(self.number(body["min_subjects"], f"{where}.min_subjects", 1, 1e12))
            out.append((count, self.level(body["level"], f"{where}.level")))
        return tuple(sorted(out))


def _names(node: object) -> list[str]:
    return [str(k) for k in node] if isinstance(node, Mapping) else []
