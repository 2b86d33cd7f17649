"""Helpers of the local-server tests: polling, a loopback webhook receiver, HMAC verification."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
import time

import httpx


def wait_status(client: httpx.Client, prediction_id: str, statuses, timeout: float = 120.0) -> dict:
    """Poll GET /predictions/{id} until its status is in `statuses`."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/predictions/{prediction_id}").json()
        if body["status"] in statuses:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"prediction still {body['status']} after {timeout} s: {body}")
        time.sleep(0.05)


class WebhookReceiver:
    """A loopback HTTP server that records every POST (and can fail the first N of them)."""

    def __init__(self, fail_first: int = 0):
        self.calls: list[dict] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append({"raw": raw, "headers": dict(self.headers), "path": self.path,
                                       "time": time.monotonic()})
                failing = len(receiver.calls) <= receiver.fail_first
                self.send_response(500 if failing else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/hook"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def events(self) -> list[str]:
        return [json.loads(c["raw"])["type"] for c in self.calls]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.calls) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.calls)} webhook calls after {timeout} s, wanted {count}")
            time.sleep(0.02)
        return self.calls

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def verify(raw: bytes, signature: str, secret: str) -> bool:
    expected = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def assert_error(resp, status: int, error_id: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["status"] is False and isinstance(body["response"], str)
    assert body["error"]["http_status"] == status and body["error"]["error_id"] == error_id
    assert body["error"]["message"]
    return body["error"]
