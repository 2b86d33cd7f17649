"""The persistent cache: content addressing, switches, two processes writing at once, no key material."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from skytells_lab.notebook.cache import Cache, cache_key


def test_keys_are_content_addressed_and_order_independent():
    a = cache_key("prediction", "m", {"prompt": "7", "seed": 1}, backend="http://127.0.0.1:1/v1")
    b = cache_key("prediction", "m", {"seed": 1, "prompt": "7"}, backend="http://127.0.0.1:1/v1")
    assert a == b and len(a) == 64
    assert a != cache_key("prediction", "m", {"prompt": "7", "seed": 2}, backend="http://127.0.0.1:1/v1")
    assert a != cache_key("prediction", "m", {"prompt": "7", "seed": 1}, backend="https://api.skytells.ai/v1")
    assert a != cache_key("prediction", "other", {"prompt": "7", "seed": 1}, backend="http://127.0.0.1:1/v1")


def test_keys_hold_what_answers():
    base = {"base_url": "http://127.0.0.1:1/v1", "backend_version": "0.1", "model": {"namespace": "digits"}}
    key = cache_key("prediction", "truefusion", {"seed": 1}, backend=base)
    assert key == cache_key("prediction", "truefusion", {"seed": 1}, backend=dict(reversed(base.items())))
    for change in ({"backend_version": "0.2"}, {"model": {"namespace": "tiny-sd"}},
                   {"model": {"namespace": "digits", "metadata": {"fingerprint": "ab12"}}}):
        assert key != cache_key("prediction", "truefusion", {"seed": 1}, backend={**base, **change})


def test_the_local_catalog_names_alias_target_and_weights(client, local_server, tmp_path):
    """What a local model's cache identity is made of: the alias target and a fingerprint of its files."""
    from skytells_lab.local.fingerprint import weights_fingerprint
    from skytells_lab.local.runners import build_runner
    from skytells_lab.notebook.session import identity_of

    identity = identity_of(client, "digits-diffusion")
    assert identity["backend_version"] and identity["base_url"] == client.base_url
    assert identity["model"]["namespace"] == "digits-diffusion"
    assert len(identity["model"]["metadata"]["fingerprint"]) == 16
    assert "cold_boot" not in identity["model"]["metadata"]  # loading the weights does not change the key
    assert identity_of(client, "no-such-model") is None

    weights = tmp_path / "w"
    weights.mkdir()
    (weights / "model.bin").write_bytes(b"one")
    before = weights_fingerprint(build_runner({"runner": "diffusers", "path": str(weights)}, device="cpu"))
    (weights / "model.bin").write_bytes(b"other weights")
    after = weights_fingerprint(build_runner({"runner": "diffusers", "path": str(weights)}, device="cpu"))
    assert before != after


def test_json_vectors_and_switches(tmp_path):
    cache = Cache(tmp_path / "c.db")
    cache.set_json("chat", "m", {"q": 1}, {"reply": "hi"})
    assert cache.get_json("chat", "m", {"q": 1}) == {"reply": "hi"}
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4)
    cache.set_vectors("e", ["a", "b", "c"], vectors)
    found, missing = cache.get_vectors("e", ["b", "zz", "a"])
    assert missing == [1]
    np.testing.assert_array_equal(found[0], vectors[1])
    np.testing.assert_array_equal(found[2], vectors[0])
    assert found[0].dtype == np.float32

    cache.disable()
    assert cache.get_json("chat", "m", {"q": 1}) is None
    cache.set_json("chat", "m", {"q": 2}, "ignored")
    cache.enable()
    assert cache.get_json("chat", "m", {"q": 2}) is None
    assert cache.stats()["entries"] == {"chat": 1, "embedding": 3}
    assert cache.clear("embedding") == 3
    assert len(cache) == 1
    cache.clear()
    assert len(cache) == 0
    assert "Cache(" in repr(cache) and "entries" in cache._repr_html_()


def test_cache_files_hold_no_key_material(tmp_path, monkeypatch):
    from skytells_lab.api import Prediction, Skytells
    from skytells_lab.notebook import session

    monkeypatch.setenv("SKYTELLS_LAB_HOME", str(tmp_path))
    secret = "sk-cache-test-0123456789abcdef"
    with Skytells(api_key=secret, base_url="http://127.0.0.1:9/v1") as client:
        identity = {"base_url": client.base_url, "backend_version": None, "model": {"namespace": "m"}}
        session.store_vectors(client, ["hello"], np.ones((1, 4), np.float32), "m", None, identity)
        prediction = Prediction.model_validate({"id": "p1", "status": "succeeded", "input": {"seed": 1}})
        session.store_prediction(client, "m", {"seed": 1}, prediction, identity)
        hit = session.cached_prediction(client, "m", {"seed": 1}, identity)
        assert hit.id == "p1" and hit._cached
        # another model behind the same URL and slug, or no identity at all: never a hit
        assert session.cached_prediction(client, "m", {"seed": 1}, {**identity, "model": {"namespace": "x"}}) is None
        assert session.cached_prediction(client, "m", {"seed": 1}, None) is None
        session.cache_for(client).close()
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("cache.db*"))
    assert blob and secret.encode() not in blob


_WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np
    from skytells_lab.notebook.cache import Cache

    path, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cache = Cache(path, timeout=60)
    for i in range(n):
        cache.set_json("test", name, {"i": i}, {"writer": name, "i": i})
        cache.set_json("test", "shared", {"i": i}, {"writer": name, "i": i})
        cache.set_vectors(name, [f"text {i}"], np.full((1, 8), i, dtype=np.float32))
        if i % 10 == 0:
            cache.get_json("test", "shared", {"i": i})
    mine = [cache.get_json("test", name, {"i": i}) for i in range(n)]
    found, missing = cache.get_vectors(name, [f"text {i}" for i in range(n)])
    print(json.dumps({"ok": all(m == {"writer": name, "i": i} for i, m in enumerate(mine)),
                      "vectors": not missing and all(float(found[i][0]) == i for i in range(n))}))
""")


def test_two_processes_write_at_once_and_read_back(tmp_path):
    path = tmp_path / "shared.db"
    n = 150
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(path), name, str(n)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for name in ("alpha", "beta")]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outcomes.append(json.loads(out.strip().splitlines()[-1]))
    assert outcomes == [{"ok": True, "vectors": True}] * 2
    cache = Cache(path)
    for name in ("alpha", "beta"):
        assert all(cache.get_json("test", name, {"i": i})["writer"] == name for i in range(n))
    assert all(cache.get_json("test", "shared", {"i": i})["writer"] in ("alpha", "beta") for i in range(n))
    assert cache.stats()["entries"] == {"test": 3 * n, "embedding": 2 * n}


@pytest.mark.parametrize("threads", [8])
def test_threads_share_one_cache_object(tmp_path, threads):
    from concurrent.futures import ThreadPoolExecutor

    cache = Cache(tmp_path / "t.db")

    def work(t):
        for i in range(40):
            cache.set_json("t", str(t), i, i * t)
        return [cache.get_json("t", str(t), i) for i in range(40)]

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(work, range(threads)))
    assert results == [[i * t for i in range(40)] for t in range(threads)]
