"""Hypothesis strategies drawn from an OpenAPI document (schemathesis-style, without the
dependency), shared by test_openapi_fuzz.py and test_policies_fuzz.py."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

JSON = dict[str, Any]
# what no response may carry: a Python traceback or a source location from one
TRACEBACK_MARKS = ("Traceback (most recent call last)", 'File "/', ".py\", line ")

text = st.text(st.characters(codec="utf-8"), max_size=40)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), text,
                    st.floats(allow_nan=False, allow_infinity=False))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)), max_leaves=12)


def _resolve(spec: JSON, schema: JSON) -> JSON:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def from_schema(spec: JSON, schema: JSON, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values that fit `schema`, mixed with values of the wrong type now and then."""
    schema = _resolve(spec, schema)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return st.one_of([from_schema(spec, s, depth) for s in schema[key]])
    if "enum" in schema:
        good: st.SearchStrategy[Any] = st.sampled_from(schema["enum"])
    elif "const" in schema:
        good = st.just(schema["const"])
    else:
        kind = schema.get("type")
        if kind == "string":
            fmt = schema.get("format")
            if fmt == "date-time":
                good = st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
            else:
                good = st.text(st.characters(codec="utf-8"),
                               max_size=min(schema.get("maxLength", 64), 64))
        elif kind == "integer":
            low, high = schema.get("minimum"), schema.get("maximum")
            good = st.integers(min_value=low, max_value=high) | st.integers()
        elif kind == "number":
            good = st.floats(allow_nan=False, allow_infinity=False)
        elif kind == "boolean":
            good = st.booleans()
        elif kind == "null":
            good = st.none()
        elif kind == "array":
            items = from_schema(spec, schema.get("items", {}), depth + 1) if depth < 3 \
                else scalars
            good = st.lists(items, max_size=4)
        elif kind == "object" and depth < 3:
            props = schema.get("properties", {})
            good = st.fixed_dictionaries(
                {}, optional={k: from_schema(spec, v, depth + 1) for k, v in props.items()})
        else:
            good = json_values
    return st.one_of(good, good, good, json_values)  # mostly well-typed


def query_value(value: Any) -> str | list[str]:
    """A generated value as a query parameter (lists repeat the parameter)."""
    if isinstance(value, list):
        return [json.dumps(v) if not isinstance(v, str) else v for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def request_body_schema(op: JSON, media_type: str) -> JSON | None:
    """The operation's body schema for `media_type`, if it declares one."""
    content = op.get("requestBody", {}).get("content", {})
    schema: JSON | None = content.get(media_type, {}).get("schema")
    return schema
