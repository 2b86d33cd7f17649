"""Media facts every layer shares: what bytes are (MIME sniffing), the data-URI codec, which kind of media a
URL or data URI holds, and whether a host is this machine (loopback).

Floor 1: the standard library only, so the wire client, the local server and the notebook layers all use
this one copy. Decoded data URIs are always ``(data, mime)``, the order of ``MediaFile(data, mime)``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import mimetypes
import urllib.parse

__all__ = [
    "MEDIA_KINDS",
    "SIGNED_TYPES",
    "data_uri_size",
    "decode_data_uri",
    "encode_data_uri",
    "guess_mime",
    "is_loopback_host",
    "is_loopback_url",
    "is_media_uri",
    "media_fields",
    "media_kind",
    "output_kind",
    "sniff_mime",
]

MEDIA_KINDS = ("image", "audio", "video")

# magic numbers at offset 0 of the formats models take and return
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"fLaC", "audio/flac"),
    (b"OggS", "audio/ogg"),
    (b"ID3", "audio/mpeg"),
    (b"\x1a\x45\xdf\xa3", "video/webm"),
    (b"%PDF", "application/pdf"),
)
# the types whose every file starts with one of the magic numbers above
SIGNED_TYPES = frozenset(mime for _, mime in _SIGNATURES)
_RIFF = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}

_IMAGE_EXT = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"}
_AUDIO_EXT = {".mp3", ".wav", ".ogg", ".flac", ".m4a", ".aac", ".opus"}
_VIDEO_EXT = {".mp4", ".webm", ".mov", ".m4v"}


def sniff_mime(data: bytes) -> str | None:
    """The MIME type the bytes' magic number says, or None."""
    for magic, mime in _SIGNATURES:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] in _RIFF:
        return _RIFF[data[8:12]]
    if data[4:8] == b"ftyp":
        return "audio/mp4" if data[8:12] in (b"M4A ", b"M4B ") else "video/mp4"
    if len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:  # an MPEG audio frame without ID3
        return "audio/mpeg"
    return None


def guess_mime(data: bytes, filename: str | None = None, declared: str | None = None) -> str:
    """The MIME type of ``data``: its magic number first (browsers and servers mislabel files), then the
    declared type, then the file name's extension, else ``application/octet-stream``."""
    return (sniff_mime(data) or declared or mimetypes.guess_type(filename or "")[0]
            or "application/octet-stream")


# --------------------------------------------------------------------------- data URIs (RFC 2397)


def encode_data_uri(data: bytes, mime: str) -> str:
    """``data:<mime>;base64,<data>``."""
    return f"data:{mime};base64,{base64.b64encode(bytes(data)).decode('ascii')}"


def _split(uri: str) -> tuple[str, bool, str]:
    if not isinstance(uri, str) or not uri.startswith("data:"):
        raise ValueError("not a data URI")
    header, sep, payload = uri[5:].partition(",")
    if not sep:
        raise ValueError("malformed data URI (no comma)")
    parts = header.split(";")
    mime = (parts[0] or "text/plain").strip().lower()
    return mime, "base64" in (p.strip().lower() for p in parts[1:]), payload


def data_uri_size(uri: str) -> int:
    """The number of bytes a data URI holds, from its length (without decoding it)."""
    _, is_base64, payload = _split(uri)
    return len(payload) * 3 // 4 if is_base64 else len(payload)


def decode_data_uri(uri: str) -> tuple[bytes, str]:
    """``(data, mime)`` of a data URI; ValueError saying what is wrong when it is malformed."""
    mime, is_base64, payload = _split(uri)
    if not is_base64:
        return urllib.parse.unquote_to_bytes(payload), mime
    try:
        return base64.b64decode(payload, validate=True), mime
    except (binascii.Error, ValueError):
        raise ValueError("the data URI is not valid base64") from None


# --------------------------------------------------------------------------- media kind


def media_kind(uri: str, mime: str | None = None) -> str | None:
    """"image" | "audio" | "video" for a data URI, an http(s) URL or a MIME type that is media, else None."""
    if not isinstance(uri, str):
        return None
    if uri.startswith("data:"):
        mime = uri[5:].split(";", 1)[0].split(",", 1)[0]
    elif mime is None and uri.startswith(("http://", "https://")):
        path = urllib.parse.urlsplit(uri).path.lower()
        ext = path[path.rfind("."):] if "." in path.rsplit("/", 1)[-1] else ""
        if ext in _IMAGE_EXT:
            return "image"
        if ext in _AUDIO_EXT:
            return "audio"
        if ext in _VIDEO_EXT:
            return "video"
        mime = mimetypes.guess_type(path)[0]
    top = (mime or "").split("/", 1)[0].strip().lower()
    return top if top in MEDIA_KINDS else None


def output_kind(url: str, model_type: str | None = None) -> str | None:
    """The media kind of a prediction's output file: what its URL says, else the model's type when that is
    a media kind (the service's file URLs often carry no extension)."""
    return media_kind(url) or (model_type if model_type in MEDIA_KINDS else None)


def media_fields(schema: dict | None) -> dict[str, dict]:
    """Input fields (name -> property) of a JSON schema that take media: ``format: "uri"`` strings, or arrays
    of them (the property of the items)."""
    found = {}
    for name, prop in ((schema or {}).get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        target = prop.get("items", {}) if prop.get("type") == "array" else prop
        if isinstance(target, dict) and target.get("format") == "uri":
            found[name] = target
    return found


def is_media_uri(value: object) -> bool:
    """True for a data URI or URL that :func:`media_kind` recognises as media."""
    return isinstance(value, str) and media_kind(value) is not None


# --------------------------------------------------------------------------- loopback


def is_loopback_host(host: str | None) -> bool:
    """Whether ``host`` is this machine: ``localhost`` (and ``*.localhost``, RFC 6761), 127.0.0.0/8, ``::1``,
    their IPv4-mapped forms (``::ffff:127.0.0.1``); brackets, a zone and a trailing dot are ignored.
    ``0.0.0.0`` and ``::`` are "every interface", not loopback."""
    name = (host or "").strip().lower().rstrip(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def is_loopback_url(url: str) -> bool:
    """Whether the URL's host is this machine (see :func:`is_loopback_host`)."""
    try:
        return is_loopback_host(urllib.parse.urlsplit(url).hostname)
    except ValueError:
        return False
