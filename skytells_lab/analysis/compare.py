"""compare_spaces: how two embeddings of the same items agree (two models, or the service vs local)."""

from __future__ import annotations

import numpy as np

from skytells_lab.analysis.cards import card


def jaccard_rows(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row overlap count and Jaccard index of two (m, k) index arrays, each row a set."""
    k = left.shape[1]
    merged = np.sort(np.hstack([left, right]), axis=1)
    overlap = (np.diff(merged, axis=1) == 0).sum(axis=1)
    return overlap, overlap / (2 * k - overlap)


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear centered kernel alignment (Kornblith et al. 2019) of two row-aligned matrices."""
    x = np.asarray(x, np.float64) - np.mean(x, axis=0)
    y = np.asarray(y, np.float64) - np.mean(y, axis=0)
    cross = np.linalg.norm(y.T @ x) ** 2
    return float(cross / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


def procrustes_error(x: np.ndarray, y: np.ndarray) -> float:
    """scipy's Procrustes disparity (0 = same shape up to rotation, scale and shift), zero-padding the
    narrower matrix so two models of different widths compare."""
    from scipy.spatial import procrustes

    width = max(x.shape[1], y.shape[1])
    pad = [np.pad(np.asarray(m, np.float64), ((0, 0), (0, width - m.shape[1]))) for m in (x, y)]
    return float(procrustes(*pad)[2])


class SpaceComparison:
    """The result of compare_spaces: `frame` (per item: overlap, jaccard, then the items' data),
    `summary` (dict), `most_moved(n)`, a one-line repr and an HTML card."""

    def __init__(self, frame, summary: dict, names: tuple[str, str], spaces: tuple | None = None):
        self.frame, self.summary, self.names = frame, summary, names
        self.spaces = spaces  # the two spaces (or arrays) compared, for explore()

    def most_moved(self, n: int = 10):
        """The n items whose neighbourhoods changed most (lowest Jaccard first)."""
        return self.frame.sort_values("jaccard", kind="stable").head(n)

    def explore(self, **kw):
        """The two spaces side by side on WebGL maps with linked selection, hover and zoom, each point
        coloured by how much its neighbourhood moved (1 - jaccard@k); selecting in one map highlights
        the same items in the other. Keywords go to ``skytells_lab.widgets.SpaceCompareView``."""
        import skytells_lab as sl  # the widgets are a floor above: reached through the public face

        return sl.widgets.SpaceCompareView(self, **kw)

    def _figures(self) -> list[tuple[str, str, str]]:
        s = self.summary
        return [
            (f"jaccard@{s['k']}", f"jaccard@{s['k']} (mean)", f"{s['jaccard']:.3f}"),
            ("spearman", "spearman (pairwise cos)", f"{s['spearman']:.3f}"),
            ("cka", "linear CKA", f"{s['cka']:.3f}"),
            ("procrustes", "procrustes error", f"{s['procrustes']:.3f}"),
        ]

    def __repr__(self) -> str:
        a, b = self.names
        figures = ", ".join(f"{short}={value}" for short, _, value in self._figures())
        return f"SpaceComparison({a} vs {b}: n={self.summary['n']:,}, {figures})"

    def _repr_html_(self) -> str:
        a, b = self.names
        s = self.summary
        rows = [("items", f"{s['n']:,}"), *((long, value) for _, long, value in self._figures()),
                ("pairwise sample", f"{s['sample']:,}")]
        return card(f"{a} vs {b}", rows, note="most_moved(n) lists the items whose neighbours changed most")


def _parts(space, name):
    from skytells_lab.analysis.space import EmbeddingSpace

    if isinstance(space, EmbeddingSpace):
        return space.normalized, space.data, space.model or name
    from skytells_lab.analysis.search import unit_rows

    return unit_rows(np.ascontiguousarray(space, dtype=np.float32)), None, name


def compare_spaces(a, b, k: int = 10, *, sample: int = 2000, items=None, random_state=0,
                   progress: bool | None = None) -> SpaceComparison:
    """Compare two embeddings of the same n items (EmbeddingSpace or arrays, rows aligned).

    - per item: Jaccard@k of its k nearest neighbours (cosine, self excluded) in a and in b, for all
      items or for `items` (positions, or an int: that many sampled items); exact, O(n^2 d);
    - Spearman correlation of the pairwise cosine similarities of `sample` random items;
    - linear CKA and Procrustes disparity on the same sample (invariant to rotations, so a rotated
      copy of a space scores jaccard 1, spearman 1, CKA 1, error 0).
    """
    import pandas as pd
    from scipy.stats import spearmanr

    from skytells_lab.analysis.neighbors import knn_graph

    ua, data, name_a = _parts(a, "a")
    ub, _, name_b = _parts(b, "b")
    if len(ua) != len(ub):
        raise ValueError(f"the spaces must hold the same items: {len(ua)} vs {len(ub)} rows")
    n = len(ua)
    rng = np.random.default_rng(random_state)
    if isinstance(items, (int, np.integer)):
        items = np.sort(rng.choice(n, min(items, n), replace=False))
    rows = np.arange(n) if items is None else np.asarray(items, np.int64)
    graph_a = knn_graph(ua, k, rows=rows, progress=progress)
    graph_b = knn_graph(ub, k, rows=rows, progress=progress)
    overlap, jaccard = jaccard_rows(graph_a.indices, graph_b.indices)

    picked = np.sort(rng.choice(n, min(sample, n), replace=False))
    xa, xb = ua[picked], ub[picked]
    upper = np.triu_indices(len(picked), k=1)
    spearman = float(spearmanr((xa @ xa.T)[upper], (xb @ xb.T)[upper]).statistic)

    frame = (data.iloc[rows].drop(columns=["overlap", "jaccard"], errors="ignore")
             if data is not None else pd.DataFrame(index=pd.RangeIndex(n)[rows]))
    frame.insert(0, "jaccard", jaccard)
    frame.insert(0, "overlap", overlap)
    summary = {"n": n, "k": k, "jaccard": float(jaccard.mean()), "spearman": spearman,
               "cka": linear_cka(xa, xb), "procrustes": procrustes_error(xa, xb), "sample": len(picked)}
    return SpaceComparison(frame, summary, (str(name_a), str(name_b)), spaces=(a, b))
