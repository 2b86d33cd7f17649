"""A picture of every point as a small PNG: a 2-D histogram of the points, coloured by group.

What a map shows where no WebGL runs (nbconvert HTML, the docs site): one pixel counts the points in it,
so a million points cost the same few hundred kilobytes as a thousand. Each pixel takes the mean colour
of its points and an opacity that grows with the log of their count (dense cores stay readable, lone
points stay visible); highlighted points are drawn on top, dark and one pixel wider.
"""

from __future__ import annotations

import io

import numpy as np

BACKGROUND = (252, 252, 252)
HIGHLIGHT = (17, 17, 17)


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16)


def bounds(values: np.ndarray) -> tuple[float, float]:
    """Finite min and max, widened when all values are equal (one point, or none, still gets a map)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


def density_image(x: np.ndarray, y: np.ndarray, *, colors: np.ndarray | None = None, palette=None,
                  highlight: np.ndarray | None = None, width: int = 640, height: int = 420,
                  faded: bool = False) -> np.ndarray:
    """(height, width, 3) uint8 image of the points.

    colors: one palette index per point (int, -1 = grey) or None (one colour); palette: hex strings;
    highlight: positions of points drawn dark on top; faded: the other points drawn lighter (a selection
    is shown as jupyter-scatter shows it: the rest greyed but visible).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    palette = list(palette or ["#1f77b4"])
    rgb = np.array([hex_to_rgb(c) for c in palette] + [(176, 176, 176)], dtype=np.float64)
    (x0, x1), (y0, y1) = bounds(x), bounds(y)
    ok = np.isfinite(x) & np.isfinite(y)
    px = np.clip(((x - x0) / (x1 - x0) * (width - 1)).round(), 0, width - 1).astype(np.int64)
    py = np.clip(((y1 - y) / (y1 - y0) * (height - 1)).round(), 0, height - 1).astype(np.int64)
    pixel = (py * width + px)[ok]
    k = len(rgb)
    codes = np.zeros(len(x), np.int64) if colors is None else np.asarray(colors, np.int64)
    codes = np.where(codes < 0, k - 1, codes % (k - 1))[ok]
    counts = np.bincount(pixel * k + codes, minlength=width * height * k).reshape(width * height, k)
    total = counts.sum(axis=1)
    mean = counts @ rgb / np.maximum(total, 1)[:, None]
    alpha = np.where(total > 0, 0.45 + 0.55 * np.log1p(total) / np.log1p(max(int(total.max()), 1)), 0.0)
    if faded:
        alpha = alpha * 0.35
    image = (np.asarray(BACKGROUND, np.float64) * (1 - alpha[:, None]) + mean * alpha[:, None])
    image = image.reshape(height, width, 3)
    if highlight is not None and len(highlight):
        hx, hy = px[highlight], py[highlight]
        for dx, dy in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
            image[np.clip(hy + dy, 0, height - 1), np.clip(hx + dx, 0, width - 1)] = HIGHLIGHT
    return image.round().astype(np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
    """Encode an (h, w, 3) uint8 image as a 256-colour PNG (Pillow, which matplotlib already needs): a
    third of the bytes of an RGB one, in a fifth of the time, and no visible difference on a density map."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image, mode="RGB").quantize(256, method=Image.Quantize.FASTOCTREE).save(buffer, format="PNG")
    return buffer.getvalue()
