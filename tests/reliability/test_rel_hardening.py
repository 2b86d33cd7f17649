"""Server hardening: loopback-only without a key, no path traversal on output files, webhook targets."""

from __future__ import annotations

import socket

import httpx
import pytest

from skytells_lab.api import Skytells
from skytells_lab.api import errors as E


def _runners(local_server):
    return list(local_server.state.catalog._runners.values())


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3"])
def test_non_loopback_bind_without_a_key_is_refused(tmp_path, local_server, host):
    from skytells_lab.local import start_server

    if host == "::" and not socket.has_ipv6:
        pytest.skip("no IPv6")
    with pytest.raises((ValueError, OSError)) as info:
        start_server(data_dir=tmp_path, device="cpu", host=host, runners=_runners(local_server))
    if isinstance(info.value, ValueError):
        assert "API key" in str(info.value)


def test_non_loopback_bind_with_a_key_requires_it(tmp_path, local_server):
    from skytells_lab.local import start_server

    key = "sk-hardening-0123456789"
    with start_server(data_dir=tmp_path, device="cpu", host="0.0.0.0", api_key=key,
                      runners=_runners(local_server)) as srv:
        assert httpx.get(srv.url + "/models").status_code == 401
        assert httpx.get(srv.url + "/models", headers={"x-api-key": key}).status_code == 200


TRAVERSALS = [
    "/v1/files/%2E%2E/predictions.db",
    "/v1/files/%2e%2e/webhook_secret",
    "/v1/files/..%2F..%2F/predictions.db",
    "/v1/files/x/..%2F..%2Fpredictions.db",
    "/v1/files/x/%2E%2E%2F%2E%2E%2Fpredictions.db",
    "/v1/files/%2E%2E%2F%2E%2E/etc%2Fpasswd",
    "/v1/files/x/%2Fetc%2Fpasswd",
    "/v1/files/x/..%5C..%5Cpredictions.db",
    "/v1/files/./predictions.db",
    "/v1/files/%2E/predictions.db",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_output_files_cannot_escape_the_outputs_folder(local_server, path):
    origin = local_server.url.removesuffix("/v1")
    with socket.create_connection((local_server.host, local_server.port), timeout=30) as sock:
        # a raw request line: an HTTP library would normalize the dots away before sending
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {origin[7:]}\r\nConnection: close\r\n\r\n".encode())
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    assert status in (400, 404), (status, body[:200])
    assert b"SQLite" not in body and b"whsec_" not in body and b"root:" not in body


def test_output_files_of_a_prediction_are_served(client, local_server):
    from support.reliability import FAST_DIGITS

    try:
        prediction = client.run("digits-diffusion", {"prompt": "4", **FAST_DIGITS}, timeout=120)
    except E.PredictionFailed as err:
        pytest.skip(f"digits model unavailable: {err}")
    assert prediction.outputs and httpx.get(prediction.outputs[0]).status_code == 200


REFUSED_TARGETS = [
    "ftp://127.0.0.1/hook", "file:///etc/passwd", "gopher://127.0.0.1:70/", "javascript:alert(1)",
    "http://10.0.0.5/hook", "http://192.168.1.10/hook", "http://172.16.0.1/hook",
    "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/hook", "http://[fd00::1]/hook",
    "http://100.64.0.1/hook", "http://0.0.0.0:9/hook", "http://[::ffff:10.0.0.1]/hook",
]


@pytest.mark.parametrize("url", REFUSED_TARGETS)
def test_webhook_targets_off_http_or_private_are_refused(client, url):
    from support.reliability import FAST_DIGITS

    with pytest.raises(E.InvalidInputError) as info:
        client.predictions.create("digits-diffusion", {"prompt": "1", **FAST_DIGITS}, webhook=url)
    assert info.value.http_status in (400, 422)
    assert "webhook" in str(info.value).lower()


def test_loopback_webhooks_are_allowed_on_a_loopback_server(client):
    from support.reliability import FAST_DIGITS

    for url in ("http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]:9/hook"):
        p = client.predictions.create("digits-diffusion", {"prompt": "2", **FAST_DIGITS}, webhook=url)
        assert p.webhook["url"] == url if isinstance(p.webhook, dict) else p.webhook


def test_private_targets_allowed_by_configuration(tmp_path, local_server):
    from support.reliability import FAST_DIGITS

    from skytells_lab.local import start_server

    config = {"server": {"webhook_allow_private": True}}
    with start_server(data_dir=tmp_path, device="cpu", config=config, runners=_runners(local_server)) as srv, \
            Skytells(base_url=srv.url) as c:
        p = c.predictions.create("digits-diffusion", {"prompt": "5", **FAST_DIGITS}, webhook="http://10.0.0.5/h")
        assert p.id
        with pytest.raises(E.InvalidInputError):  # still http(s) only
            c.predictions.create("digits-diffusion", {"prompt": "5", **FAST_DIGITS}, webhook="ftp://10.0.0.5/h")


def test_loopback_targets_refused_on_a_public_bind_unless_allowed(tmp_path, local_server):
    from support.reliability import FAST_DIGITS

    from skytells_lab.local import start_server

    key = "sk-hardening-0123456789"
    with start_server(data_dir=tmp_path, device="cpu", host="0.0.0.0", api_key=key,
                      runners=_runners(local_server)) as srv, Skytells(key, srv.url) as c, \
            pytest.raises(E.InvalidInputError):
        c.predictions.create("digits-diffusion", {"prompt": "5", **FAST_DIGITS}, webhook="http://127.0.0.1:9/")
