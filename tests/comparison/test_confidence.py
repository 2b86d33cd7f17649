"""Comparisons you can trust, on the real local server: no cache unless asked, warm timings, repeats
collapsed into intervals, an A/A noise floor and a deliberately worse model flagged against a baseline."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from skytells_lab.comparison import Diff, compare, parity

CHAT = "smollm2-135m-instruct"
EMBED = "all-minilm-l6-v2"
TEXTS = ["The cat sat on the mat.", "Stock markets fell on Monday.", "A dog chased the ball.",
         "The train was late again.", "Rain is expected tomorrow.", "She plays the violin.",
         "Bread rises in a warm oven.", "The match ended in a draw."]
IMAGE = {"num_inference_steps": 2, "width": 32, "height": 32}


@pytest.fixture(scope="module")
def graded(client):
    """The embedding model twice (A/A) and once cut to 16 dimensions, each vector scored by its cosine to
    the full model's vector of the same text."""
    reference = dict(zip(TEXTS, client.embeddings.create(model=EMBED, input=TEXTS).vectors, strict=True))

    def score(vector, text):
        full = np.asarray(reference[text])
        v = np.pad(np.asarray(vector), (0, len(full) - len(vector)))
        return float(v @ full / np.linalg.norm(v) / np.linalg.norm(full))

    models = [EMBED, {"model": EMBED, "label": "again"},
              {"model": EMBED, "label": "small", "params": {"dimensions": 16}}]
    return compare(models, TEXTS, client=client, repeats=2, score=score, progress=False)


def test_repeats_are_rows_and_metrics_have_intervals(graded):
    df = graded.frame()
    assert len(df) == 3 * len(TEXTS) * 2 and sorted(df["repeat"].unique()) == [0, 1]
    assert df["status"].eq("succeeded").all(), df[["model", "error"]]
    metrics = graded.metrics().set_index(["model", "metric"])
    for model in (EMBED, "again", "small"):
        row = metrics.loc[(model, "latency")]
        assert row["ci_low"] <= row["mean"] <= row["ci_high"] and row["inputs"] == len(TEXTS)
    assert metrics.loc[(EMBED, "score"), "mean"] == pytest.approx(1.0, abs=1e-6)
    assert metrics.loc[("small", "score"), "ci_high"] < metrics.loc[(EMBED, "score"), "ci_low"]
    assert graded.summary()["cached"].eq(0).all()


def test_a_a_is_the_noise_floor_and_the_worse_model_is_flagged(graded):
    floor = graded.noise_floor()
    assert floor["score"] < 1e-6 and floor["latency"] >= 0.0
    d = graded.differences().set_index(["model", "metric"])
    assert d.loc[("again", "score"), "verdict"] == "not significant"
    assert abs(d.loc[("again", "score"), "difference"]) < 1e-6
    assert d.loc[("small", "score"), "verdict"] == "worse" and d.loc[("small", "score"), "ci_high"] < 0

    diff = graded.diff(baseline=EMBED)
    assert isinstance(diff, Diff)
    frame = diff.frame()
    scores = frame[frame["metric"] == "score"]
    assert set(scores["model"]) == {"small"}  # the A/A twin changed nothing beyond the floor
    assert set(scores["item"]) == set(range(len(TEXTS))) and (scores["change"] == "worse").all()
    assert not diff.regressions().empty
    assert repr(diff).startswith(f"Diff(against {EMBED}: ") and "worse" in repr(diff)
    html = diff._repr_html_()
    assert "REGRESSION" in html and "noise floor" in html
    card = graded._repr_html_()
    assert "differences against" in card and "bypassed" in card
    assert "× 2 repeats" in repr(graded) and "cache bypassed" in repr(graded)
    with pytest.raises(ValueError, match="baseline 'nope'"):
        graded.diff(baseline="nope")


def test_text_references_exact_match_mcnemar_and_a_pairwise_judge(client):
    prompts = ["Say hi.", "Name a colour."]
    cmp = compare([CHAT, {"model": CHAT, "label": "short", "params": {"max_tokens": 1}}], prompts,
                  client=client, max_tokens=2, references=["zzz", "zzz"], warmup=False, progress=False,
                  judge=CHAT)
    df = cmp.frame()
    assert df["reference"].eq("zzz").all() and df["exact_match"].eq(0.0).all()
    assert df["similarity"].between(0, 1).all() and cmp.provenance["warmup_seconds"] == {}
    exact = cmp.differences().set_index("metric").loc["exact_match"]
    assert exact["test"] == "exact McNemar" and exact["p_value"] == 1.0 and exact["verdict"] == "not significant"

    judged = cmp.judgments()
    assert len(judged) == 2 * len(prompts) and judged["error"].isna().all()
    for _, pair in judged.groupby("item"):  # every pair is shown in both orders
        assert sorted(pair["order"]) == ["baseline first", "model first"] and sorted(pair["swapped"]) == [False, True]
    assert set(judged["preferred"].dropna()) <= {CHAT, "short"}
    verdict = cmp.judge_summary().set_index("model").loc["short"]
    assert verdict["pairs"] == len(prompts) and verdict["wins"] + verdict["losses"] + verdict["ties"] == 2
    assert 0 <= verdict["agreement"] <= 1 and -0.5 <= verdict["position_bias"] <= 0.5
    assert "pairwise judge" in cmp._repr_html_()


