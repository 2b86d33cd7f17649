"""``ddf.skytells`` on a real two-process LocalCluster against the local server, through the fault proxy.

The workers are separate processes that reach the server by its loopback URL; every request is counted at
the proxy, so "nothing paid twice" is counted, not inferred.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import sys
import threading
import time
import typing
import urllib.parse

import httpx
import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from support.faults import Fault, FaultServer
from support.reliability import FAST_DIGITS, FAST_RETRY

import skytells_lab.notebook.dask_accessor  # noqa: F401 - registers ddf.skytells
from skytells_lab import EmbeddingSpace, Skytells
from skytells_lab.api.errors import BudgetExceeded, ConfigurationError
from skytells_lab.notebook import checkpoint as C
from skytells_lab.notebook.cluster_client import ClientConfig, share_key

pytestmark = pytest.mark.timeout(180)

KEY = "sk-lab-DASKSECRET-5e1f0a9b3c7d2e46"
EMBED = "POST", "/v1/embeddings"
TOPICS = ["cats purr on the sofa", "the stock market fell sharply", "rain is expected tomorrow",
          "a new vaccine was approved", "the striker scored twice"]
TEXTS = [f"{TOPICS[i % 5]} (note {i})" for i in range(46)] + [TOPICS[0] + " (note 0)", ""]  # a repeat, an empty


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address="127.0.0.1:0",
                                  host="127.0.0.1") as local, distributed.Client(local) as dask_client:
        yield dask_client


@pytest.fixture
def proxy(local_server):
    with FaultServer(upstream=local_server.url) as server:
        yield server


@pytest.fixture(scope="module")
def reference(local_server):
    with Skytells(base_url=local_server.url) as direct:
        direct.cache.disable()
        return direct.embed([t for t in TEXTS if t], progress=False)


def frame() -> pd.DataFrame:
    index = pd.Index([f"doc-{i:03d}" for i in range(len(TEXTS))], name="doc")
    return pd.DataFrame({"text": TEXTS, "n": np.arange(len(TEXTS))}, index=index)


def config(proxy: FaultServer, **changes) -> ClientConfig:
    return ClientConfig(base_url=proxy.url, **{**FAST_RETRY, **changes})


def check_vectors(df: pd.DataFrame, reference: np.ndarray) -> None:
    """Every row once, in the caller's order, each vector equal to the single-process client.embed one."""
    assert df.index.tolist() == frame().index.tolist()
    assert df["text"].tolist() == TEXTS
    got = df.skytells.vectors("text")
    np.testing.assert_allclose(got[:-1], reference, rtol=0, atol=1e-6)
    assert np.isnan(got[-1]).all()  # the empty text has no vector and no error
    assert df["embed_error"].isna().all()


def test_embed_matches_one_process_and_a_second_run_sends_nothing(cluster, proxy, reference, tmp_path):
    ddf = dd.from_pandas(frame(), npartitions=4)
    job = ddf.skytells.embed("text", config=config(proxy), checkpoint=tmp_path / "ck", batch_size=8)
    assert proxy.count(*EMBED) == 0  # lazy: building the job sent nothing
    check_vectors(job.skytells.compute(progress=False), reference)
    first = proxy.count(*EMBED)
    assert first >= 4
    files = sorted((tmp_path / "ck").glob("part-*.parquet"))
    assert len(files) == 4
    on_disk = pd.read_parquet(tmp_path / "ck")
    assert len(on_disk) == len(TEXTS) and on_disk["model"].eq("all-minilm-l6-v2").all()
    assert on_disk["input_hash"].nunique() == len(set(TEXTS))

    proxy.reset_counts()
    again = ddf.skytells.embed("text", config=config(proxy), checkpoint=tmp_path / "ck", batch_size=8)
    summary = again.skytells.write(progress=False)
    assert proxy.count(".*", ".*") == 0  # not one request, of any kind
    assert summary.rows == len(TEXTS) and summary.failed == 0 and summary.requests == 0
    assert "0 requests" in repr(summary) and "Dask job" in summary._repr_html_()
    check_vectors(again.skytells.compute(progress=False), reference)
    assert proxy.count(".*", ".*") == 0

    assert pd.read_parquet(tmp_path / "ck")["embedding"].notna().sum() == len(TEXTS) - 1
    with pytest.raises(ValueError, match="1 rows .* have no vector"):  # the empty text: say so, drop it
        EmbeddingSpace.from_parquet(tmp_path / "ck", vectors="embedding")


