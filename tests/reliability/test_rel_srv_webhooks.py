"""Webhook targets are checked when delivered, not only when registered: one resolution per delivery, every
address checked, the connection made to the checked address; IPv6 forms of IPv4 and multicast refused."""

from __future__ import annotations

import http.server
import ipaddress
import logging
import threading
import time

import httpx
import pytest

from skytells_lab.local import webhooks
from skytells_lab.local.webhooks import refusal

DIGITS = {"prompt": "3", "num_inference_steps": 1, "width": 16, "height": 16}

REFUSED = ["::ffff:10.0.0.1", "::a00:1", "::8.8.8.8", "64:ff9b::a00:1", "64:ff9b::808:808", "64:ff9b:1::1",
           "2002:a00:1::1", "2002:808:808::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "224.0.0.1",
           "239.255.255.250", "ff02::1", "ff0e::1", "0.0.0.0", "::", "100.64.0.1", "fd00::1"]


@pytest.mark.parametrize("address", REFUSED)
def test_ipv4_in_ipv6_forms_and_multicast_count_as_private(address):
    ip = ipaddress.ip_address(address)
    assert refusal(ip) is not None
    assert refusal(ip, allow_private=True) is None


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass_and_loopback_only_where_allowed(address):
    assert refusal(ipaddress.ip_address(address)) is None
    for loopback in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        assert refusal(ipaddress.ip_address(loopback), allow_loopback=True) is None
        assert refusal(ipaddress.ip_address(loopback), allow_loopback=False) is not None


@pytest.mark.parametrize("address", ["[64:ff9b::a00:1]", "[2002:a00:1::1]", "[::a00:1]", "224.0.0.1", "[ff02::1]"])
def test_such_targets_are_refused_at_registration(local_server, address):
    response = httpx.post(local_server.url + "/predictions", timeout=60, json={
        "model": "digits-diffusion", "input": DIGITS, "webhook": f"http://{address}/hook"})
    assert response.status_code == 422, response.text[:300]
    assert response.json()["error"]["details"]["field"] == "webhook.url"


class _Receiver:
    def __init__(self):
        self.calls: list[dict] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append(dict(self.headers))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def receiver():
    r = _Receiver()
    yield r
    r.close()


@pytest.fixture
def dns(monkeypatch):
    """A resolver the test scripts (DNS rebinding cannot be caused otherwise on loopback): name -> answers,
    one list per lookup, the last repeated; every lookup of a scripted name is recorded."""
    script: dict[str, list[list[str]]] = {}
    lookups: list[str] = []
    real = webhooks._target_addresses

    def resolve(host: str):
        if host not in script:
            return real(host)
        lookups.append(host)
        answers = script[host]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return [ipaddress.ip_address(a) for a in answer]

    monkeypatch.setattr(webhooks, "_target_addresses", resolve)
    return script, lookups


def _create(local_server, url: str) -> httpx.Response:
    return httpx.post(local_server.url + "/predictions", timeout=60,
                      json={"model": "digits-diffusion", "input": DIGITS,
                            "webhook": {"url": url, "events": ["prediction.succeeded"]}})


def _wait(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_name_rebound_to_a_private_address_after_registration_is_not_delivered(local_server, receiver, dns,
                                                                                  caplog):
    script, lookups = dns
    script["rebind.test"] = [["93.184.216.34"], ["10.0.0.5"]]  # public when registered, private when delivered
    caplog.set_level(logging.WARNING, "skytells_lab.local.webhooks")
    created = _create(local_server, f"http://rebind.test:{receiver.port}/hook")
    assert created.status_code == 201, created.text[:300]
    _wait(lambda: "refused at delivery" in caplog.text)
    time.sleep(0.3)
    assert receiver.calls == [] and lookups == ["rebind.test", "rebind.test"]  # refused once, not retried
    assert "10.0.0.5" in caplog.text


def test_every_resolved_address_is_checked(local_server, receiver, dns, caplog):
    script, _ = dns
    script["mixed.test"] = [["127.0.0.1", "10.0.0.5"]]
    assert _create(local_server, f"http://mixed.test:{receiver.port}/hook").status_code == 422
    script["later-mixed.test"] = [["127.0.0.1"], ["127.0.0.1", "169.254.169.254"]]
    caplog.set_level(logging.WARNING, "skytells_lab.local.webhooks")
    assert _create(local_server, f"http://later-mixed.test:{receiver.port}/hook").status_code == 201
    _wait(lambda: "169.254.169.254" in caplog.text)
    assert receiver.calls == []


def test_delivery_connects_to_the_checked_address_with_the_name_as_host(local_server, receiver, dns):
    script, lookups = dns
    # the name exists only in the scripted resolver: a second resolution (by httpx) would fail to connect
    script["hooks.pinned.test"] = [["127.0.0.1"]]
    created = _create(local_server, f"http://hooks.pinned.test:{receiver.port}/hook")
    assert created.status_code == 201, created.text[:300]
    _wait(lambda: receiver.calls)
    assert receiver.calls[0]["Host"] == f"hooks.pinned.test:{receiver.port}"
    assert lookups == ["hooks.pinned.test", "hooks.pinned.test"]  # registration, then one per delivery
