"""A small Go text/template interpreter with the Sprig functions this chart uses.

It exists so that the chart's templates are rendered and checked on machines without
Helm (CI here has none). It is not Helm: it knows only the constructs and functions the
chart's templates use and raises `TemplateError` on anything else, so a template that
starts to use something new fails loudly instead of rendering wrongly. Where a real Helm
engine is available, tests/helm/test_render_local.py renders the same values with both
and requires identical objects, which keeps this interpreter honest.

Helm semantics kept on purpose: values' numbers are float64 (so `printf "%d"` needs
`int`, as in Helm), a missing map key reads as nil and prints as "", `range` over a map
goes in key order, `{{-`/`-}}` trim whitespace, `fail`/`required` stop the render.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.helm._gofuncs import FUNCTIONS, TemplateError, floats, go_str, truthy

__all__ = ["Renderer", "TemplateError", "floats", "parse"]


# --- lexing and parsing ----------------------------------------------------------------

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<decl>:=)
  | (?P<op>[|(),=])
  | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
  | (?P<field>(?:\.[A-Za-z0-9_]+)+|\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
""", re.VERBOSE)


@dataclass
class Pipeline:
    decl: list[str]
    assign: bool  # `=` rather than `:=`
    commands: list[list[Any]]  # each command: a list of operands


@dataclass
class Block:
    kind: str  # root | if | range | with | define
    pipe: Pipeline | None = None
    body: list[Any] = field(default_factory=list)
    other: list[Any] = field(default_factory=list)  # else (an `else if` nests an if)
    name: str = ""


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise TemplateError(f"cannot lex {text[pos:pos + 20]!r} in {{{{{text}}}}}")
        kind = match.lastgroup or ""
        if kind != "ws":
            out.append((kind, match.group()))
        pos = match.end()
    return out


def _operands(tokens: list[tuple[str, str]], pos: int) -> tuple[list[list[Any]], int]:
    """Commands separated by `|` up to a `)` or the end; each operand is a tagged tuple."""
    commands: list[list[Any]] = [[]]
    while pos < len(tokens):
        kind, text = tokens[pos]
        if text == ")" and kind == "op":
            break
        if text == "|" and kind == "op":
            commands.append([])
        elif text == "(" and kind == "op":
            inner, pos = _operands(tokens, pos + 1)
            if pos >= len(tokens) or tokens[pos][1] != ")":
                raise TemplateError("unclosed '('")
            commands[-1].append(("pipe", inner))
        elif kind == "str":
            commands[-1].append(("lit", json.loads(text)))
        elif kind == "raw":
            commands[-1].append(("lit", text[1:-1]))
        elif kind == "num":
            commands[-1].append(("lit", float(text) if "." in text else int(text)))
        elif kind == "ident" and text in ("true", "false", "nil"):
            commands[-1].append(("lit", {"true": True, "false": False, "nil": None}[text]))
        elif kind in ("var", "field", "ident"):
            commands[-1].append((kind, text))
        else:
            raise TemplateError(f"unexpected {text!r}")
        pos += 1
    if any(not command for command in commands):
        raise TemplateError("empty command in a pipeline")
    return commands, pos


def _pipeline(text: str) -> Pipeline:
    tokens = _tokens(text)
    decl: list[str] = []
    assign = False
    for i, (kind, tok) in enumerate(tokens):
        if kind in ("decl", "op") and tok in (":=", "="):
            names = [t for k, t in tokens[:i] if k == "var"]
            if [t for _, t in tokens[:i] if t != ","] != names:
                break
            decl, assign, tokens = names, tok == "=", tokens[i + 1:]
            break
    commands, pos = _operands(tokens, 0)
    if pos != len(tokens):
        raise TemplateError(f"unbalanced ')' in {{{{{text}}}}}")
    return Pipeline(decl, assign, commands)


def parse(source: str, defines: dict[str, Block]) -> Block:
    """Parse a template; `define` blocks are added to `defines`."""
    root = Block("root")
    stack = [root]
    # the list new nodes go to: a block's body, or its else branch after `else`
    target = [root.body]
    pos = 0
    pending_trim = False
    for match in _ACTION.finditer(source):
        text = source[pos:match.start()]
        if pending_trim:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        if text:
            target[-1].append(text)
        pos, pending_trim = match.end(), bool(match.group(3))
        body = match.group(2).strip()
        if body.startswith("/*"):
            if not body.endswith("*/"):
                raise TemplateError("unclosed comment")
            continue
        word = body.split(None, 1)
        head, rest = (word[0], word[1] if len(word) > 1 else "") if word else ("", "")
        if head in ("if", "range", "with"):
            block = Block(head, _pipeline(rest))
            target[-1].append(block)
            stack.append(block)
            target.append(block.body)
        elif head == "define":
            block = Block("define", name=json.loads(rest))
            defines[block.name] = block
            stack.append(block)
            target.append(block.body)
        elif head == "else":
            top = stack[-1]
            if top.kind not in ("if", "range", "with") or target[-1] is top.other:
                raise TemplateError("'else' outside if/range/with")
            target[-1] = top.other
            if rest.startswith("if "):
                nested = Block("if", _pipeline(rest[3:]), name="elseif")
                top.other.append(nested)
                stack.append(nested)
                target.append(nested.body)
        elif head == "end":
            while True:  # an `else if` chain closes with its outer block
                if len(stack) == 1:
                    raise TemplateError("'end' without a block")
                closed = stack.pop()
                target.pop()
                if closed.name != "elseif":
                    break
        elif head in ("template", "block", "break", "continue"):
            raise TemplateError(f"'{head}' is not supported by this interpreter")
        else:
            target[-1].append(_pipeline(body))
    tail = source[pos:]
    if pending_trim:
        tail = tail.lstrip()
    if tail:
        target[-1].append(tail)
    if len(stack) != 1:
        raise TemplateError(f"{len(stack) - 1} block(s) never closed")
    return root


