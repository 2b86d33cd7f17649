"""parity(): local against local passes per modality; injected differences are caught and named."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from skytells_lab.comparison import ParityReport, Tolerance, parity

TEXTS = pd.Series(
    [
        "The cat sat on the mat.",
        "Stock markets fell on Monday.",
        "A cat chased the mouse.",
        "The train was late again.",
        "Rain is expected tomorrow.",
        "She plays the violin.",
    ],
    index=[f"t{i}" for i in range(6)],
)
DIGITS = ["3", "a handwritten eight"]
IMAGE = {"num_inference_steps": 4, "width": 64, "height": 64}


def test_embeddings_local_against_local_pass(client, candidate):
    report = parity(
        reference=client, candidate=candidate, model="all-minilm-l6-v2", inputs=TEXTS, progress=False
    )
    assert isinstance(report, ParityReport)
    assert report.verdict == "pass" and report.passed and report.failing_items == []
    df = report.frame()
    assert df["cosine"].min() >= 0.999999 and df["tier"].eq("fp32").all()
    assert sorted(df["item"]) == list(TEXTS.index)
    assert report.tolerance == Tolerance.for_precision("fp32")  # from the candidate's catalog dtype
    assert repr(report).startswith("ParityReport(PASS embeddings all-minilm-l6-v2: 6/6 items pass")
    assert "PASS" in report._repr_html_()


def test_embeddings_injected_difference_is_caught_and_named(client, candidate, injected):
    report = parity(
        client,
        candidate,
        "all-minilm-l6-v2",
        candidate_model="skytells-embed-3-small",
        inputs=TEXTS,
        progress=False,
    )
    assert report.verdict == "fail"
    expected = [label for label, text in TEXTS.items() if injected["perturbed_word"] in text.lower().split()]
    assert sorted(report.failing_items) == expected == ["t0", "t2"]
    df = report.frame()
    assert df["item"].tolist()[:2] == report.failing_items  # worst first
    assert (df.loc[df["item"].isin(expected), "cosine"] < 0.999).all()
    assert (df.loc[~df["item"].isin(expected), "cosine"] > 0.999999).all()
    assert df.attrs["verdict"] == "fail" and df.attrs["candidate_model"] == "skytells-embed-3-small"
    line = repr(report)
    assert line.startswith("ParityReport(FAIL embeddings all-minilm-l6-v2 vs skytells-embed-3-small: 4/6")
    assert "worst: item 't" in line
    # a looser tolerance judges the same numbers differently
    loose = parity(
        client,
        candidate,
        "all-minilm-l6-v2",
        candidate_model="skytells-embed-3-small",
        inputs=TEXTS,
        tolerance=0.0,
        progress=False,
    )
    assert loose.passed and loose.tolerance.cosine == 0.0


def test_text_local_against_local_pass(client, candidate, injected):
    report = parity(
        client,
        candidate,
        "smollm2-135m-instruct",
        inputs=["Hi!", "Name a fruit."],
        max_tokens=injected["chat_cap"],
        progress=False,
    )
    assert report.verdict == "pass", report.frame()
    assert report.summary["exact_match_rate"] == 1.0
    assert report.frame()["diverges_at"].isna().all()


def test_text_injected_difference_names_first_diverging_token(client, candidate, injected):
    """The candidate server stops answers after a few tokens: the texts part where it stopped."""
    report = parity(
        client,
        candidate,
        "smollm2-135m-instruct",
        inputs=["Hi!"],
        max_tokens=injected["chat_cap"] + 8,
        progress=False,
    )
    assert report.verdict == "fail" and report.failing_items == [0]
    row = report.frame().iloc[0]
    assert not row["exact_match"] and row["reference_output"].startswith(row["candidate_output"])
    assert row["reference_token"] and row["reference_token"] != row["candidate_token"]
    assert row["diverges_at"] >= 1
    assert "token" in repr(report) and "exact match 0%" in repr(report)


def test_text_reduced_precision_accepts_a_common_start(client, candidate, injected):
    """fp16 judges text by the first words: cut at word 4, the answers pass a 4-word rule, fail 16."""
    kwargs = {"inputs": ["Hi!"], "max_tokens": injected["chat_cap"] + 8, "progress": False}
    fp16 = parity(client, candidate, "smollm2-135m-instruct", tolerance="fp16", **kwargs)
    assert fp16.tolerance.agree_tokens == 16 and fp16.verdict == "fail"
    assert "first 16 words agree (fp16)" in repr(fp16)
    parted = int(fp16.frame().iloc[0]["diverges_at"])
    loose = parity(
        client, candidate, "smollm2-135m-instruct", tolerance={"precision": "fp16", "agree_tokens": parted}, **kwargs
    )
    assert loose.verdict == "pass" and loose.summary["exact_match_rate"] == 0.0


def test_images_local_against_local_pass(client, candidate):
    report = parity(client, candidate, "digits-diffusion", inputs=DIGITS, seed=7, progress=False, **IMAGE)
    assert report.verdict == "pass", report.frame()
    df = report.frame()
    assert df["psnr"].map(math.isinf).all() and (df["ssim"] == 1.0).all() and (df["mean_abs_diff"] == 0).all()
    assert df["seed"].eq(7).all()
    ref, cand = report.images(0)
    assert ref.size == cand.size == (64, 64)
    assert "∞ dB" in repr(report) and "<img" in report._repr_html_()


def test_images_different_model_behind_alias_fails(client, candidate):
    report = parity(
        client,
        candidate,
        "digits-diffusion",
        candidate_model="truefusion",
        inputs=DIGITS,
        progress=False,
        **IMAGE,
    )
    assert report.verdict == "fail"
    assert sorted(report.failing_items) == [0, 1]
    df = report.frame()
    assert (df["psnr"] < 30).all() and (df["ssim"] < 0.95).all() and (df["mean_abs_diff"] > 5).all()
    assert "FAIL" in report._repr_html_()


def test_parity_needs_inputs(client):
    with pytest.raises(ValueError, match="at least one input"):
        parity(client, client, "all-minilm-l6-v2", inputs=[])
