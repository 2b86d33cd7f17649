"""Size limits that protect everyone else: bounded text inputs, embedding inputs cut to what the model reads
before tokenizing, and an overall deadline on media URL fetches."""

from __future__ import annotations

import http.server as http_server
import threading
import time

import httpx
import numpy as np
import pytest

from skytells_lab.local.runners.base import PROMPT_MAX_CHARS
from skytells_lab.local.validation import MAX_TEXT_CHARS

PROSE = "the quick brown fox jumps over the lazy dog "


@pytest.fixture(scope="module")
def http(local_server):
    with httpx.Client(base_url=local_server.url, timeout=120) as client:
        yield client


def test_every_text_input_of_the_catalog_is_bounded(http):
    models = http.get("/models", params={"fields": "input_schema"}).json()
    checked = 0
    for model in models:
        for name, prop in (model.get("input_schema") or {}).get("properties", {}).items():
            if prop.get("type") == "string" and prop.get("format") != "uri" and "enum" not in prop:
                assert prop.get("maxLength"), (model["namespace"], name)
                checked += 1
    assert checked >= 1
    digits = next(m for m in models if m["namespace"] == "digits-diffusion")
    assert digits["input_schema"]["properties"]["prompt"]["maxLength"] == PROMPT_MAX_CHARS


def test_a_prompt_past_its_max_length_is_refused_naming_it(http):
    response = http.post("/predictions", json={"model": "digits-diffusion",
                                               "input": {"prompt": "seven " * PROMPT_MAX_CHARS}})
    assert response.status_code == 422, response.text[:300]
    assert response.json()["error"]["details"]["field"] == "prompt"


def test_text_fields_without_a_max_length_are_bounded_too():
    from skytells_lab.local.errors import ApiError
    from skytells_lab.local.validation import check_value

    assert check_value("note", {"type": "string"}, "x" * MAX_TEXT_CHARS)
    with pytest.raises(ApiError):
        check_value("note", {"type": "string"}, "x" * (MAX_TEXT_CHARS + 1))


@pytest.fixture(scope="module")
def embedder(local_server):
    runner = local_server.state.catalog._runners["all-minilm-l6-v2"]
    runner.load()
    return runner


# long enough to be cut, short enough that the reference (the whole text tokenized) stays cheap
LONG_TEXTS = {
    "prose": PROSE * 2_000,
    "whitespace gap": PROSE * 20 + " " * 50_000 + PROSE * 3_000,
    "no whitespace (CJK)": "\u65e5\u672c\u8a9e\u306e\u6587\u7ae0" * 10_000,
    "punctuation only": "a," * 50_000,
}


@pytest.mark.parametrize("kind", list(LONG_TEXTS))
def test_embedding_inputs_are_cut_before_tokenizing_without_changing_the_vector(embedder, sentence_transformer, kind):
    text = LONG_TEXTS[kind]
    cut = embedder.cut([text])[0]
    assert text.startswith(cut) and len(cut) < len(text), len(cut)
    full = sentence_transformer.encode([text], normalize_embeddings=True)  # what the model reads of the whole text
    assert np.allclose(embedder.embed([text]), full, atol=1e-5)
    assert embedder.count_tokens([text]) == embedder.model.max_seq_length


def test_short_texts_are_left_alone_and_ten_megabytes_cut_to_kilobytes(embedder):
    texts = ["hello", PROSE * 10]
    assert embedder.cut(texts) == texts
    assert len(embedder.cut([PROSE * 230_000])[0]) < 4 * embedder.model.max_seq_length * 8


def test_a_ten_megabyte_embedding_input_is_served(http, embedder):
    response = http.post("/embeddings", json={"model": "all-minilm-l6-v2", "input": (PROSE * 230_000)[:10_000_000]})
    assert response.status_code == 200, response.text[:300]
    assert response.json()["usage"]["prompt_tokens"] == embedder.model.max_seq_length


class _Dripping:
    """An image server that sends its headers, then one byte every 0.2 s (each read well inside any timeout)."""

    def __init__(self):
        class Handler(http_server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", "1000")
                self.end_headers()
                try:
                    for _ in range(150):
                        self.wfile.write(b"\x89")
                        self.wfile.flush()
                        time.sleep(0.2)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self._httpd = http_server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/slow.png"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()


def test_media_url_fetches_have_an_overall_deadline(tmp_path, local_server):
    from skytells_lab.local import start_server

    drip = _Dripping()
    runners = list(local_server.state.catalog._runners.values())
    try:
        with start_server(data_dir=tmp_path, device="cpu", config={"server": {"media_fetch_timeout": 1.0}},
                          runners=runners) as srv:
            started = time.monotonic()
            response = httpx.post(srv.url + "/predictions", timeout=60, json={
                "model": "digits-diffusion", "input": {"prompt": "3", "image": drip.url}})
            elapsed = time.monotonic() - started
            assert response.status_code == 422, response.text[:300]
            assert "deadline" in response.json()["error"]["message"]
            assert elapsed < 10, elapsed  # the drip would take 30 s
    finally:
        drip.close()