def test_search_over_a_dask_array_equals_the_in_memory_search(cluster, proxy, reference, tmp_path):
    # every row with a vector, no repeated text: the in-memory search breaks exact ties at the k-th place
    # arbitrarily (argpartition), the merged one by the lower row, so ties are left out of the comparison
    ddf = dd.from_pandas(frame().iloc[:-2], npartitions=5)
    ddf.skytells.embed("text", config=config(proxy), checkpoint=tmp_path / "ck", batch_size=16).skytells.write(
        progress=False)
    memory = EmbeddingSpace.from_parquet(tmp_path / "ck", vectors="embedding")
    lazy = EmbeddingSpace.from_parquet(tmp_path / "ck", vectors="embedding", lazy=True)
    assert lazy.vectors.numblocks[0] == 5 and "5 blocks" in repr(lazy)
    np.testing.assert_allclose(memory.vectors, reference[:-1], atol=1e-6)
    queries = reference[[0, 7, 21]] + 0.01 * np.random.default_rng(0).standard_normal((3, reference.shape[1]))
    for k in (1, 5, 20):
        expected = memory.search(queries, k=k)
        got = lazy.search(queries, k=k)
        assert got.index.tolist() == expected.index.tolist()
        assert got["rank"].tolist() == expected["rank"].tolist()
        np.testing.assert_allclose(got["score"], expected["score"], atol=1e-6)
        assert got["text"].tolist() == expected["text"].tolist()


def test_twenty_percent_faults_still_give_every_vector_once(cluster, proxy, reference, tmp_path):
    faults = [Fault.status(500), Fault.status(503), Fault.rate_limited("0"), Fault.drop(), Fault.reset()]
    proxy.chaos(0.2, faults, seed=3, method="POST", path="/v1/embeddings")
    ddf = dd.from_pandas(frame(), npartitions=4)
    # 500s, drops and resets may come after the server ran the call: re-sending them is the job's choice
    df = ddf.skytells.embed("text", config=config(proxy, max_retries=10, resend_inference=True),
                            checkpoint=tmp_path / "ck", batch_size=4).skytells.compute(progress=False)
    assert sum(proxy.faults_sent.values()) >= 2  # faults did happen
    check_vectors(df, reference)
    on_disk = pd.read_parquet(tmp_path / "ck")
    assert len(on_disk) == len(TEXTS) and not on_disk.index.duplicated().any()


