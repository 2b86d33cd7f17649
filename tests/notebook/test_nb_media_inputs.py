"""Client-side media coercion: every input kind into a data URI, clear size and shape errors."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skytells_lab.api import InvalidInputError
from skytells_lab.api import _media as M


def _decode(uri: str) -> tuple[str, bytes]:
    header, payload = uri.split(",", 1)
    assert header.endswith(";base64")
    return header[5:].split(";")[0], base64.b64decode(payload)


def test_pil_and_arrays_become_png():
    mime, data = _decode(M.to_data_uri(Image.new("RGB", (7, 5), "red")))
    assert mime == "image/png" and Image.open(io.BytesIO(data)).size == (7, 5)
    for array, mode in [(np.zeros((6, 4), np.uint8), "L"), (np.zeros((6, 4, 1), np.uint8), "L"),
                        (np.full((6, 4, 3), 0.5), "RGB"), (np.ones((6, 4, 4), np.float32), "RGBA"),
                        (np.zeros((6, 4), bool), "L")]:
        mime, data = _decode(M.to_data_uri(array))
        image = Image.open(io.BytesIO(data))
        assert (mime, image.size, image.mode) == ("image/png", (4, 6), mode)
    _, data = _decode(M.to_data_uri(np.full((2, 2, 3), 0.5)))
    assert np.asarray(Image.open(io.BytesIO(data)))[0, 0, 0] == 128


@pytest.mark.parametrize("bad", [np.full((3, 3), 1.5), np.full((3, 3), -0.1), np.zeros((3, 3, 2), np.uint8),
                                 np.zeros((2, 2, 2, 2), np.uint8), np.full((3, 3), 300, np.int32)])
def test_bad_arrays_are_refused_clearly(bad):
    with pytest.raises(InvalidInputError, match="array"):
        M.to_data_uri(bad)


def test_paths_bytes_and_urls(tmp_path):
    png = tmp_path / "pic.png"
    Image.new("RGB", (3, 3)).save(png)
    wav = tmp_path / "clip.wav"
    wav.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 20)
    for value in (png, str(png)):
        mime, data = _decode(M.to_data_uri(value))
        assert mime == "image/png" and data == png.read_bytes()
    assert _decode(M.to_data_uri(wav))[0] == "audio/wav"
    jpeg = io.BytesIO()
    Image.new("RGB", (3, 3)).save(jpeg, format="JPEG")
    assert _decode(M.to_data_uri(jpeg.getvalue()))[0] == "image/jpeg"
    assert _decode(M.to_data_uri(b"\x00\x01"))[0] == "application/octet-stream"
    assert M.to_data_uri("https://example.com/x.png") == "https://example.com/x.png"
    uri = M.to_data_uri(png)
    assert M.to_data_uri(uri) == uri
    with pytest.raises(InvalidInputError, match="not a URL"):
        M.to_data_uri(str(tmp_path / "missing.png"))
    with pytest.raises(InvalidInputError, match="no file"):
        M.to_data_uri(Path(tmp_path / "missing.png"))
    with pytest.raises(InvalidInputError, match="cannot send"):
        M.to_data_uri(object())


def test_too_large_is_refused_before_sending(tmp_path):
    noise = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    with pytest.raises(InvalidInputError, match="larger than the 1,000 bytes") as info:
        M.to_data_uri(noise, field="image", max_bytes=1000)
    assert info.value.error_id == "MEDIA_TOO_LARGE" and info.value.details["field"] == "image"
    big = tmp_path / "big.bin"
    big.write_bytes(b"\x00" * 5000)
    with pytest.raises(InvalidInputError, match="5,000 bytes"):
        M.to_data_uri(big, max_bytes=4096)


def test_coerce_input_converts_objects_and_only_uri_fields_for_path_strings(tmp_path):
    png = tmp_path / "7.png"
    Image.new("L", (4, 4)).save(png)
    schema = {"properties": {"prompt": {"type": "string"}, "image": {"type": "string", "format": "uri",
                                                                      "x-max-bytes": 10_000},
                             "masks": {"type": "array", "items": {"type": "string", "format": "uri"}}}}
    calls = []

    def schema_of():
        calls.append(1)
        return schema

    out = M.coerce_input({"prompt": str(png), "image": str(png), "masks": [png, np.zeros((2, 2), np.uint8)],
                          "strength": 0.5}, schema_of)
    assert out["prompt"] == str(png)  # a prompt that happens to name a file stays text
    assert out["image"].startswith("data:image/png;base64,")
    assert all(m.startswith("data:image/png;base64,") for m in out["masks"]) and out["strength"] == 0.5
    assert calls == [1]
    assert M.coerce_input({"prompt": "7", "seed": 1}, schema_of) == {"prompt": "7", "seed": 1}
    assert calls == [1, 1] or calls == [1]  # plain JSON needs the schema at most for path-like strings
    with pytest.raises(InvalidInputError, match="10,000"):
        M.coerce_input({"image": np.random.default_rng(1).integers(0, 255, (300, 300, 3), dtype=np.uint8)},
                       schema_of)


def test_chat_and_responses_image_parts():
    image = Image.new("RGB", (2, 2), "white")
    messages = M.coerce_messages([
        {"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                     {"type": "image_url", "image_url": {"url": image}},
                                     {"type": "image_url", "image_url": np.zeros((2, 2), np.uint8)},
                                     image]}])
    parts = messages[0]["content"]
    assert parts[0] == {"type": "text", "text": "what is this?"}
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert parts[2]["image_url"].startswith("data:image/png;base64,")
    assert parts[3]["type"] == "image_url" and parts[3]["image_url"]["url"].startswith("data:image/png")
    items = M.coerce_response_input([{"role": "user", "content": [
        {"type": "input_text", "text": "describe"}, {"type": "input_image", "image_url": image}]}])
    assert items[0]["content"][1]["image_url"].startswith("data:image/png;base64,")
    assert M.coerce_response_input("plain text") == "plain text"
