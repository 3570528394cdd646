"""The embedded Rego engine (regorus, Rust) behind our own small surface.

Why regorus (`gordon-to-regorus==0.13.0`, import name `regorus`): about 8-25 µs per
decision on this policy, Rego v1, and builtin errors are strict (an error, never a silent
undefined). regopy was rejected: it aborted the whole process on a false result and lacks
`net.cidr_contains`.

Three facts about regorus shape this module:

* an `Engine` is *unsendable*: using it from another thread than the one that created it
  panics, so each thread compiles its own (`compile_policy` is cheap, a few ms);
* `add_policy` does not resolve function names, so a call to a builtin the engine lacks
  would only fail when that line runs. `compile_policy` walks the AST and refuses such a
  policy at load time with `PolicyLoadError` naming ``file:line``. Which builtins exist is
  asked of the engine itself (a probe per distinct name, cached), never a stale list;
* errors carry a Rust backtrace when ``RUST_BACKTRACE`` is set; `engine_message` keeps
  only the ``file:line:col: message`` part.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import regorus

from gateway.pdp.port import JSONValue, PolicyLoadError
from gateway.pdp.source import PolicySource

_LOCATION = re.compile(r"-->\s*(?P<file>.+?):(?P<line>\d+):(?P<col>\d+)\s*$", re.MULTILINE)
_ERROR = re.compile(r"^error:\s*(?P<msg>.+)$", re.MULTILINE)


def engine_message(exc: BaseException) -> str:
    """A one-line ``file:line:col: message`` from a regorus error, without the backtrace."""
    text = str(exc).split("Stack backtrace:", 1)[0].strip()
    where = _LOCATION.search(text)
    what = _ERROR.search(text)
    if where and what:
        return f"{where['file']}:{where['line']}:{where['col']}: {what['msg'].strip()}"
    if what:
        return what["msg"].strip()
    return " ".join(text.split()) or type(exc).__name__


def new_engine(source: PolicySource, *, coverage: bool = False) -> regorus.Engine:
    """Parse every module and add the data; raise `PolicyLoadError` naming file:line."""
    engine = regorus.Engine()
    engine.set_rego_v0(False)
    engine.set_gather_prints(True)
    if coverage:
        engine.set_enable_coverage(True)
    for path, text in source.modules:
        try:
            engine.add_policy(path, text)
        except RuntimeError as exc:
            raise PolicyLoadError(f"{_qualify(source, engine_message(exc))}") from None
    try:
        engine.add_data_json(json.dumps(source.data))
    except RuntimeError as exc:
        raise PolicyLoadError(f"{source.origin}: data rejected: {engine_message(exc)}") from None
    return engine


def compile_policy(source: PolicySource, *, coverage: bool = False) -> regorus.Engine:
    """`new_engine` plus the load-time check that every called builtin exists."""
    engine = new_engine(source, coverage=coverage)
    unknown = [c for c in call_sites(engine) if c.builtin and not builtin_exists(c.name)]
    if unknown:
        first = unknown[0]
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise PolicyLoadError(
            f"{_qualify(source, f'{first.file}:{first.line}')}: unknown builtin function "
            f"{first.name}(){more}"
        )
    return engine


def _qualify(source: PolicySource, message: str) -> str:
    # module paths are relative to the bundle root; name the root so the file can be found
    return f"{source.origin.rstrip('/')}/{message}" if not message.startswith("/") else message


@functools.lru_cache(maxsize=1024)
def builtin_exists(name: str) -> bool:
    """Whether regorus knows the builtin `name` (it answers with an arity error if it does)."""
    probe = regorus.Engine()
    probe.add_policy("probe.rego", f"package probe\nx if {{ {name}() }}\n")
    try:
        probe.eval_rule("data.probe.x")
    except RuntimeError as exc:
        return "could not find function" not in str(exc)
    return True


@dataclass(frozen=True, slots=True)
class CallSite:
    """One function call in a module."""

    file: str
    line: int
    name: str
    builtin: bool


@dataclass(frozen=True, slots=True)
class RuleSite:
    """One rule definition: its package, name, line, and whether it is a default."""

    file: str
    package: str
    name: str
    line: int
    is_default: bool
    is_function: bool


def module_asts(engine: regorus.Engine) -> list[dict[str, JSONValue]]:
    """The engine's modules as parsed JSON (regorus' AST format)."""
    parsed: list[dict[str, JSONValue]] = json.loads(engine.get_ast_as_json())
    return parsed


def ref_name(node: JSONValue) -> str | None:
    """``a.b.c`` for a Var/RefDot chain; None for anything else."""
    if not isinstance(node, dict):
        return None
    if "Var" in node and isinstance(node["Var"], dict):
        value = node["Var"].get("value")
        return value if isinstance(value, str) else None
    if "RefDot" in node and isinstance(node["RefDot"], dict):
        inner = ref_name(node["RefDot"].get("refr"))
        field = node["RefDot"].get("field")
        if inner is not None and isinstance(field, list) and isinstance(field[-1], str):
            return f"{inner}.{field[-1]}"
    return None


def rule_sites(engine: regorus.Engine) -> list[RuleSite]:
    """Every rule head in every module."""
    sites: list[RuleSite] = []
    for module in module_asts(engine):
        file, ast = _file_and_ast(module)
        package = ref_name(_get(ast, "package", "refr")) or ""
        rules = ast.get("rules")
        for rule in rules if isinstance(rules, list) else []:
            if not isinstance(rule, dict):
                continue
            if "Default" in rule:
                body = rule["Default"]
                name = ref_name(_get(body, "refr"))
                line = _line(body)
                if name:
                    sites.append(RuleSite(file, package, name, line, True, False))
            elif "Spec" in rule:
                head = _get(rule["Spec"], "head")
                if isinstance(head, dict) and head:
                    kind, value = next(iter(head.items()))
                    name = ref_name(_get(value, "refr"))
                    if name:
                        sites.append(
                            RuleSite(file, package, name, _line(value), False, kind == "Func")
                        )
    return sites


def call_sites(engine: regorus.Engine) -> list[CallSite]:
    """Every call, marked `builtin` unless it resolves to a user function or data ref."""
    functions = {(r.package, r.name) for r in rule_sites(engine) if r.is_function}
    sites: list[CallSite] = []
    for module in module_asts(engine):
        file, ast = _file_and_ast(module)
        package = ref_name(_get(ast, "package", "refr")) or ""
        aliases = _import_aliases(module, ast)
        for node in _walk(ast.get("rules")):
            call = node.get("Call")
            if not isinstance(call, dict):
                continue
            name = ref_name(call.get("fcn"))
            if name is None:
                continue
            head = name.split(".", 1)[0]
            user = name.startswith("data.") or head in aliases or (package, name) in functions
            sites.append(CallSite(file, _line(call), name, not user))
    return sites


def referenced_names(engine: regorus.Engine) -> dict[str, set[str]]:
    """Per package, every Var name and dotted field used outside rule heads."""
    used: dict[str, set[str]] = {}
    for module in module_asts(engine):
        _, ast = _file_and_ast(module)
        package = ref_name(_get(ast, "package", "refr")) or ""
        bucket = used.setdefault(package, set())
        rules = ast.get("rules")
        for rule in rules if isinstance(rules, list) else []:
            body = next(iter(rule.values())) if isinstance(rule, dict) and rule else {}
            if not isinstance(body, dict):
                continue
            parts = [v for k, v in body.items() if k not in ("head", "refr", "span")]
            head = body.get("head")
            if isinstance(head, dict) and head:
                _, head_value = next(iter(head.items()))
                if isinstance(head_value, dict):
                    parts.extend(v for k, v in head_value.items() if k not in ("refr", "span"))
            for node in _walk(parts):
                if "Var" in node and isinstance(node["Var"], dict):
                    value = node["Var"].get("value")
                    if isinstance(value, str):
                        bucket.add(value)
                if "RefDot" in node and isinstance(node["RefDot"], dict):
                    field = node["RefDot"].get("field")
                    if isinstance(field, list) and isinstance(field[-1], str):
                        bucket.add(field[-1])
                if "Str" in node and isinstance(node["Str"], dict):
                    value = node["Str"].get("value")
                    if isinstance(value, str):
                        bucket.add(value)  # data.pkg["name"] and walk() style references
    return used


def _import_aliases(module: dict[str, JSONValue], ast: dict[str, JSONValue]) -> set[str]:
    aliases: set[str] = set()
    contents = _get(module, "source", "contents")
    raw = contents.encode("utf-8") if isinstance(contents, str) else b""
    imports = ast.get("imports")
    for item in imports if isinstance(imports, list) else []:
        if not isinstance(item, dict):
            continue
        alias = item.get("as")
        if isinstance(alias, dict) and isinstance(alias.get("start"), int):
            start, end = alias["start"], alias.get("end")
            if isinstance(start, int) and isinstance(end, int):
                aliases.add(raw[start:end].decode("utf-8", "replace"))
                continue
        name = ref_name(item.get("refr"))
        if name:
            aliases.add(name.rsplit(".", 1)[-1])
    return aliases


def _file_and_ast(module: dict[str, JSONValue]) -> tuple[str, dict[str, JSONValue]]:
    file = _get(module, "source", "file")
    ast = module.get("ast")
    return (file if isinstance(file, str) else "?"), (ast if isinstance(ast, dict) else {})


def _get(node: JSONValue, *keys: str) -> JSONValue:
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _line(node: JSONValue) -> int:
    line = _get(node, "span", "line")
    return line if isinstance(line, int) else 0


def _walk(node: JSONValue) -> Iterator[dict[str, JSONValue]]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