def test_a_worker_killed_mid_job_leaves_no_duplicate_and_no_missing_row(cluster, proxy, reference, tmp_path):
    proxy.chaos(1.0, [Fault.latency(0.25)], method="POST", path="/v1/embeddings")
    ddf = dd.from_pandas(frame(), npartitions=6)
    job = ddf.skytells.embed("text", config=config(proxy), checkpoint=tmp_path / "ck", batch_size=4)
    future = cluster.compute(job)
    deadline = time.monotonic() + 60
    while not list((tmp_path / "ck").glob("part-*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)
    busy = [w for w, tasks in cluster.processing().items() if tasks]
    assert busy, "no partition was running"
    pids = cluster.run(os.getpid, workers=busy[:1])
    os.kill(next(iter(pids.values())), signal.SIGKILL)
    df = future.result(timeout=120)
    matrix = C.stack_vectors(df["embedding"])
    assert df.index.tolist() == frame().index.tolist()
    np.testing.assert_allclose(matrix[:-1], reference, atol=1e-6)
    on_disk = pd.read_parquet(tmp_path / "ck")
    assert sorted(on_disk.index) == sorted(frame().index)  # each row once across all partition files
    assert not list((tmp_path / "ck").glob(".*tmp"))  # the killed attempt left no half-written file
    cluster.wait_for_workers(2, timeout=60)


def test_cluster_wide_limit_holds_requests_in_flight(cluster, proxy, tmp_path):
    state = {"now": 0, "most": 0}
    lock = threading.Lock()

    def counted(req):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        try:
            time.sleep(0.1)
            url, headers = proxy._upstream_request(req)
            answer = proxy._forward.request(req.method, url, content=req.body, headers=headers)
            from support.faults import Reply

            return Reply(answer.status_code, answer.content, {"Content-Type": "application/json"})
        finally:
            with lock:
                state["now"] -= 1

    proxy.route("POST", "/v1/embeddings", counted)
    ddf = dd.from_pandas(frame(), npartitions=4)
    ddf.skytells.embed("text", config=config(proxy), batch_size=4, concurrency=3, max_in_flight=1).compute()
    assert proxy.count(*EMBED) >= 12 and state["most"] == 1
    state["most"] = 0
    ddf.skytells.embed("text", config=config(proxy), batch_size=4, concurrency=3).compute()
    assert state["most"] >= 2  # without the cluster limit the same job does overlap


def test_a_429_with_retry_after_slows_every_worker(cluster, proxy, tmp_path):
    arrivals: list[tuple[float, str]] = []
    picked = proxy._next_fault

    def stamped(method, path):
        fault = picked(method, path)
        if (method, path) == EMBED:
            arrivals.append((time.time(), "429" if fault is not None else "ok"))
        return fault

    proxy._next_fault = stamped
    proxy.route("POST", "/v1/embeddings", lambda req: (time.sleep(0.05), _forward(proxy, req))[1])
    ddf = dd.from_pandas(frame().iloc[:32], npartitions=2)  # one partition per worker, running side by side
    job = ddf.skytells.embed("text", config=config(proxy, max_retries=3), batch_size=2, concurrency=1)
    seen = {"n": 0}

    def arm(method, path):
        seen["n"] += 1
        if seen["n"] == 6:  # mid-job, while both workers are sending
            proxy.script("POST", "/v1/embeddings", Fault.rate_limited("1.5"))
        return stamped(method, path)

    proxy._next_fault = arm
    job.compute()
    limited = [t for t, what in arrivals if what == "429"]
    assert len(limited) == 1
    after = [t - limited[0] for t, what in arrivals if what == "ok" and t > limited[0]]
    # nobody, on either worker, sent during the pause (a request already on its way may land just after)
    assert after and not [t for t in after if 0.1 < t < 1.3], after


def _forward(proxy: FaultServer, req):
    from support.faults import Reply

    url, headers = proxy._upstream_request(req)
    answer = proxy._forward.request(req.method, url, content=req.body, headers=headers)
    return Reply(answer.status_code, answer.content, {"Content-Type": "application/json"})


def test_run_and_chat_match_the_pandas_accessor(cluster, proxy, client, tmp_path):
    prompts = pd.DataFrame({"prompt": ["a handwritten 3", "a handwritten 7", "a handwritten 1"]},
                           index=[10, 20, 30])
    ddf = dd.from_pandas(prompts, npartitions=2)
    out = ddf.skytells.run("digits-diffusion", config=config(proxy), checkpoint=tmp_path / "run", seed=5,
                           **FAST_DIGITS).compute()
    assert out.index.tolist() == [10, 20, 30] and out["status"].eq("succeeded").all()
    assert out["output"].notna().all() and out["error"].isna().all()
    alone = prompts.skytells.run("digits-diffusion", client=client, seed=5, cache=False, progress=False, **FAST_DIGITS)
    assert out["credits_used"].tolist() == alone["credits_used"].tolist()

    questions = pd.DataFrame({"q": ["What is 2+2?", "Name a colour."]})
    params = {"max_tokens": 6, "temperature": 0}
    chat = dd.from_pandas(questions, npartitions=2).skytells.chat("q", config=config(proxy), **params).compute()
    alone = questions.skytells.chat("q", client=client, cache=False, progress=False, **params)
    assert chat["reply"].tolist() == alone["reply"].tolist() and chat["chat_error"].isna().all()


def test_the_budget_covers_the_whole_job_across_workers(cluster, proxy, tmp_path):
    prompts = pd.DataFrame({"prompt": [f"a handwritten {i}" for i in range(6)]})
    ddf = dd.from_pandas(prompts, npartitions=3)
    create = "POST", "/v1/predictions"
    # two rows of 0.002 credits each per partition: the budget lets one partition through, whichever
    # worker asks first; the other partitions are refused before any request is sent
    job = ddf.skytells.run("digits-diffusion", config=config(proxy), checkpoint=tmp_path / "ck", budget=0.005,
                           seed=1, **FAST_DIGITS)
    with pytest.raises(BudgetExceeded, match="job budget"):
        job.compute()
    deadline = time.monotonic() + 30
    while job.skytells.spent() < 0.004 and time.monotonic() < deadline:  # the admitted partition finishes
        time.sleep(0.1)
    assert proxy.count(*create) == 2
    assert job.skytells.spent() == pytest.approx(0.004)  # summed across the workers
    ledger = job.skytells.ledger()
    assert ledger["credits_used"].sum() == pytest.approx(0.004)

    done = ddf.skytells.run("digits-diffusion", config=config(proxy), checkpoint=tmp_path / "ck", budget=1.0,
                            seed=1, **FAST_DIGITS).compute()
    assert done["status"].eq("succeeded").all()
    assert proxy.count(*create) == 6  # the two rows paid for the first time were not paid again


def test_the_key_is_in_no_task_no_log_and_no_dashboard_page(cluster, proxy, tmp_path):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this module
    share_key(cluster, KEY, "SKYTELLS_DASK_TEST_KEY")
    cluster.run(_collect_logs)
    ddf = dd.from_pandas(frame(), npartitions=2)
    job = ddf.skytells.embed("text", config=config(proxy, key_env="SKYTELLS_DASK_TEST_KEY"), batch_size=16)
    graph = dict(job.__dask_graph__())
    texts = [repr(graph), str(graph), repr(job), repr(next(iter(graph.values())))]
    blobs = [cloudpickle.dumps(graph), pickle.dumps(ClientConfig(base_url=proxy.url))]
    job.compute()
    sent = [r.headers.get("x-api-key") or r.headers.get("X-Api-Key") for r in proxy.requests]
    assert sent and all(k == KEY for k in sent)  # the workers did use the key
    texts += [str(cluster.get_worker_logs()), str(cluster.get_scheduler_logs())]
    texts += [str(v) for v in cluster.run(_collected).values()]
    port = cluster.scheduler_info()["services"]["dashboard"]
    base = f"http://127.0.0.1:{port}"
    pages = ["/info/main/workers.html", "/info/main/logs.html", "/json/identity.json", "/json/index.html"]
    pages += [f"/info/worker/{urllib.parse.quote(w, safe='')}.html" for w in cluster.scheduler_info()["workers"]]
    pages += [f"/info/task/{urllib.parse.quote(str(k), safe='')}.html" for k in list(graph)[:4]]
    with httpx.Client(timeout=10) as http:
        bodies = [http.get(base + p) for p in pages]
    assert sum(b.status_code == 200 for b in bodies) >= 4
    texts += [b.text for b in bodies]
    for text in texts:
        assert KEY not in text and KEY[7:] not in text
    for blob in blobs:
        assert KEY.encode() not in blob


def _collect_logs() -> None:
    """On a worker: keep every log record, at DEBUG, of every logger."""
    class Keep(logging.Handler):
        kept: typing.ClassVar[list[str]] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.kept.append(f"{record.getMessage()} {record.args!r} {record.__dict__!r}")

    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(Keep(logging.DEBUG))


def _collected() -> list[str]:
    return [text for h in logging.getLogger().handlers for text in getattr(h, "kept", [])]


def test_a_remote_url_without_a_key_on_the_worker_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("SKYTELLS_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="SKYTELLS_API_KEY"):
        ClientConfig(base_url="https://api.skytells.ai/v1").build()
    assert "sk-" not in repr(ClientConfig(base_url="https://api.skytells.ai/v1"))


def test_bad_job_settings_are_refused_at_once(proxy):
    ddf = dd.from_pandas(frame(), npartitions=2)
    with pytest.raises(KeyError, match="'title' is not in the frame"):
        ddf.skytells.embed("title", config=config(proxy))
    with pytest.raises(ValueError, match="budget"):
        ddf.skytells.embed("text", config=config(proxy), budget=float("nan"))
    with pytest.raises(ValueError, match="max_in_flight"):
        ddf.skytells.embed("text", config=config(proxy), max_in_flight=0)
    with pytest.raises(ValueError, match="result column"):
        dd.from_pandas(frame().assign(embedding=1), npartitions=1).skytells.embed("text", config=config(proxy))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
