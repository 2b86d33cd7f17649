"""Media inputs from a notebook: PIL images, numpy arrays, paths, bytes and URLs into data URIs.

Input fields whose schema says ``format: "uri"`` take a URL; a notebook user holds a picture. The client
turns PIL images, numpy arrays (H×W or H×W×C, uint8 or float in [0, 1]), ``pathlib.Path`` objects or path
strings to an existing file, and raw bytes into ``data:<mime>;base64,...`` with the MIME type sniffed
from the bytes; http(s) URLs and data URIs pass through. A result larger than the field's ``x-max-bytes``
(else :data:`MAX_MEDIA_BYTES`) raises :class:`InvalidInputError` before anything is sent.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from skytells_lab._media import data_uri_size, encode_data_uri, guess_mime, media_fields, sniff_mime
from skytells_lab.api.errors import InvalidInputError

__all__ = [
    "MAX_MEDIA_BYTES",
    "array_to_image",
    "coerce_input",
    "coerce_messages",
    "coerce_response_input",
    "is_media_value",
    "media_fields",
    "sniff_mime",
    "to_data_uri",
]

# the service documents no limit; 10 MiB of payload is what its upload-based models take comfortably
MAX_MEDIA_BYTES = 10 * 1024 * 1024


def _is_pil(value: Any) -> bool:
    return type(value).__module__.startswith("PIL.") and hasattr(value, "save") and hasattr(value, "mode")


def _is_array(value: Any) -> bool:
    return type(value).__module__.split(".")[0] == "numpy" and hasattr(value, "shape") and hasattr(value, "dtype")


def is_media_value(value: Any) -> bool:
    """True for the objects that are media and not JSON: PIL images, numpy arrays, paths, bytes."""
    return isinstance(value, (bytes, bytearray, memoryview, os.PathLike)) or _is_pil(value) or _is_array(value)


def array_to_image(array: Any):
    """A numpy array H×W (gray), H×W×1, H×W×3 (RGB) or H×W×4 (RGBA), uint8 or float in [0, 1], as PIL."""
    import numpy as np
    from PIL import Image

    arr = np.asarray(array)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)) or 0 in arr.shape:
        raise InvalidInputError(
            f"an image array must be H×W or H×W×C with C in 1, 3, 4; got shape {arr.shape}",
            details={"shape": list(arr.shape)})
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all() or arr.min() < 0.0 or arr.max() > 1.0:
            raise InvalidInputError(
                f"a float image array must hold values in [0, 1]; got [{np.nanmin(arr):g}, {np.nanmax(arr):g}]"
                " (divide by 255, or pass uint8)", details={"dtype": str(arr.dtype)})
        arr = np.round(arr * 255.0).astype(np.uint8)
    elif arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.integer) and arr.min() >= 0 and arr.max() <= 255:
            arr = arr.astype(np.uint8)
        else:
            raise InvalidInputError(
                f"an image array must be uint8 (0..255) or float in [0, 1]; got {arr.dtype}",
                details={"dtype": str(arr.dtype)})
    mode = {2: "L", 3: "RGB", 4: "RGBA"}[arr.shape[2] if arr.ndim == 3 else 2]
    return Image.fromarray(np.ascontiguousarray(arr), mode=mode)


def _pil_bytes(image: Any) -> tuple[bytes, str]:
    """PNG bytes of a PIL image (lossless; CMYK and friends go through RGB)."""
    if image.mode not in ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue(), "image/png"


def _file_mime(path: Path, data: bytes) -> str:
    return guess_mime(data, path.name)


def _too_large(field: str, size: int, cap: int) -> InvalidInputError:
    return InvalidInputError(
        f"input {field!r}: the media is {size:,} bytes, larger than the {cap:,} bytes the service accepts; "
        "downscale or compress it (e.g. image.thumbnail((1024, 1024)) or save as JPEG)",
        error_id="MEDIA_TOO_LARGE", details={"field": field, "bytes": size, "max_bytes": cap})


def looks_like_path(value: str) -> bool:
    if not value or value.startswith(("data:", "http://", "https://")) or len(value) > 4096 or "\n" in value:
        return False
    try:
        return Path(value).expanduser().is_file()
    except (OSError, ValueError):
        return False


def to_data_uri(value: Any, *, field: str = "input", max_bytes: int | None = None) -> str:
    """What the service accepts for a ``format: "uri"`` field, from any media object a notebook holds.

    http(s) URLs pass through untouched; data URIs are checked for size; everything else is read,
    encoded and labelled with the MIME type of its bytes.
    """
    cap = MAX_MEDIA_BYTES if max_bytes is None else int(max_bytes)
    if isinstance(value, str):
        if value.startswith(("http://", "https://")):
            return value
        if value.startswith("data:"):
            try:
                size = data_uri_size(value)
            except ValueError:  # malformed: the backend names what is wrong with it
                size = 0
            if size > cap:
                raise _too_large(field, size, cap)
            return value
        if not looks_like_path(value):
            raise InvalidInputError(
                f"input {field!r}: {value[:80]!r} is not a URL, a data URI or an existing file",
                details={"field": field})
        value = Path(value)
    if isinstance(value, os.PathLike):
        path = Path(value).expanduser()
        if not path.is_file():
            raise InvalidInputError(f"input {field!r}: no file at {str(path)!r}", details={"field": field})
        size = path.stat().st_size
        if size > cap:
            raise _too_large(field, size, cap)
        data = path.read_bytes()
        mime = _file_mime(path, data)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        mime = sniff_mime(data) or "application/octet-stream"
    elif _is_pil(value):
        data, mime = _pil_bytes(value)
    elif _is_array(value):
        data, mime = _pil_bytes(array_to_image(value))
    else:
        raise InvalidInputError(
            f"input {field!r}: cannot send a {type(value).__name__} as media; pass a PIL image, a numpy array, "
            "a path, bytes or a URL", details={"field": field})
    if len(data) > cap:
        raise _too_large(field, len(data), cap)
    return encode_data_uri(data, mime)


# --------------------------------------------------------------------------- prediction inputs


def _cap(prop: dict | None) -> int | None:
    value = (prop or {}).get("x-max-bytes")
    return int(value) if isinstance(value, (int, float)) else None


def needs_schema(input: dict) -> bool:
    """Whether coercing ``input`` needs the model's schema: a media object (its size cap) or a string that
    names an existing file (it is media only in a ``format: "uri"`` field)."""
    for value in input.values():
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if is_media_value(v) or (isinstance(v, str) and looks_like_path(v)):
                return True
    return False


def coerce_input(input: dict | None, schema_of: Callable[[], dict | None] | None = None) -> dict:
    """A copy of ``input`` with media objects turned into data URIs.

    Non-JSON media (PIL, arrays, paths, bytes) are converted wherever they are; a plain string naming an
    existing file is converted only in a field the model's schema marks ``format: "uri"``, so a prompt
    that happens to equal a file name stays text. ``schema_of`` is called at most once, and only when needed.
    """
    if not input:
        return dict(input or {})
    fields: dict[str, dict] | None = None

    def props() -> dict[str, dict]:
        nonlocal fields
        if fields is None:
            try:
                fields = media_fields(schema_of() if schema_of else None)
            except Exception:  # noqa: BLE001 - the schema is a convenience; the request itself reports a bad model
                fields = {}
        return fields

    def convert(name: str, value: Any, label: str) -> Any:
        if is_media_value(value):
            return to_data_uri(value, field=label, max_bytes=_cap(props().get(name)))
        if isinstance(value, str) and not value.startswith(("http://", "https://")) and (
                value.startswith("data:") or looks_like_path(value)) and name in props():
            return to_data_uri(value, field=label, max_bytes=_cap(props()[name]))
        return value

    out = {}
    for name, value in input.items():
        if isinstance(value, (list, tuple)):
            out[name] = [convert(name, v, f"{name}[{i}]") for i, v in enumerate(value)]
        else:
            out[name] = convert(name, value, name)
    return out


# --------------------------------------------------------------------------- chat and responses parts


def _image_url(value: Any) -> Any:
    if isinstance(value, dict):
        if "url" in value:
            return {**value, "url": _image_url(value["url"])}
        return value
    if isinstance(value, str) and value.startswith(("http://", "https://", "data:")):
        return to_data_uri(value, field="image_url")
    if isinstance(value, str) and not looks_like_path(value):
        return value
    return to_data_uri(value, field="image_url")


def _coerce_part(part: Any) -> Any:
    if is_media_value(part):  # a bare picture in a content list: an image part
        return {"type": "image_url", "image_url": {"url": to_data_uri(part, field="image_url")}}
    if not isinstance(part, dict):
        return part
    kind = part.get("type")
    if kind == "image_url" and "image_url" in part:
        return {**part, "image_url": _image_url(part["image_url"])}
    if kind == "input_image":
        key = "image_url" if "image_url" in part else "url" if "url" in part else None
        if key is not None:
            value = part[key]
            url = value.get("url") if isinstance(value, dict) else value
            return {**part, key: _image_url(url) if not isinstance(value, dict) else _image_url(value)}
    return part


def coerce_messages(messages: Any) -> Any:
    """Chat messages with image parts (``image_url``) given as PIL images, arrays, paths or bytes encoded."""
    if not isinstance(messages, (list, tuple)):
        return messages
    out = []
    for message in messages:
        if isinstance(message, dict) and isinstance(message.get("content"), (list, tuple)):
            message = {**message, "content": [_coerce_part(p) for p in message["content"]]}
        out.append(message)
    return out


def coerce_response_input(input: Any) -> Any:
    """Responses ``input`` items whose ``input_image`` parts hold media objects, encoded."""
    if not isinstance(input, (list, tuple)):
        return input
    out = []
    for item in input:
        if isinstance(item, dict) and isinstance(item.get("content"), (list, tuple)):
            item = {**item, "content": [_input_image(p) for p in item["content"]]}
        elif isinstance(item, dict) and item.get("type") == "input_image":
            item = _input_image(item)
        out.append(item)
    return out


def _input_image(part: Any) -> Any:
    if is_media_value(part):
        return {"type": "input_image", "image_url": to_data_uri(part, field="image_url")}
    return _coerce_part(part)
