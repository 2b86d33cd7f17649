"""Input validation against a model's JSON input schema: defaults filled, nothing coerced silently."""

from __future__ import annotations

import math
import re

from skytells_lab.local.errors import validation_error

MAX_TEXT_CHARS = 100_000  # a string input whose schema sets no maxLength
_TYPE_NAMES = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
               "array": "an array", "object": "an object", "null": "null"}


def validate_input(schema: dict, value, *, ignore_unknown: bool = False) -> tuple[dict, list[str]]:
    """Check `value` against the object `schema`; return (input with defaults filled, ignored field names).

    Unknown fields are refused unless `ignore_unknown` (requests through a service alias, whose inputs
    may name options the local model lacks): then they are dropped and reported back.
    """
    if not isinstance(value, dict):
        raise validation_error("input", f"expected an object, got {_describe(value)}",
                               'Send "input": {...} with the model\'s fields.')
    props = schema.get("properties", {})
    out, ignored = {}, []
    for name in schema.get("required", []):
        if value.get(name) is None:
            raise validation_error(name, "this field is required", _hint(name, props.get(name, {})))
    for name, item in value.items():
        if name not in props:
            if ignore_unknown or schema.get("additionalProperties") is True:
                ignored.append(name)
                continue
            raise validation_error(name, "not an input of this model",
                                   f"Known inputs: {', '.join(_ordered(props)) or 'none'}.")
        if item is None and name not in schema.get("required", []):
            continue
        out[name] = check_value(name, props[name], item)
    for name, prop in props.items():
        if name not in out and "default" in prop:
            out[name] = prop["default"]
    return out, ignored


def check_value(path: str, prop: dict, value):
    """Validate one value against its property schema (type, enum, bounds, lengths, items)."""
    if "enum" in prop and value not in prop["enum"]:
        raise validation_error(path, f"{value!r} is not one of the allowed values",
                               f"Use one of {', '.join(map(repr, prop['enum']))}.")
    types = prop.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    if types and not any(_is_type(value, t) for t in types):
        want = " or ".join(_TYPE_NAMES.get(t, t) for t in types)
        raise validation_error(path, f"expected {want}, got {_describe(value)}", _hint(path, prop))
    if isinstance(value, float) and not math.isfinite(value):  # NaN passes every < and > comparison
        raise validation_error(path, f"{value} is not a finite number", _hint(path, prop))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        lo, hi = prop.get("minimum"), prop.get("maximum")
        if lo is not None and value < lo or hi is not None and value > hi:
            raise validation_error(path, f"{value} is out of range", f"Use a value {_range(lo, hi)}.")
        if "exclusiveMinimum" in prop and value <= prop["exclusiveMinimum"] or \
                "exclusiveMaximum" in prop and value >= prop["exclusiveMaximum"]:
            raise validation_error(path, f"{value} is out of range",
                                   f"Use a value strictly between {prop.get('exclusiveMinimum', '-inf')} "
                                   f"and {prop.get('exclusiveMaximum', 'inf')}.")
    if isinstance(value, str):
        if "minLength" in prop and len(value) < prop["minLength"]:
            raise validation_error(path, f"shorter than {prop['minLength']} characters",
                                   f"Send at least {prop['minLength']} characters.")
        # a text field without its own maxLength is still bounded; media (format uri) by their byte caps
        longest = prop.get("maxLength", None if prop.get("format") == "uri" else MAX_TEXT_CHARS)
        if longest is not None and len(value) > longest:
            raise validation_error(path, f"longer than {longest} characters",
                                   f"Shorten it to at most {longest} characters.")
        if "pattern" in prop and not re.search(prop["pattern"], value):
            raise validation_error(path, f"does not match the pattern {prop['pattern']!r}",
                                   "Send a value in the documented format.")
    if isinstance(value, list):
        if "minItems" in prop and len(value) < prop["minItems"] or \
                "maxItems" in prop and len(value) > prop["maxItems"]:
            raise validation_error(path, f"has {len(value)} items",
                                   f"Send {_range(prop.get('minItems'), prop.get('maxItems'))} items.")
        if isinstance(prop.get("items"), dict):
            return [check_value(f"{path}[{i}]", prop["items"], v) for i, v in enumerate(value)]
    return value


def _is_type(value, type_name: str) -> bool:
    if type_name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, {"string": str, "boolean": bool, "array": list, "object": dict,
                              "null": type(None)}.get(type_name, object))


def _describe(value) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)
    shown = repr(value) if not isinstance(value, (list, dict)) else ""
    return f"{kind} {shown[:40]}".strip()


def _range(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f"from {lo} to {hi}"
    return f"of at least {lo}" if lo is not None else f"of at most {hi}"


def _hint(name: str, prop: dict) -> str:
    kind = prop.get("type")
    example = prop.get("default", prop.get("enum", [None])[0] if prop.get("enum") else None)
    if prop.get("format") == "uri":
        return f"Send {name!r} as a data URI (data:image/png;base64,...) or an http(s) URL on this machine."
    if example is not None:
        return f"Send {name!r} as {_TYPE_NAMES.get(kind, 'a value')}, e.g. {example!r}."
    return f"Send {name!r} as {_TYPE_NAMES.get(kind, 'a value')}."


def _ordered(props: dict) -> list[str]:
    return sorted(props, key=lambda n: (props[n].get("x-order", 1 << 30), n))
