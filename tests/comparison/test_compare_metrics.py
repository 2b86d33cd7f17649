"""The metric functions against values worked out by hand (and skimage's SSIM/PSNR where installed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from skytells_lab.comparison import COSINE_TIERS, Tolerance
from skytells_lab.comparison.metrics import (
    cosine_rows,
    diff_html,
    first_divergence,
    mean_abs_diff,
    psnr,
    ssim,
    text_similarity,
    tokenize,
)


def test_cosine_rows_known_values():
    a = np.array([[1.0, 0.0], [1.0, 1.0], [3.0, 4.0], [0.0, 0.0]])
    b = np.array([[0.0, 1.0], [2.0, 2.0], [-3.0, -4.0], [1.0, 0.0]])
    np.testing.assert_allclose(cosine_rows(a, b), [0.0, 1.0, -1.0, 0.0], atol=1e-12)


def test_cosine_rows_zero_pads_a_truncated_vector():
    full = np.array([[1.0, 1.0, 1.0, 1.0]]) / 2.0
    truncated = np.array([[1.0, 1.0]]) / math.sqrt(2)  # first 2 dims, renormalized
    assert cosine_rows(full, truncated)[0] == pytest.approx(math.sqrt(0.5))
    with pytest.raises(ValueError, match="same number of rows"):
        cosine_rows(np.ones((2, 3)), np.ones((3, 3)))


def test_psnr_and_mean_abs_diff_known_values():
    zeros, ones = np.zeros((8, 8)), np.ones((8, 8))
    assert psnr(zeros, ones) == pytest.approx(10 * math.log10(255.0**2))  # MSE 1: 48.13 dB
    assert psnr(zeros, np.full((8, 8), 255.0)) == pytest.approx(0.0)
    assert math.isinf(psnr(ones, ones))
    assert mean_abs_diff(zeros, np.full((8, 8), 3.0)) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="shape"):
        psnr(np.zeros((4, 4)), np.zeros((5, 5)))


def test_ssim_known_values():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)
    assert ssim(image, image) == pytest.approx(1.0)
    # two flat images: SSIM reduces to the luminance term (2ab + C1) / (a^2 + b^2 + C1)
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 110 + c1) / (100**2 + 110**2 + c1)
    assert ssim(np.full((24, 24), 100.0), np.full((24, 24), 110.0)) == pytest.approx(expected, rel=1e-12)
    noisy = np.clip(image + rng.normal(0, 40, image.shape), 0, 255)
    assert 0.0 < ssim(image, noisy) < 0.9
    assert ssim(image, 255 - image) < 0.0  # an inverted image anti-correlates


def test_ssim_and_psnr_match_skimage():
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (40, 48, 3)).astype(np.uint8)
    b = np.clip(a + rng.normal(0, 15, a.shape), 0, 255).astype(np.uint8)
    reference = metrics.structural_similarity(
        a, b, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=-1
    )
    assert ssim(a, b) == pytest.approx(reference, abs=1e-10)
    assert psnr(a, b) == pytest.approx(metrics.peak_signal_noise_ratio(a, b, data_range=255))


def test_ssim_accepts_pil_images_and_small_images():
    from PIL import Image

    a = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).convert("RGB")
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, a.convert("L")) == pytest.approx(1.0)  # grey vs RGB of the same picture


def test_tokenize_round_trips():
    text = "Hello, world!  It's 3 o'clock."
    tokens = tokenize(text)
    assert "".join(tokens) == text
    assert tokens[:4] == ["Hello", ",", " ", "world"]


def test_first_divergence():
    assert first_divergence("same text", "same text") is None
    d = first_divergence("The cat sat.", "The cat ran.")
    assert (d.index, d.offset, d.reference, d.candidate) == (4, 8, "sat", "ran")
    assert str(d) == "token 4: 'sat' vs 'ran'"
    prefix = first_divergence("The cat", "The cat sat")
    assert (prefix.index, prefix.reference, prefix.candidate) == (3, None, " ")


def test_text_similarity_and_diff_html():
    assert text_similarity("a b c", "a b c") == 1.0
    assert text_similarity("alpha", "omega") == 0.0
    html = diff_html("The cat sat <here>.", "The cat ran <here>.")
    assert '<del style="background:#fdd;color:#900">sat</del>' in html
    assert ">ran</ins>" in html
    assert "&lt;here&gt;" in html  # escaped


def test_tolerance_tiers():
    assert dict(COSINE_TIERS) == {"fp32": 0.999, "fp16": 0.99, "bf16": 0.99, "int8": 0.98}
    assert Tolerance().cosine == 0.999
    assert Tolerance.for_precision("float16").cosine == 0.99
    assert Tolerance().agree_tokens is None and Tolerance.for_precision("bf16").agree_tokens == 16
    fp16 = Tolerance.for_precision("fp16")
    assert fp16.text_ok(False, 16) and not fp16.text_ok(False, 15) and not Tolerance().text_ok(False, 40)
    assert Tolerance.coerce("torch.bfloat16").precision == "bf16"
    assert Tolerance.coerce(0.95).cosine == 0.95
    assert Tolerance.coerce({"precision": "int8", "psnr": 20}).psnr == 20
    assert Tolerance.coerce(None, precision="fp16").cosine == 0.99
    custom = Tolerance.for_precision("int8", tiers={"fp32": 0.9999, "int8": 0.97})
    assert custom.cosine == 0.97 and custom.tier_of(0.99) == "int8"
    t = Tolerance()
    assert [t.tier_of(c) for c in (1.0, 0.995, 0.985, 0.5)] == ["fp32", "fp16/bf16", "int8", "below int8"]
    assert t.image_ok(math.inf, 1.0, 0.0) and not t.image_ok(25.0, 0.99, 1.0)
    assert not t.replace(mean_abs_diff=0.5).image_ok(40.0, 0.99, 1.0)
    with pytest.raises(ValueError, match="unknown precision"):
        Tolerance.for_precision("fp8")
