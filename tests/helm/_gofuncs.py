"""Values as Go's text/template prints and encodes them, and the Sprig functions the
chart uses (for tests/helm/_gotemplate.py). Each function follows its Sprig or Go
original where the chart can tell the difference (argument order, float64 numbers,
`%!d(float64=…)` for a wrongly typed printf argument, HTML-safe JSON escapes).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import yaml


class TemplateError(Exception):
    """A template the interpreter cannot parse or execute, or a `fail`/`required`."""


# --- values as Go prints and encodes them -----------------------------------------------


def go_float(value: float) -> str:
    """strconv.FormatFloat(v, 'g', -1, 64): what fmt's %v prints for a float64."""
    if math.isinf(value) or math.isnan(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    if value == 0:
        return "0"
    # repr is the shortest decimal that round-trips, as Go's shortest formatting
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + exponent  # value = 0.<digits> x 10**point
    exp = point - 1
    if exp < -4 or exp >= 6:  # %e below 1e-4 and from 1e6 (eprec 6 when shortest)
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        text = f"{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    elif point <= 0:
        text = "0." + "0" * -point + digits
    elif point >= len(digits):
        text = digits + "0" * (point - len(digits))
    else:
        text = digits[:point] + "." + digits[point:]
    return ("-" if value < 0 else "") + text


def go_str(value: Any) -> str:
    """fmt's %v (and text/template's printing) of a value from the values tree."""
    if value is None:
        return ""  # Helm turns "<no value>" into ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_str(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def _go_quote(text: str) -> str:
    out = json.dumps(text, ensure_ascii=False)
    return out.replace("\\u007f", "\\x7f")


def _plain(value: Any) -> Any:
    """Integral floats as ints, as encoding/json writes them."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def to_json(value: Any) -> str:
    text = json.dumps(_plain(value), ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


def to_yaml(value: Any) -> str:
    if value is None:
        return "null"
    return yaml.safe_dump(_plain(value), default_flow_style=False, sort_keys=True,
                          allow_unicode=True).rstrip("\n")


def truthy(value: Any) -> bool:
    """text/template's truth: false, 0, nil and empty strings, lists and maps are false."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, (str, list, dict)):
        return len(value) > 0
    return value is not None


def floats(value: Any) -> Any:
    """Numbers as float64, as Helm reads values files (through JSON)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [floats(v) for v in value]
    if isinstance(value, dict):
        return {str(k): floats(v) for k, v in value.items()}
    raise TemplateError(f"unsupported value {value!r}")


# --- functions -------------------------------------------------------------------------


def _printf(fmt: str, *args: Any) -> str:
    values = iter(args)

    def one(match: re.Match[str]) -> str:
        verb = match.group(1)
        if verb == "%":
            return "%"
        try:
            value = next(values)
        except StopIteration:
            return f"%!{verb}(MISSING)"
        if verb == "v":
            return go_str(value)
        if verb == "s" and isinstance(value, str):
            return value
        if verb == "d" and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if verb == "q" and isinstance(value, str):
            return _go_quote(value)
        kind = {bool: "bool", float: "float64", int: "int"}.get(type(value), "?")
        return f"%!{verb}({kind}={go_str(value)})"

    return re.sub(r"%([%vsdq])", one, fmt)


def _default(fallback: Any, *given: Any) -> Any:
    return given[0] if given and truthy(given[0]) else fallback


def _set(mapping: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    mapping[key] = value
    return mapping


def _trunc(length: int, text: str) -> str:
    if length < 0:
        return text[length:] if len(text) + length > 0 else text
    return text[:length]


def _indent(width: int, text: str) -> str:
    pad = " " * width
    return pad + text.replace("\n", "\n" + pad)


def _fail(message: str) -> str:
    raise TemplateError(message)


def _required(message: str, value: Any) -> Any:
    if value is None or value == "":
        raise TemplateError(message)
    return value


def _int(value: Any) -> int:
    if isinstance(value, str):
        return int(value) if re.fullmatch(r"-?\d+", value) else 0
    return int(value or 0)


def _index(collection: Any, *keys: Any) -> Any:
    for key in keys:
        if collection is None:
            raise TemplateError("index of untyped nil")
        collection = (collection.get(key) if isinstance(collection, dict)
                      else collection[int(key)])
    return collection


def _compare(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    # text/template compares only values of one basic kind: 2 and 2.0 are an error
    def check(left: Any, right: Any) -> bool:
        if type(left) is not type(right):
            raise TemplateError(f"incompatible types for comparison: {left!r} {right!r}")
        return op(left, right)
    return check


def _sprint(*args: Any) -> str:
    # fmt.Sprint: a space between two operands when neither is a string
    out = ""
    for i, value in enumerate(args):
        if i and not isinstance(value, str) and not isinstance(args[i - 1], str):
            out += " "
        out += go_str(value)
    return out


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "printf": _printf,
    "print": _sprint,
    "quote": lambda *a: " ".join(_go_quote(go_str(v)) for v in a if v is not None),
    "default": _default,
    "int": _int,
    "toJson": to_json,
    "toYaml": to_yaml,
    "list": lambda *a: list(a),
    "dict": lambda *a: {str(a[i]): a[i + 1] if i + 1 < len(a) else None
                        for i in range(0, len(a), 2)},
    "set": _set,
    "hasKey": lambda m, k: k in m,
    "fail": _fail,
    "required": _required,
    "trunc": _trunc,
    "trimSuffix": lambda suffix, s: s.removesuffix(suffix),
    "trimPrefix": lambda prefix, s: s.removeprefix(prefix),
    "hasPrefix": lambda prefix, s: s.startswith(prefix),
    "contains": lambda sub, s: sub in s,
    "replace": lambda old, new, s: s.replace(old, new),
    "lower": lambda s: s.lower(),
    "indent": _indent,
    "nindent": lambda w, s: "\n" + _indent(w, s),
    "b64enc": lambda s: base64.b64encode(s.encode()).decode(),
    "sha256sum": lambda s: hashlib.sha256(s.encode()).hexdigest(),
    "empty": lambda v: not truthy(v),
    "len": len,
    "has": lambda needle, haystack: needle in (haystack or []),
    "join": lambda sep, items: sep.join(go_str(v) for v in items or []),
    "concat": lambda *lists: [v for items in lists for v in items or []],
    "uniq": lambda items: list(dict.fromkeys(items)),
    "append": lambda items, value: [*(items or []), value],
    "index": _index,
    "keys": lambda *maps: [k for m in maps for k in m],
    "sortAlpha": lambda items: sorted(go_str(v) for v in items),
    "eq": lambda a, *b: any(a == v for v in b),
    "ne": lambda a, b: a != b,
    "gt": _compare(lambda a, b: a > b),
    "lt": _compare(lambda a, b: a < b),
    "ge": _compare(lambda a, b: a >= b),
    "not": lambda v: not truthy(v),
}