def test_the_cache_is_bypassed_unless_asked_and_cached_calls_are_never_timed(client):
    args = (["digits-diffusion"], ["3", "7"])
    plain = [compare(*args, client=client, progress=False, **IMAGE).frame() for _ in range(2)]
    assert not set(plain[0]["request_id"]) & set(plain[1]["request_id"])  # asked the server both times
    assert not plain[1]["cached"].any()
    compare(*args, client=client, cache=True, progress=False, **IMAGE)
    again = compare(*args, client=client, cache=True, progress=False, **IMAGE)
    assert again.frame()["cached"].all()
    summary = again.summary()
    assert summary.loc["digits-diffusion", "cached"] == 2 and math.isnan(summary.loc["digits-diffusion",
                                                                                      "median_latency"])
    assert again.provenance["cache"].startswith("used")


def test_parity_speed_up_leaves_out_the_cold_candidates_loading(client, tmp_path):
    from skytells_lab import Skytells
    from skytells_lab.local import start_server
    from skytells_lab.local.runners.digits import DigitsDiffusionRunner

    class SlowToLoad(DigitsDiffusionRunner):  # a big model's loading, which the tiny digits model does not take
        def _load(self):
            super()._load()
            time.sleep(1.5)

    cold = start_server(data_dir=tmp_path, device="cpu", runners=[SlowToLoad(device="cpu")])
    try:
        with Skytells(base_url=cold.url) as candidate:
            report = parity(client, candidate, "digits-diffusion", inputs=["3", "7", "1"], repeats=2,
                            progress=False, **IMAGE)
    finally:
        cold.stop()
    s = report.summary
    assert report.verdict == "pass" and s["items"] == 3 and s["passed_items"] == 3
    loading = report.provenance["warmup_seconds"]["candidate"]
    assert loading >= 1.5 > s["candidate_median_latency"]  # the first call loaded the weights; it is not timed
    assert 0.2 < s["speedup"] < 5  # the same model on the same machine: about 1x, not 0.01x
    assert s["pass_rate"] == 1.0 and s["pass_rate_ci"] == (1.0, 1.0)
    assert s["reference_cached_calls"] == s["candidate_cached_calls"] == 0
    assert len(report.frame()) == 6 and "bypassed" in report._repr_html_()


class _Interrupted(BaseException):
    """What Ctrl-C does to a running comparison, without interrupting pytest itself."""


class _CountingClient:
    """The session client, counting chat calls and interrupted at call number `stop_at`."""

    def __init__(self, client, stop_at=None):
        self._client, self.calls, self._stop_at = client, 0, stop_at
        outer = self

        class _Completions:
            def create(self, **kw):
                outer.calls += 1
                if outer._stop_at is not None and outer.calls >= outer._stop_at:
                    raise _Interrupted()
                return client.chat.completions.create(**kw)

        self.chat = type("Chat", (), {"completions": _Completions()})()

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_an_interrupted_comparison_resumes_without_paying_again(client):
    import uuid

    prompts = ["Say hi.", "Name a colour.", "Name a fruit.", "Name a month."]
    name = f"resume-{uuid.uuid4().hex[:8]}"
    first = _CountingClient(client, stop_at=4)  # the warm-up and two calls finish, the third is interrupted
    with pytest.raises(_Interrupted):
        compare([(first, CHAT)], prompts, max_tokens=2, resume=name, progress=False)
    assert first.calls == 4

    second = _CountingClient(client)
    resumed = compare([(second, CHAT)], prompts, max_tokens=2, resume=name, progress=False)
    assert second.calls == 1 + 2  # a warm-up and the two calls not done; nothing paid twice
    assert resumed.provenance["resumed"] == 2
    df = resumed.frame()
    assert df["status"].eq("succeeded").all() and df["output"].notna().all() and len(df) == 4

    third = _CountingClient(client)
    again = compare([(third, CHAT)], prompts, max_tokens=2, resume=name, progress=False)
    assert third.calls == 0 and again.provenance["resumed"] == 4  # all done: not even a warm-up
    assert again.frame()["request_id"].tolist() == df["request_id"].tolist()
