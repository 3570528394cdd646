"""The no-Helm template interpreter against Go's and Sprig's documented behaviour.

Where Helm is installed, test_render_local.py also requires it to render the whole chart
exactly as Helm does; these cases pin the corners that CI (without Helm) relies on.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.helm._gofuncs import go_float, to_json
from tests.helm._gotemplate import Renderer, TemplateError, floats


def _render(source: str, values: dict[str, Any] | None = None) -> str:
    renderer = Renderer({"t": source})
    return renderer.render("t", {"Values": floats(values or {})})


@pytest.mark.parametrize(("value", "printed"), [
    (8443.0, "8443"), (0.5, "0.5"), (2.0, "2"), (100000.0, "100000"),
    (1000000.0, "1e+06"), (1234567.0, "1.234567e+06"), (0.0001, "0.0001"),
    (0.00001, "1e-05"), (-3.0, "-3"),
])
def test_floats_print_as_go_prints_float64(value: float, printed: str) -> None:
    assert go_float(value) == printed


@pytest.mark.parametrize(("source", "values", "out"), [
    ("a  {{- 1 -}}  b", {}, "a1b"),
    ("{{/* gone */}}x", {}, "x"),
    ("{{ .Values.port }}", {"port": 8443}, "8443"),
    ('{{ printf "%d" .Values.port }}', {"port": 8443}, "%!d(float64=8443)"),
    ('{{ printf "%d" (int .Values.port) }}', {"port": 8443}, "8443"),
    ("{{ .Values.missing }}", {}, ""),
    ("{{ range .Values.l }}[{{ . }}]{{ else }}none{{ end }}", {"l": []}, "none"),
    ("{{ range $k, $v := .Values.m }}{{ $k }}={{ $v }};{{ end }}", {"m": {"b": 1, "a": 2}},
     "a=2;b=1;"),
    ("{{ if .Values.a }}A{{ else if .Values.b }}B{{ else }}C{{ end }}", {"b": True}, "B"),
    ("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", {}, "2"),
    ('{{ list "a" "b" | toJson }}', {}, '["a","b"]'),
    ('{{ "x" | quote }} {{ default "d" .Values.e }}', {"e": ""}, '"x" d'),
    ('{{ with .Values.w }}{{ .k }}{{ end }}', {"w": {"k": "v"}}, "v"),
    ("{{ and 1 0 }} {{ or 0 \"\" 3 }}", {}, "0 3"),
    ('{{ index .Values.m "k" }}{{ index .Values.m "z" }}', {"m": {"k": "v"}}, "v"),
    ('{{ has "*" .Values.l }}', {"l": ["*"]}, "true"),
])
def test_template_semantics(source: str, values: dict[str, Any], out: str) -> None:
    assert _render(source, values) == out


def test_include_and_nindent() -> None:
    renderer = Renderer({"h": '{{- define "x" -}}a: {{ .v }}{{- end -}}',
                         "t": 'top:{{ include "x" (dict "v" 1) | nindent 2 }}'})
    assert renderer.render("t", {}) == "top:\n  a: 1"


@pytest.mark.parametrize(("source", "message"), [
    ('{{ fail "stop here" }}', "stop here"),
    ('{{ required "need it" "" }}', "need it"),
    ("{{ lookup 1 }}", 'function "lookup" not defined'),
    ("{{ if true }}", "never closed"),
    ("{{ template \"x\" }}", "not supported"),
    ("{{ gt 1 1.0 }}", "incompatible types"),
], ids=["fail", "required", "unknown-function", "unclosed", "template-action", "compare"])
def test_template_errors(source: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        _render(source)


def test_json_is_html_safe_as_go_writes_it() -> None:
    assert to_json(["<a&b>", 2.0]) == '["\\u003ca\\u0026b\\u003e",2]'
