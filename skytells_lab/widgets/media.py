"""Bytes in, data URI out: the one place where the widgets turn an uploaded file into an input value."""

from __future__ import annotations

from skytells_lab._media import encode_data_uri, guess_mime

__all__ = ["guess_mime", "to_data_uri"]


def to_data_uri(content: bytes | memoryview, *, filename: str | None = None, mime: str | None = None,
                field: str = "input", max_bytes: int | None = None) -> str:
    """`data:<mime>;base64,...` for uploaded bytes: the client's media coercion (which sniffs the type and
    refuses files larger than the service allows) when it is there, else encoded here."""
    content = bytes(content)
    coerce = _client_coercion()
    if coerce is not None:
        return coerce(content, field=field, max_bytes=max_bytes)
    return encode_data_uri(content, guess_mime(content, filename, mime))


def _client_coercion():
    try:
        from skytells_lab.api._media import to_data_uri as coerce
    except ImportError:  # a client without media support: encode here
        return None
    return coerce
