"""Values JSON cannot carry on the wire: non-finite numbers and strings that do not encode as UTF-8.

Python's `json` reads `NaN`, `Infinity` and `1e999` as floats and `"\\ud800"` as a lone surrogate, but a
response holding one cannot be rendered (`allow_nan=False`, UTF-8). The server refuses such values when it
parses a request (`first_unrenderable`) and shows rows an older version stored with them (`sanitized`).
"""

from __future__ import annotations

import math


def _bad_leaf(item) -> str | None:
    """Why this scalar cannot travel, or None."""
    if isinstance(item, float) and not math.isfinite(item):
        return f"{'NaN' if math.isnan(item) else 'Infinity' if item > 0 else '-Infinity'} is not a finite number"
    if isinstance(item, str) and not item.isascii():
        try:
            item.encode("utf-8")
        except UnicodeEncodeError:
            return "the text holds an unpaired UTF-16 surrogate (not valid Unicode)"
    return None


def renderable(value) -> bool:
    """True when every number is finite and every string (keys included) encodes as UTF-8 (fast: no paths)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, sub in item.items():
                if _bad_leaf(key):
                    return False
                stack.append(sub)
        elif isinstance(item, list):
            stack.extend(item)
        elif _bad_leaf(item):
            return False
    return True


def shown(text: str, limit: int = 60) -> str:
    """`text` safe to echo in an error message: lone surrogates escaped, cut to `limit` characters."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[:limit] + "..."


def unrenderable_paths(value, path: str = "") -> list[tuple[str, str]]:
    """(field path, reason) of every value JSON cannot carry, in document order: `input.seed`, `messages[0]`."""
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for key, sub in value.items():
            key_path = f"{path}.{shown(str(key))}" if path else shown(str(key))
            reason = _bad_leaf(key)
            if reason:
                found.append((key_path, f"the field name is not valid Unicode ({reason})"))
            found += unrenderable_paths(sub, key_path)
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            found += unrenderable_paths(sub, f"{path}[{i}]")
    else:
        reason = _bad_leaf(value)
        if reason:
            found.append((path or "body", reason))
    return found


def sanitized(value):
    """A copy JSON can carry: non-finite numbers become null, lone surrogates U+FFFD (keys too)."""
    if isinstance(value, dict):
        return {sanitized(k): sanitized(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sanitized(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str) and _bad_leaf(value):
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)
    return value
