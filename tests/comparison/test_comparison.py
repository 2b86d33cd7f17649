"""compare() over the local models: embedding, chat and image in one comparison, and across two backends."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skytells_lab.comparison import Comparison, compare
from skytells_lab.comparison.side_by_side import FRAME_COLUMNS

MODELS = ["all-minilm-l6-v2", "smollm2-135m-instruct", "digits-diffusion"]
INPUTS = pd.Series(["draw a 3", "the number seven"], index=["three", "seven"])
IMAGE = {"num_inference_steps": 4, "width": 32, "height": 32}


@pytest.fixture(scope="module")
def comparison(client):
    return compare(MODELS, INPUTS, client=client, max_tokens=6, progress=False, **IMAGE)


def test_frame_has_one_row_per_input_and_model(comparison, client):
    df = comparison.frame()
    assert list(df.columns) == FRAME_COLUMNS
    assert len(df) == len(MODELS) * len(INPUTS)
    assert df["status"].eq("succeeded").all(), df[["model", "error"]]
    assert df["error"].isna().all()
    assert df["backend"].eq("local").all()
    assert df.groupby("model", sort=False)["item"].apply(list).to_dict() == {
        m: ["three", "seven"] for m in MODELS
    }
    assert dict(zip(df["model"], df["modality"], strict=True)) == {
        "all-minilm-l6-v2": "embeddings",
        "smollm2-135m-instruct": "chat",
        "digits-diffusion": "image",
    }
    assert (df["latency"] > 0).all()
    assert set(df["input"]) == set(INPUTS)

    emb = df[df["model"] == "all-minilm-l6-v2"]
    assert all(isinstance(v, np.ndarray) and v.shape == (384,) for v in emb["output"])
    assert emb["seed"].isna().all() and (emb["tokens"] > 0).all()

    chat = df[df["model"] == "smollm2-135m-instruct"]
    assert all(isinstance(t, str) and t for t in chat["output"])
    assert (chat["tokens"] > 0).all() and chat["request_id"].str.startswith("chatcmpl-").all()

    image = df[df["model"] == "digits-diffusion"]
    assert image["seed"].tolist() == [0, 0]
    assert image["output"].str.startswith(client.base_url).all()
    assert (image["predict_time"] > 0).all() and (image["credits"] > 0).all()
    assert df.attrs["kind"] == "comparison" and set(df.attrs["models"]) == set(MODELS)
    assert df.attrs["params"]["temperature"] == 0.0


def test_summary_per_model(comparison):
    summary = comparison.summary()
    assert list(summary.index) == MODELS
    assert summary["calls"].tolist() == [2, 2, 2] and summary["failures"].tolist() == [0, 0, 0]
    assert (summary["median_latency"] > 0).all() and (summary["latency_iqr"] >= 0).all()
    assert summary["cached"].tolist() == [0, 0, 0]  # the result cache is bypassed by default
    assert set(summary.attrs["warmup_seconds"]) == set(MODELS)  # one warm-up call each, left out
    assert summary.loc["digits-diffusion", "credits"] == pytest.approx(2 * 0.002)
    assert summary.loc["smollm2-135m-instruct", "tokens"] > 0


def test_display_shows_texts_and_image_grid(comparison):
    assert repr(comparison).startswith("Comparison(3 models × 2 inputs")
    html = comparison._repr_html_()
    assert html.count("<img") == 2 and "seed 0" in html and "summary" in html
    texts = comparison.texts()
    assert list(texts.index) == ["three", "seven"] and "smollm2-135m-instruct" in texts.columns
    images = comparison.image("digits-diffusion", "seven")
    assert len(images) == 1 and images[0].size == (32, 32)


def test_seeds_grid_and_two_backends(client, candidate):
    """Service-style 'backend:slug' names mix two servers; seeds × prompts × models for image models."""
    result = compare(
        ["digits-diffusion", "cand:digits-diffusion"],
        ["1", "2"],
        client=client,
        clients={"cand": candidate},
        seeds=[0, 1],
        progress=False,
        **IMAGE,
    )
    assert isinstance(result, Comparison)
    df = result.frame()
    assert len(df) == 2 * 2 * 2 and df["status"].eq("succeeded").all()
    assert sorted(df["model"].unique()) == ["cand:digits-diffusion", "local:digits-diffusion"]
    assert df.groupby("model")["seed"].apply(sorted).tolist() == [[0, 0, 1, 1]] * 2
    same = result.image("local:digits-diffusion", 0, seed=1)[0].tobytes()
    assert same == result.image("cand:digits-diffusion", 0, seed=1)[0].tobytes()  # same seed, same picture
    assert same != result.image("local:digits-diffusion", 0, seed=0)[0].tobytes()
    assert result._repr_html_().count("<img") == 8


def test_embedding_agreement_between_models(client, candidate):
    texts = [
        "The cat sat on the mat.",
        "Stock markets fell on Monday.",
        "A cat chased the mouse.",
        "The train was late again.",
        "Rain is expected tomorrow.",
        "She plays the violin.",
        "Interest rates rose again.",
        "The orchestra played Mozart.",
    ]
    result = compare(
        [
            (client, "all-minilm-l6-v2"),
            (candidate, "all-minilm-l6-v2"),
            (candidate, "skytells-embed-3-small"),
            {
                "model": "all-minilm-l6-v2",
                "client": client,
                "label": "minilm@64",
                "params": {"dimensions": 64},
            },
        ],
        texts,
        progress=False,
    )
    assert result.frame().groupby("model")["output"].first().map(len).to_dict() == {
        "local:all-minilm-l6-v2": 384,
        "local-2:all-minilm-l6-v2": 384,
        "skytells-embed-3-small": 384,
        "minilm@64": 64,
    }
    agreement = result.agreement(k=3).set_index(["model_a", "model_b"])
    same = agreement.loc[("local:all-minilm-l6-v2", "local-2:all-minilm-l6-v2")]
    assert same["retrieval_agreement"] == pytest.approx(1.0)
    assert same["similarity_correlation"] == pytest.approx(1.0)
    perturbed = agreement.loc[("local:all-minilm-l6-v2", "skytells-embed-3-small")]
    assert perturbed["similarity_correlation"] < 0.999
    truncated = agreement.loc[("local:all-minilm-l6-v2", "minilm@64")]
    assert 0 < truncated["similarity_correlation"] < 0.999
    assert "embedding agreement" in result._repr_html_()


def test_failed_calls_become_rows(client):
    result = compare(["smollm2-135m-instruct"], ["hello"], client=client, max_tokens=0, progress=False)
    row = result.frame().iloc[0]
    assert row["status"] == "failed" and "max_tokens" in row["error"]
    assert result.summary().loc["smollm2-135m-instruct", "failures"] == 1
    assert "1 failed" in repr(result)


def test_seeds_times_prompts_is_a_grid_one_row_per_prompt(client):
    """3 prompts × 3 seeds of one model: 3 rows of 3 pictures, the seeds as column headers."""
    result = compare(["digits-diffusion"], ["1", "5", "8"], client=client, seeds=[0, 1, 2], progress=False,
                     **IMAGE)
    html = result._repr_html_()
    images_table = html[html.index(">images<"):]
    images_table = images_table[: images_table.index("</table>")]
    rows = [row for row in images_table.split("<tr>") if "<img" in row]
    assert [row.count("<img") for row in rows] == [3, 3, 3]
    headers = images_table.split("<tr>")[1]
    assert all(f">seed {seed}<" in headers for seed in (0, 1, 2))
