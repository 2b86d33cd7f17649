"""Bytes in, data URI out: the one place where the widgets turn an uploaded file into an input value."""

from __future__ import annotations

import base64
import mimetypes

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"fLaC", "audio/flac"),
    (b"OggS", "audio/ogg"),
    (b"ID3", "audio/mpeg"),
)


def guess_mime(content: bytes, filename: str | None = None, declared: str | None = None) -> str:
    """The MIME type of `content`: its magic number first (browsers mislabel files), then the name."""
    for magic, mime in _MAGIC:
        if content.startswith(magic):
            return mime
    if content[:4] == b"RIFF" and content[8:12] in (b"WEBP", b"WAVE"):
        return "image/webp" if content[8:12] == b"WEBP" else "audio/wav"
    if declared:
        return declared
    guessed = mimetypes.guess_type(filename or "")[0]
    return guessed or "application/octet-stream"


def to_data_uri(content: bytes | memoryview, *, filename: str | None = None, mime: str | None = None,
                field: str = "input", max_bytes: int | None = None) -> str:
    """`data:<mime>;base64,...` for uploaded bytes: the client's media coercion (which sniffs the type and
    refuses files larger than the service allows) when it is there, else encoded here."""
    content = bytes(content)
    coerce = _client_coercion()
    if coerce is not None:
        return coerce(content, field=field, max_bytes=max_bytes)
    mime = guess_mime(content, filename, mime)
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


def data_uri_bytes(uri: str) -> tuple[bytes, str] | None:
    """(bytes, mime) of a base64 data URI, else None (for previews of values set programmatically)."""
    if not isinstance(uri, str) or not uri.startswith("data:") or "," not in uri:
        return None
    header, payload = uri[5:].split(",", 1)
    parts = header.split(";")
    if "base64" not in parts[1:]:
        return None
    try:
        return base64.b64decode(payload), parts[0] or "application/octet-stream"
    except ValueError:
        return None


def _client_coercion():
    try:
        from skytells_lab.api._media import to_data_uri as coerce
    except ImportError:  # a client without media support: encode here
        return None
    return coerce
