"""`zonegate policy check`: parse and lint a bundle, every finding with file:line.

Findings (code, severity):

* ``parse-error`` (error) — a module does not parse;
* ``unknown-builtin`` (error) — a call to a builtin the embedded engine does not have;
* ``missing-default`` (error) — an ``allow`` rule without ``default allow := …``;
* ``entrypoint-undefined`` (error) — a ``# METADATA … entrypoint: true`` rule that is
  undefined for an empty input (it must deny by default, never be undefined);
* ``unreachable-rule`` (warning) — a private helper (name starting with ``_``) that no
  rule in the bundle refers to. References are matched by name, so a helper used only
  through a computed reference (``data.pkg[x]``) is also reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import regorus

from gateway.pdp.port import PolicyLoadError
from gateway.pdp.rego import (
    builtin_exists,
    call_sites,
    engine_message,
    new_engine,
    referenced_names,
    rule_sites,
)
from gateway.pdp.source import PolicySource

_RULE_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    """One lint finding."""

    file: str
    line: int
    code: str
    severity: str  # "error" | "warning"
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.code}: {self.message}"


def check_source(source: PolicySource) -> list[Finding]:
    """Every finding for `source`, sorted by file and line."""
    try:
        engine = new_engine(source)
    except PolicyLoadError as exc:
        text = str(exc)
        match = re.match(r"^(?P<file>.+?):(?P<line>\d+):(?:\d+:)?\s*(?P<msg>.*)$", text)
        if match:
            return [Finding(match["file"], int(match["line"]), "parse-error", "error",
                            match["msg"])]
        return [Finding(source.origin, 0, "parse-error", "error", text)]
    findings: list[Finding] = []
    findings += _unknown_builtins(engine)
    findings += _missing_defaults(engine)
    findings += _undefined_entrypoints(engine, source)
    findings += _unreachable(engine)
    return sorted(set(findings))


def _unknown_builtins(engine: regorus.Engine) -> list[Finding]:
    return [
        Finding(call.file, call.line, "unknown-builtin", "error",
                f"{call.name}() is not a builtin of the embedded engine")
        for call in call_sites(engine)
        if call.builtin and not builtin_exists(call.name)
    ]


def _missing_defaults(engine: regorus.Engine) -> list[Finding]:
    sites = rule_sites(engine)
    defaults = {(s.package, s.name) for s in sites if s.is_default}
    findings = []
    for site in sites:
        if site.name == "allow" and not site.is_default and (site.package, "allow") not in defaults:
            findings.append(Finding(site.file, site.line, "missing-default", "error",
                                    f"data.{site.package}.allow has no default "
                                    "(add `default allow := false`)"))
    return findings


def entrypoints(source: PolicySource) -> list[tuple[str, int, str]]:
    """(file, line, rule name) of every rule annotated ``entrypoint: true``."""
    found = []
    for path, text in source.modules:
        lines = text.splitlines()
        index = 0
        while index < len(lines):
            if lines[index].strip() == "# METADATA":
                block_start = index
                index += 1
                is_entry = False
                while index < len(lines) and lines[index].lstrip().startswith("#"):
                    if re.search(r"^\s*#\s*entrypoint:\s*true\s*$", lines[index]):
                        is_entry = True
                    index += 1
                if is_entry and index < len(lines) and index > block_start:
                    name = _RULE_NAME.match(lines[index].strip())
                    if name and name[1] != "package":
                        found.append((path, index + 1, name[1]))
                continue
            index += 1
    return found


def _undefined_entrypoints(engine: regorus.Engine, source: PolicySource) -> list[Finding]:
    by_file_line = {(s.file, s.line): s for s in rule_sites(engine)}
    findings = []
    for path, line, name in entrypoints(source):
        site = by_file_line.get((path, line))
        if site is None or site.name != name:
            continue
        try:
            engine.set_input_json("{}")
            value = engine.eval_rule(f"data.{site.package}.{name}")
        except RuntimeError as exc:
            findings.append(Finding(path, line, "entrypoint-undefined", "error",
                                    f"fails on an empty input: {engine_message(exc)}"))
            continue
        if value is None:
            findings.append(Finding(path, line, "entrypoint-undefined", "error",
                                    f"data.{site.package}.{name} is undefined for an empty "
                                    "input; give it a default that denies"))
    return findings


def _unreachable(engine: regorus.Engine) -> list[Finding]:
    used: set[str] = set()
    for names in referenced_names(engine).values():
        used |= names
    findings = []
    seen: set[tuple[str, str]] = set()
    for site in rule_sites(engine):
        key = (site.package, site.name)
        if not site.name.startswith("_") or key in seen:
            continue
        seen.add(key)
        if site.name not in used:
            findings.append(Finding(site.file, site.line, "unreachable-rule", "warning",
                                    f"{site.name} is never used"))
    return findings