# --- execution -------------------------------------------------------------------------


class _Scope:
    def __init__(self, parent: _Scope | None, names: dict[str, Any] | None = None) -> None:
        self.parent, self.names = parent, names or {}

    def get(self, name: str) -> Any:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        raise TemplateError(f"undefined variable {name}")

    def assign(self, name: str, value: Any) -> None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.names:
                scope.names[name] = value
                return
            scope = scope.parent
        raise TemplateError(f"assignment to undeclared variable {name}")


def _field(value: Any, path: str, where: str) -> Any:
    for name in (p for p in path.split(".") if p):
        if value is None:
            raise TemplateError(f"nil pointer evaluating {where}")
        if not isinstance(value, dict):
            raise TemplateError(f"can't evaluate field {name} in {where}: not a map")
        value = value.get(name)
    return value


class Renderer:
    """Templates of one chart, by Helm name (`<chart>/templates/<file>`)."""

    def __init__(self, sources: dict[str, str]) -> None:
        self.defines: dict[str, Block] = {}
        self.templates = {name: parse(text, self.defines) for name, text in sources.items()}

    def render(self, name: str, data: dict[str, Any]) -> str:
        out: list[str] = []
        self._run(self.templates[name].body, data, _Scope(None, {"$": data}), out)
        return "".join(out)

    def include(self, name: str, data: Any) -> str:
        block = self.defines.get(name)
        if block is None and name in self.templates:
            block = self.templates[name]
        if block is None:
            raise TemplateError(f'no template "{name}"')
        out: list[str] = []
        self._run(block.body, data, _Scope(None, {"$": data}), out)
        return "".join(out)

    def _run(self, nodes: list[Any], dot: Any, scope: _Scope, out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, str):
                out.append(node)
            elif isinstance(node, Pipeline):
                value = self._pipe(node, dot, scope)
                if not node.decl:
                    out.append(go_str(value))
            elif node.kind == "if":
                inner = _Scope(scope)
                branch = node.body if truthy(self._pipe(node.pipe, dot, inner)) else node.other
                self._run(branch, dot, inner, out)
            elif node.kind == "with":
                inner = _Scope(scope)
                value = self._pipe(node.pipe, dot, inner)
                if truthy(value):
                    self._run(node.body, value, inner, out)
                else:
                    self._run(node.other, dot, inner, out)
            elif node.kind == "range":
                self._range(node, dot, scope, out)
            else:
                raise TemplateError(f"cannot run a {node.kind} block here")

    def _range(self, node: Block, dot: Any, scope: _Scope, out: list[str]) -> None:
        assert node.pipe is not None
        names = node.pipe.decl
        plain = Pipeline([], False, node.pipe.commands)
        items = self._pipe(plain, dot, scope)
        pairs: Iterator[tuple[Any, Any]]
        if isinstance(items, dict):
            pairs = ((k, items[k]) for k in sorted(items))
        elif isinstance(items, list):
            pairs = iter(enumerate(items))
        elif items is None:
            pairs = iter(())
        else:
            raise TemplateError(f"range can't iterate over {items!r}")
        ran = False
        for key, value in pairs:
            ran = True
            bound = dict(zip(names, (value,) if len(names) == 1 else (key, value),
                             strict=False))
            self._run(node.body, value, _Scope(scope, bound), out)
        if not ran:
            self._run(node.other, dot, _Scope(scope), out)

    def _pipe(self, pipe: Pipeline | None, dot: Any, scope: _Scope) -> Any:
        assert pipe is not None
        value: Any = None
        for i, command in enumerate(pipe.commands):
            value = self._command(command, dot, scope, (value,) if i else ())
        for name in pipe.decl:
            if pipe.assign:
                scope.assign(name, value)
            else:
                scope.names[name] = value
        return value

    def _command(self, command: list[Any], dot: Any, scope: _Scope,
                 piped: tuple[Any, ...]) -> Any:
        kind, head = command[0]
        if kind != "ident":
            if len(command) > 1 or piped:
                raise TemplateError(f"{head!r} is not a function")
            return self._operand(command[0], dot, scope)
        if head in ("and", "or"):
            value: Any = None
            for operand in command[1:]:
                value = self._operand(operand, dot, scope)
                if truthy(value) == (head == "or"):
                    return value
            return piped[0] if piped else value
        args = [self._operand(o, dot, scope) for o in command[1:]] + list(piped)
        if head == "include":
            return self.include(*args)
        function = FUNCTIONS.get(head)
        if function is None:
            raise TemplateError(f'function "{head}" not defined in this interpreter')
        try:
            return function(*args)
        except TemplateError:
            raise
        except (TypeError, AttributeError, ValueError, KeyError) as exc:
            raise TemplateError(f"error calling {head}: {exc}") from None

    def _operand(self, operand: tuple[str, Any], dot: Any, scope: _Scope) -> Any:
        kind, text = operand
        if kind == "lit":
            return text
        if kind == "pipe":
            return self._pipe(Pipeline([], False, text), dot, scope)
        if kind == "field":
            return dot if text == "." else _field(dot, text, text)
        if kind == "var":
            name, _, path = text.partition(".")
            return _field(scope.get(name), path, text)
        if kind == "ident":
            return self._command([operand], dot, scope, ())
        raise TemplateError(f"unexpected operand {text!r}")
