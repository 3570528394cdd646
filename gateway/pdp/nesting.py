"""A bound on regorus's parse time, checked before any Rego reaches it.

regorus parses nested collection literals in time exponential in their depth
(``x := [[[[...]]]]`` 16 deep takes 3 s, 20 deep minutes): a 60-byte module would hold
`zonegate policy check`, a gateway's start or hot reload, or a control-plane upload for
hours. `source_from_files`, through which every policy is read, refuses a source whose
estimated cost is above `MAX_NESTING_COST` with `PolicyTooNested`.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.pdp.port import PolicyLoadError

# regorus parse time grows 2-2.3x per level of nested [ or {: 2**18 estimated units (see
# `nesting_cost`) is about 1 s of parsing for ordinary Rego and 10 s for the worst shape;
# the shipped policies/ come to 5,568
MAX_NESTING_COST = 1 << 18


class PolicyTooNested(PolicyLoadError):
    """Rego literals nested too deeply to parse in bounded time."""


def check_nesting(origin: str, modules: Iterable[tuple[str, str]]) -> None:
    """Raise PolicyTooNested when the modules together cost more than MAX_NESTING_COST."""
    costs = [(nesting_cost(text), name) for name, text in modules]
    total = sum(cost for cost, _ in costs)
    if total > MAX_NESTING_COST:
        worst, name = max(costs)
        raise PolicyTooNested(
            f"{origin}/{name}: the Rego nests its literals too deeply to parse in bounded "
            f"time (cost {total}, at most {MAX_NESTING_COST}; this module {worst}); flatten "
            "them or move them to data")


def nesting_cost(text: str) -> int:
    """An upper estimate of regorus's work parsing the nested literals of `text`.

    A ``[`` or ``{`` literal costs twice the sum of what it holds, plus two (measured: one
    level deeper doubles the time, siblings add); parentheses pass on what they hold; a
    rule body (``{`` after ``if``, ``else`` or a term) starts afresh, as do strings and
    comments, which are skipped.
    """
    total = 0
    stack: list[list[int]] = []  # [kind (0 literal, 1 parenthesis, 2 body), cost held]
    i, n = 0, len(text)
    last = ""  # the previous token's last character, or the previous word
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if c in "\"`":
            end = _string_end(text, i)
            i, last = end, '"'
            continue
        if c.isalnum() or c == "_":
            start = i
            while i < n and (text[i].isalnum() or text[i] == "_"):
                i += 1
            last = text[start:i]
            continue
        if c in "[{(":
            body = c == "{" and (last in _BODY_AFTER or (
                last not in _TERM_BEFORE and (last[-1:] in _TERM_END or last[-1:].isalnum())))
            stack.append([2 if body else 1 if c == "(" else 0, 0])
        elif c in "]})" and stack:
            kind, held = stack.pop()
            node = 2 * (1 + held) if kind == 0 else held
            if stack and stack[-1][0] != 2 and kind != 2:
                stack[-1][1] += node
            else:
                total += node
        last = c
        i += 1
    return total + sum(held for _, held in stack)


_BODY_AFTER = frozenset({"if", "else"})
_TERM_BEFORE = frozenset({"in", "contains", "not", "some", "every", "with", "as", "default",
                          "package", "import", "or"})
_TERM_END = frozenset({"]", ")", "}", '"'})


def _string_end(text: str, i: int) -> int:
    if text[i] == "`":
        end = text.find("`", i + 1)
        return len(text) if end < 0 else end + 1
    i += 1
    while i < len(text) and text[i] not in '"\n':
        i += 2 if text[i] == "\\" else 1
    return i + 1
