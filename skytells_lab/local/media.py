"""Media inputs: `format: "uri"` fields given as data URIs or loopback http(s) URLs become MediaFile objects.

The runner receives `MediaFile(data, mime)` in place of the string; the stored input keeps the string.
Allowed MIME types come from the field's `x-accept` (a list or comma-separated string, wildcards like
`image/*`), else from `format`/`x-media` hints; sizes are capped by `x-max-bytes` or the server's cap.
"""

from __future__ import annotations

import fnmatch
import time
import urllib.parse
from dataclasses import dataclass

from skytells_lab._media import (
    SIGNED_TYPES,
    data_uri_size,
    decode_data_uri,
    is_loopback_host,
    media_fields,
    sniff_mime,
)
from skytells_lab.local.errors import ApiError, validation_error


@dataclass(frozen=True)
class MediaFile:
    """Bytes of a media input and their MIME type, as the runner receives them."""

    data: bytes
    mime: str
    source: str = ""

    def __repr__(self) -> str:
        return f"MediaFile({self.mime}, {len(self.data)} bytes)"


FETCH_DEADLINE_S = 30.0


def resolve_media(schema: dict, values: dict, *, max_bytes: int, deadline_s: float = FETCH_DEADLINE_S) -> dict:
    """A copy of `values` with every media field's string(s) replaced by MediaFile; URL fetches of one request
    share `deadline_s` seconds in all (a server that drips bytes would pass any per-read timeout)."""
    out = dict(values)
    deadline = time.monotonic() + deadline_s
    for name, prop in media_fields(schema).items():
        if name not in out or out[name] is None:
            continue
        value = out[name]
        if isinstance(value, list):
            out[name] = [load_media(f"{name}[{i}]", prop, v, max_bytes, deadline) for i, v in enumerate(value)]
        else:
            out[name] = load_media(name, prop, value, max_bytes, deadline)
    return out


def load_media(field: str, prop: dict, value: str, max_bytes: int, deadline: float | None = None) -> MediaFile:
    cap = min(int(prop.get("x-max-bytes", max_bytes)), max_bytes)
    if value.startswith("data:"):
        media = _from_data_uri(field, value, cap)
    else:
        media = _from_loopback_url(field, value, cap,
                                   time.monotonic() + FETCH_DEADLINE_S if deadline is None else deadline)
    _check_mime(field, prop, media)
    return media


def _from_data_uri(field: str, uri: str, cap: int) -> MediaFile:
    try:
        approx = data_uri_size(uri)
    except ValueError:
        raise validation_error(field, "malformed data URI (no comma)", "Use data:<mime>;base64,<data>.") from None
    if approx > cap:
        raise _too_large(field, approx, cap)
    try:
        data, mime = decode_data_uri(uri)
    except ValueError:
        raise validation_error(field, "the data URI is not valid base64",
                               "Encode the bytes with standard base64 (no line breaks).") from None
    if len(data) > cap:
        raise _too_large(field, len(data), cap)
    return MediaFile(data, mime, "data-uri")


def _from_loopback_url(field: str, url: str, cap: int, deadline: float) -> MediaFile:
    import httpx

    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise validation_error(field, f"{url[:60]!r} is neither a data URI nor an http(s) URL",
                               "Send a data URI (data:image/png;base64,...) or an http(s) URL on loopback.")
    if not is_loopback_host(parsed.hostname):
        raise ApiError(403, "SECURITY_VIOLATION",
                       f"Input '{field}': the local server only fetches media from loopback addresses, "
                       f"not {parsed.hostname}. Send the file as a data URI instead.",
                       {"field": field, "host": parsed.hostname}, param=field)
    def late() -> ApiError:
        return validation_error(field, f"fetching {url[:80]} took longer than the server's deadline",
                                "Serve the file faster, or send it as a data URI.")

    left = deadline - time.monotonic()
    if left <= 0:
        raise late()
    try:
        with httpx.Client(timeout=min(10.0, left), follow_redirects=False, trust_env=False) as client, \
                client.stream("GET", url) as resp:
            if resp.status_code != 200:
                raise validation_error(field, f"fetching {url} answered HTTP {resp.status_code}",
                                       "Check that the URL serves the file.")
            chunks, size = [], 0
            for chunk in resp.iter_bytes():
                if time.monotonic() > deadline:
                    raise late()
                size += len(chunk)
                if size > cap:
                    raise _too_large(field, size, cap)
                chunks.append(chunk)
            mime = resp.headers.get("content-type", "application/octet-stream").split(";")[0].strip().lower()
    except httpx.HTTPError as exc:
        raise validation_error(field, f"could not fetch {url}: {exc}", "Check that the URL is reachable.") from None
    data = b"".join(chunks)
    if mime in ("application/octet-stream", "binary/octet-stream"):
        mime = sniff_mime(data) or mime
    return MediaFile(data, mime, url)


def accepted_types(prop: dict) -> list[str]:
    accept = prop.get("x-accept")
    if isinstance(accept, str):
        accept = [a.strip() for a in accept.split(",")]
    return [a.lower() for a in accept or [] if a]


def _check_mime(field: str, prop: dict, media: MediaFile) -> None:
    accept = accepted_types(prop)
    if accept and not any(fnmatch.fnmatch(media.mime, pattern) for pattern in accept):
        raise validation_error(field, f"media type {media.mime} is not accepted",
                               f"Send one of: {', '.join(accept)}.")
    sniffed = sniff_mime(media.data)
    if sniffed != media.mime and (media.mime in SIGNED_TYPES or (
            sniffed and media.mime.split("/")[0] == sniffed.split("/")[0])):
        raise validation_error(field, f"the bytes are not {media.mime}"
                               + (f" (they look like {sniffed})" if sniffed else ""),
                               "Label the data with its real MIME type.")


def _too_large(field: str, size: int, cap: int) -> ApiError:
    return validation_error(field, f"{size:,} bytes is larger than the {cap:,}-byte limit",
                            "Send a smaller file (downscale or compress it).")
