"""Metrics that judge two outputs of the same request: vectors, texts and images.

All functions are pure numpy/scipy and take plain arrays or strings, so they can be tested against
known values and reused outside `parity()`.
"""

from __future__ import annotations

import difflib
import html
import math
import re
from dataclasses import dataclass

import numpy as np

# ---------------------------------------------------------------- embeddings


def cosine_rows(a, b) -> np.ndarray:
    """Cosine similarity of row i of `a` with row i of `b`, for every i.

    Rows of different widths are compared with the shorter one zero-padded, which is what a vector
    truncated to fewer `dimensions` amounts to against the full one. A zero row scores 0.
    """
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(b, dtype=np.float64))
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"cosine_rows needs the same number of rows, got {a.shape[0]} and {b.shape[0]}")
    width = max(a.shape[1], b.shape[1])
    a = np.pad(a, ((0, 0), (0, width - a.shape[1])))
    b = np.pad(b, ((0, 0), (0, width - b.shape[1])))
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = np.einsum("ij,ij->i", a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), 0.0)


# ---------------------------------------------------------------- text

_TOKEN = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Word-level tokens (words, single punctuation marks, whitespace runs) that join back to `text`.

    The service does not expose its tokenizer, so divergence is located on this model-independent split.
    """
    return _TOKEN.findall(text or "")


@dataclass(frozen=True)
class Divergence:
    """Where two texts first differ: the token index, the character offset and both tokens there."""

    index: int
    offset: int
    reference: str | None
    candidate: str | None

    def __str__(self) -> str:
        return f"token {self.index}: {self.reference!r} vs {self.candidate!r}"


def first_divergence(reference: str, candidate: str) -> Divergence | None:
    """The first token at which `candidate` departs from `reference`; None when the texts are equal.

    A text that is a strict prefix of the other diverges where it ends (its token is None).
    """
    if reference == candidate:
        return None
    ref, cand = tokenize(reference), tokenize(candidate)
    offset = 0
    for index in range(max(len(ref), len(cand))):
        r = ref[index] if index < len(ref) else None
        c = cand[index] if index < len(cand) else None
        if r != c:
            return Divergence(index, offset, r, c)
        offset += len(r)
    return None  # unreachable: different texts differ in some token


def text_similarity(a: str, b: str) -> float:
    """difflib's ratio over word-level tokens: 1.0 for equal texts, 0.0 for nothing in common."""
    return difflib.SequenceMatcher(None, tokenize(a), tokenize(b), autojunk=False).ratio()


def diff_html(reference: str, candidate: str) -> str:
    """`candidate` as HTML, the tokens that differ from `reference` highlighted and removed ones struck."""
    ref, cand = tokenize(reference), tokenize(candidate)
    parts = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ref, cand, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(html.escape("".join(cand[j1:j2])))
            continue
        if i2 > i1:
            parts.append(
                '<del style="background:#fdd;color:#900">' + html.escape("".join(ref[i1:i2])) + "</del>"
            )
        if j2 > j1:
            parts.append(
                '<ins style="background:#dfd;text-decoration:none">'
                + html.escape("".join(cand[j1:j2]))
                + "</ins>"
            )
    return "".join(parts)


# ---------------------------------------------------------------- images


def as_image_array(image) -> np.ndarray:
    """A PIL image, an array or raw encoded bytes as a float64 array (H, W) or (H, W, C) in 0..255."""
    if isinstance(image, (bytes, bytearray)):
        import io

        from PIL import Image

        image = Image.open(io.BytesIO(image))
    if hasattr(image, "convert") and hasattr(image, "mode"):  # PIL image
        if image.mode not in ("L", "RGB"):
            image = image.convert("RGB")
        image = np.asarray(image)
    return np.asarray(image, dtype=np.float64)


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = as_image_array(a), as_image_array(b)
    if a.ndim != b.ndim:  # one grayscale, one colour: compare both as colour
        a, b = (np.repeat(x[..., None], 3, axis=2) if x.ndim == 2 else x for x in (a, b))
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    return a, b


def mean_abs_diff(a, b) -> float:
    """Mean absolute pixel difference, on the 0..255 scale."""
    a, b = _pair(a, b)
    return float(np.mean(np.abs(a - b)))


def psnr(a, b, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB; `inf` for identical images."""
    a, b = _pair(a, b)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def ssim(a, b, data_range: float = 255.0, sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> float:
    """Structural similarity (Wang et al. 2004) with a Gaussian window, mean over the image and channels.

    Matches `skimage.metrics.structural_similarity(a, b, data_range=255, gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, channel_axis=-1)`: an 11-tap window (truncate 3.5),
    reflected borders, and the window's radius cropped from the edges before averaging.
    """
    from scipy.ndimage import gaussian_filter

    a, b = _pair(a, b)
    truncate = 3.5
    radius = int(truncate * sigma + 0.5)
    if min(a.shape[:2]) < 2 * radius + 1:  # small images: shrink the window to fit
        radius = max(1, (min(a.shape[:2]) - 1) // 2)
        truncate = radius / sigma
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    scores = []
    for channel in range(a.shape[2]):
        x, y = a[..., channel], b[..., channel]

        def blur(img):
            return gaussian_filter(img, sigma=sigma, truncate=truncate, mode="reflect")

        ux, uy = blur(x), blur(y)
        vx = blur(x * x) - ux * ux
        vy = blur(y * y) - uy * uy
        vxy = blur(x * y) - ux * uy
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
        scores.append(s[radius:-radius, radius:-radius].mean(dtype=np.float64))
    return float(np.mean(scores))
