"""Media inputs (`format: uri`): data URIs and loopback URLs reach the runner as the bytes sent."""

from __future__ import annotations

import base64
import http.server
import io
import os
import threading

import httpx
import pytest
from _local_fakes import BrokenRunner, EchoMediaRunner
from _local_helpers import assert_error
from PIL import Image

from skytells_lab.local import start_server


def png_bytes(value: int = 0, size: int = 16) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (size, size), value).save(buf, format="PNG")
    return buf.getvalue()


def noisy_png(size: int) -> bytes:
    buf = io.BytesIO()
    Image.frombytes("L", (size, size), os.urandom(size * size)).save(buf, format="PNG")
    return buf.getvalue()


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


@pytest.fixture(scope="module")
def media(tmp_path_factory, real_runners):
    srv = start_server(data_dir=tmp_path_factory.mktemp("media"), device="cpu",
                       runners=[*real_runners, EchoMediaRunner(device="cpu"), BrokenRunner(device="cpu")])
    with httpx.Client(base_url=srv.url, timeout=600) as client:
        yield client
    srv.stop()


@pytest.fixture(scope="module")
def file_host():
    """A loopback static server for the URL form (the local server fetches only from loopback)."""
    files = {"/a.png": (png_bytes(200), "image/png"), "/a.bin": (png_bytes(100), "application/octet-stream"),
             "/fake.png": (b"GIF89a" + b"\0" * 20, "image/png")}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path not in files:
                self.send_response(404)
                self.end_headers()
                return
            data, mime = files[self.path]
            self.send_response(200)
            self.send_header("Content-Type", mime)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", files
    httpd.shutdown()


def run_echo(client, **input) -> dict:
    return client.post("/predict", json={"model": "echo-media", "input": input, "await": True})


def test_data_uri_bytes_reach_the_model_unchanged(media):
    sent = png_bytes(123)
    done = run_echo(media, image=data_uri(sent)).json()
    assert done["status"] == "succeeded" and done["input"]["image"] == data_uri(sent)
    assert media.get(done["output"][0]).content == sent


def test_loopback_urls_including_the_servers_own_outputs(media, file_host):
    base, files = file_host
    done = run_echo(media, image=f"{base}/a.png", extra=[f"{base}/a.bin"]).json()
    assert done["status"] == "succeeded", done
    assert [media.get(u).content for u in done["output"]] == [files["/a.png"][0], files["/a.bin"][0]]
    chained = run_echo(media, image=done["output"][0]).json()  # an output of this server as the next input
    assert media.get(chained["output"][0]).content == files["/a.png"][0]


def test_media_errors(media, file_host):
    base, _ = file_host
    err = assert_error(run_echo(media, image=data_uri(b"GIF89a....", "image/gif")), 422, "VALIDATION_ERROR")
    assert err["details"]["field"] == "image" and "image/png" in err["details"]["fix"]
    err = assert_error(run_echo(media, image=data_uri(b"GIF89a....", "image/png")), 422, "VALIDATION_ERROR")
    assert "not image/png" in err["message"]
    err = assert_error(run_echo(media, image=data_uri(noisy_png(100))), 422, "VALIDATION_ERROR")
    assert "4,096-byte limit" in err["message"]
    assert_error(run_echo(media, image="data:image/png;base64,***"), 422, "VALIDATION_ERROR")
    assert_error(run_echo(media, image="ftp://127.0.0.1/a.png"), 422, "VALIDATION_ERROR")
    assert_error(run_echo(media, image=f"{base}/missing.png"), 422, "VALIDATION_ERROR")
    assert_error(run_echo(media, image=f"{base}/fake.png"), 422, "VALIDATION_ERROR")
    err = assert_error(run_echo(media, image="https://example.com/cat.png"), 403, "SECURITY_VIOLATION")
    assert "loopback" in err["message"]
    assert_error(run_echo(media, image=data_uri(png_bytes()), extra=["http://10.0.0.1/x.png"]), 403,
                 "SECURITY_VIOLATION")


def test_image_to_image_on_the_digits_model(media):
    start = png_bytes(255, size=64)
    outs = {}
    for strength in (0.3, 0.9):
        done = media.post("/predict", json={"model": "digits-diffusion", "await": True, "input": {
            "prompt": "1", "image": data_uri(start), "strength": strength, "num_inference_steps": 10,
            "seed": 0, "width": 64, "height": 64}}).json()
        assert done["status"] == "succeeded", done
        outs[strength] = media.get(done["output"][0]).content
    assert outs[0.3] != start and outs[0.3] != outs[0.9]
    assert_error(media.post("/predictions", json={"model": "digits-diffusion", "input": {
        "prompt": "1", "image": data_uri(b"plain text", "text/plain")}}), 422, "VALIDATION_ERROR")


def test_a_failing_model_gives_a_failed_prediction_with_its_error(media):
    done = media.post("/predict", json={"model": "broken-model", "input": {"prompt": "x"}, "await": True}).json()
    assert done["status"] == "failed" and done["error"] == "Failed to generate image." and done["output"] is None
    assert done["response"] == done["error"] and done["completed_at"]
