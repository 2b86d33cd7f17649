"""The floor-1 media module: one answer to "is this host loopback?", one data-URI codec, one sniffer."""

from __future__ import annotations

import pytest

from skytells_lab import _html, _media


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "app.localhost", "127.0.0.1", "127.1.2.3", "::1",
                                  "[::1]", "::ffff:127.0.0.1", "[::ffff:127.0.0.1]", "::1%lo"])
def test_loopback_hosts(host):
    assert _media.is_loopback_host(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", None, "10.0.0.1", "::ffff:10.0.0.1", "example.com",
                                  "localhost.example.com", "localhost.localdomain", "128.0.0.1"])
def test_not_loopback_hosts(host):
    assert not _media.is_loopback_host(host)


def test_loopback_urls():
    assert _media.is_loopback_url("http://127.0.0.1:8000/v1") and _media.is_loopback_url("http://[::1]:9/v1")
    assert not _media.is_loopback_url("https://api.skytells.ai/v1") and not _media.is_loopback_url("http://[bad")


def test_data_uri_round_trip_is_data_then_mime():
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 20
    uri = _media.encode_data_uri(png, "image/png")
    assert _media.decode_data_uri(uri) == (png, "image/png")
    assert _media.data_uri_size(uri) in (len(png), len(png) + 1, len(png) + 2)
    assert _media.decode_data_uri("data:,a%20b") == (b"a b", "text/plain")
    with pytest.raises(ValueError, match="no comma"):
        _media.decode_data_uri("data:image/png;base64")
    with pytest.raises(ValueError, match="base64"):
        _media.decode_data_uri("data:image/png;base64,@@@")


def test_sniffing_and_kinds():
    assert _media.sniff_mime(b"RIFF\0\0\0\0WAVEfmt ") == "audio/wav"
    assert _media.sniff_mime(b"\0\0\0\x18ftypisom") == "video/mp4"
    assert _media.guess_mime(b"plain", "notes.txt") == "text/plain"
    assert _media.guess_mime(b"\xff\xd8\xff\xe0", "x.png", "image/png") == "image/jpeg"  # the bytes win
    assert _media.media_kind("https://x/y/out.webm?sig=1") == "video"
    assert _media.media_kind("data:audio/wav;base64,AA==") == "audio"
    assert _media.output_kind("https://x/files/abc", "image") == "image"
    assert _media.output_kind("https://x/files/abc", "text") is None


def test_the_one_error_card_escapes_and_masks():
    class Failed(Exception):
        message = "<script>bad</script> with key sk-secret"
        error_id, http_status, details = "RATE_LIMIT_EXCEEDED", 429, {"hint": "wait a minute"}

    html = _html.error_card(Failed(), secret="sk-secret")
    assert "sl-error-card" in html and "RATE_LIMIT_EXCEEDED" in html and "429" in html and "wait a minute" in html
    assert "<script>" not in html and "sk-secret" not in html and "***" in html
