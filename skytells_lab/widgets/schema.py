"""Reading a model's JSON input schema: which fields, in which order, and which widget kind each needs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# words in a field name that mark a media input when the schema gives no explicit MIME hint
_IMAGE_WORDS = {"image", "img", "mask", "photo", "picture", "frame", "face", "control", "reference", "init"}
_AUDIO_WORDS = {"audio", "voice", "speech", "sound", "music", "wav", "song"}


@dataclass(frozen=True)
class FieldSpec:
    """One input of a model: its name, its JSON-schema property, whether it is required, its widget kind."""

    name: str
    prop: dict[str, Any] = field(repr=False)
    required: bool
    kind: str  # text | secret | uri | media | choice | bool | integer | number | seed | json
    media: str | None = None  # "image" | "audio" for kind == "media"

    @property
    def title(self) -> str:
        return str(self.prop.get("title") or self.name.replace("_", " ").capitalize())

    @property
    def description(self) -> str:
        return str(self.prop.get("description") or "")

    @property
    def has_default(self) -> bool:
        return "default" in self.prop

    @property
    def default(self) -> Any:
        return self.prop.get("default")


def ordered_fields(schema: dict[str, Any] | None) -> list[FieldSpec]:
    """The schema's visible properties as FieldSpecs, in `x-order` (then declaration order)."""
    schema = schema or {}
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    indexed = [
        (name, prop, i) for i, (name, prop) in enumerate(props.items())
        if isinstance(prop, dict) and not prop.get("readOnly") and not prop.get("x-hidden")
    ]
    indexed.sort(key=lambda t: (_order(t[1]), t[2]))
    return [_spec(name, prop, name in required) for name, prop, _ in indexed]


def _order(prop: dict) -> float:
    try:
        return float(prop["x-order"])
    except (KeyError, TypeError, ValueError):
        return float("inf")


def _spec(name: str, prop: dict, required: bool) -> FieldSpec:
    media = media_kind(name, prop)
    if media:
        return FieldSpec(name, prop, required, "media", media)
    types = prop.get("type")
    kind_type = types if isinstance(types, str) else next((t for t in types or [] if t != "null"), None)
    if "enum" in prop:
        kind = "choice"
    elif kind_type == "boolean":
        kind = "bool"
    elif kind_type == "integer" and name == "seed":
        kind = "seed"
    elif kind_type in ("integer", "number"):
        kind = kind_type
    elif kind_type in ("array", "object"):
        kind = "json"
    elif prop.get("format") == "password" or prop.get("writeOnly"):
        kind = "secret"
    elif prop.get("format") == "uri":
        kind = "uri"
    else:
        kind = "text"
    return FieldSpec(name, prop, required, kind)


def media_kind(name: str, prop: dict) -> str | None:
    """"image" or "audio" for a string field that takes a media file by URI, else None.

    Hints, strongest first: `x-accept` (the local server's list of MIME patterns), `contentMediaType`,
    `x-media`, a media `format` ("image", "audio", "image-uri"...), then, for `format: uri` only, the words
    of the field name (`init_image`, `mask`, `audio_file`...).
    """
    if prop.get("type") not in ("string", None):
        return None
    accept = prop.get("x-accept")
    hints = list(accept) if isinstance(accept, list) else [accept]
    hints += [prop.get("contentMediaType"), prop.get("x-media"), prop.get("x-media-type")]
    fmt = str(prop.get("format") or "")
    for hint in [*hints, fmt]:
        for part in str(hint or "").lower().split(","):
            major = part.strip().split("/")[0].split("-")[0]
            if major in ("image", "audio"):
                return major
    if fmt != "uri":
        return None
    words = set(re.split(r"[^a-z]+", name.lower()))
    if words & _AUDIO_WORDS:
        return "audio"
    if words & _IMAGE_WORDS:
        return "image"
    return None


def accept_attribute(spec: FieldSpec) -> str:
    """The `accept` of a file input for a media field: the schema's MIME list, else "image/*" or "audio/*"."""
    accept = spec.prop.get("x-accept")
    if isinstance(accept, list):
        accept = ",".join(accept)
    return str(accept or f"{spec.media}/*")
