"""EmbeddingSpace: one float32 matrix of embeddings, a DataFrame aligned with its rows, and the analyses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from skytells_lab.analysis.cards import card
from skytells_lab.analysis.search import (
    as_query_matrix,
    faiss_index,
    faiss_topk,
    numpy_topk,
    resolve_backend,
    row_norms,
    unit_rows,
)

PROJECTION_COLUMNS = ("x", "y", "z")
# project(sample="auto") fits PCA or UMAP on this many items of a larger space, then places the rest.
AUTO_PROJECTION_SAMPLE = 100_000


class EmbeddingSpace:
    """Embeddings of n items with their data, for search, neighbours, clusters, maps and plots.

    Parameters
    ----------
    vectors : (n, d) array, kept as one C-contiguous float32 matrix (converted only if it is not one).
    data : DataFrame (or anything DataFrame() accepts) with one row per vector, in the same order;
        its index is kept in every result. Default: an empty frame with a RangeIndex.
    model : name of the embedding model (used to embed text queries and shown in the repr).
    client : the skytells_lab client that embeds text queries.
    text_column : the column of `data` holding the texts (for label_clusters); default "text".
    copy : how the unit-normalized matrix that cosine search uses is made, once, on first use.
        Vectors that are already unit length (what embedding APIs return) are used as they are, at no
        cost. Otherwise copy=True (default) keeps the caller's vectors intact and holds a normalized
        copy beside them (2x the matrix); copy=False normalizes the caller's array in place, block by
        block, so the space costs 1x the matrix (the way to stay under 2x for 1,000,000 x 384); the
        original lengths stay in `norms`.
    device : a torch device ("cuda", "cuda:1", "cpu") for float32 search and exact neighbours: the unit
        matrix is copied to it once, on first use (skytells_lab.analysis.torch_search). None (default):
        numpy on the CPU.

    Analyses store their results on the space: `cluster()` a column of `data` (default "cluster"),
    `project()` columns x, y (z), `label_clusters()` `cluster_names_`; the fitted estimators are
    `clusterer_` and `projector_`. Those methods return the space, so calls chain.
    """

    def __init__(self, vectors, data=None, *, model: str | None = None, client=None,
                 text_column: str | None = None, copy: bool = True, device: str | None = None):
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be a 2-D (n, d) matrix, got shape {vectors.shape}")
        if data is None:
            data = pd.DataFrame(index=pd.RangeIndex(len(vectors)))
        elif isinstance(data, pd.DataFrame):
            data = data.copy(deep=False)  # columns added by cluster()/project() stay off the caller's frame
        else:
            data = pd.DataFrame(data)
        if len(data) != len(vectors):
            raise ValueError(f"data has {len(data)} rows but there are {len(vectors)} vectors")
        self.vectors = vectors
        self.data = data
        self.model = model
        self.client = client
        self.text_column = text_column or "text"
        self.copy = copy
        self.cluster_column = "cluster"
        self.cluster_names_: dict = {}
        self.clusterer_ = None
        self.projector_ = None
        self._unit: np.ndarray | None = None
        self._norms: np.ndarray | None = None
        self._faiss = None
        self._codes: dict = {}
        self._hnsw = None
        self.device = device
        self._device_matrix = None

    # ---- construction -------------------------------------------------------------------------------

    @classmethod
    def from_texts(cls, texts, *, client=None, model: str | None = None, batch_size: int = 256,
                   data=None, text_column: str | None = None, progress: bool | None = None, **kw):
        """Embed `texts` (a list, or a Series such as df["headline"], whose index is kept) with
        `client.embed` and build the space. `client` defaults to skytells_lab.connect(); `model` to the
        client's default embedding model. `data` (aligned with the texts) becomes the space's data; the
        texts are added to it as `text_column` (default: the Series' name, else "text")."""
        if client is None:
            import skytells_lab

            client = skytells_lab.connect()
        index = texts.index if isinstance(texts, pd.Series) else None
        name = texts.name if isinstance(texts, pd.Series) and isinstance(texts.name, str) else None
        values = [str(t) for t in texts]
        model = model or getattr(client, "default_embedding_model", None)
        vectors = client.embed(values, model=model, batch_size=batch_size, progress=progress)
        text_column = text_column or name or "text"
        if data is None:
            data = pd.DataFrame({text_column: values}, index=index)
        elif text_column not in data.columns:
            data = data.assign(**{text_column: values})
        return cls(vectors, data, model=model, client=client, text_column=text_column, **kw)

    @classmethod
    def load(cls, path, *, mmap: bool = False, client=None) -> EmbeddingSpace:
        """Read a space written by `save` (see skytells_lab.analysis.io). mmap=True maps the vectors and
        codes from disk instead of reading them, for spaces larger than memory."""
        from skytells_lab.analysis.io import load_space

        return load_space(path, mmap=mmap, client=client)

    @classmethod
    def from_parquet(cls, path, vectors: str = "embedding", *, lazy: bool = False, **kw):
        """A space over a Parquet file or folder (a Dask job's checkpoint): `vectors` is the fixed-size
        list column, the rest the data; lazy=True keeps the vectors on disk as a Dask array
        (skytells_lab.analysis.dask_search)."""
        from skytells_lab.analysis.dask_search import read_parquet_space

        return read_parquet_space(path, vectors, lazy=lazy, **kw)

    @classmethod
    def from_arrow(cls, source, column: str = "embedding", **kw) -> EmbeddingSpace:
        """A space whose vectors are the lists of floats in `column` of a Parquet file, an Arrow IPC
        (Feather) file or a pyarrow Table; the other columns become `data`. Keywords go to the class."""
        from skytells_lab.analysis.io import read_vectors

        vectors, data = read_vectors(source, column)
        return cls(vectors, data, **kw)

    def save(self, path, *, codes=None):
        """Write vectors.npy, data.parquet, meta.json and the search codes into the folder `path`
        (`codes`: precisions to write, default those already made)."""
        from skytells_lab.analysis.io import save_space

        return save_space(self, path, codes=codes)

    # ---- the matrix ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.vectors.shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        return self.vectors.shape

    @property
    def norms(self) -> np.ndarray:
        """The vectors' original L2 lengths (kept when copy=False normalizes in place)."""
        if self._norms is None:
            from skytells_lab.analysis.quantize import stream

            norms = np.empty(len(self), np.float32)
            for start, stop, block in stream(self.vectors, 65536):  # a mapped file is read block by block
                norms[start:stop] = row_norms(block)
            if not np.all(np.isfinite(norms)):
                bad = np.flatnonzero(~np.isfinite(norms))[:5].tolist()
                raise ValueError(f"vectors hold NaN or infinite values (rows {bad}): clean them before "
                                 "building the space")
            self._norms = norms
        return self._norms

    @property
    def normalized(self) -> np.ndarray:
        """Unit-length rows for cosine similarity: computed once, then reused (see `copy`)."""
        if self._unit is None:
            norms = self.norms
            if np.all(np.abs(norms - 1) <= 1e-3):
                self._unit = self.vectors
            elif not self.copy and self.vectors.flags.writeable:
                self._unit = unit_rows(self.vectors, out=self.vectors, norms=norms)
            else:
                self._unit = unit_rows(self.vectors, norms=norms)
        return self._unit

    def _embed(self, texts: list[str]) -> np.ndarray:
        if self.client is None:
            raise ValueError("text queries need a client: EmbeddingSpace(..., client=client, model=...) "
                             "or from_texts(...); or pass query vectors")
        return np.asarray(self.client.embed(texts, model=self.model), dtype=np.float32)

    def _queries(self, query) -> tuple[np.ndarray, list]:
        """(unit query matrix, one label per query): texts are embedded, vectors used as given."""
        if isinstance(query, str):
            query = [query]
        if isinstance(query, pd.Series):
            query = query.tolist()
        if isinstance(query, Sequence) and query and all(isinstance(q, str) for q in query):
            texts = list(query)
            return unit_rows(as_query_matrix(self._embed(texts), self.shape[1])), texts
        matrix = as_query_matrix(query, self.shape[1])
        return unit_rows(matrix), list(range(len(matrix)))

    # ---- search and neighbours ----------------------------------------------------------------------

    def codes(self, precision: str, *, progress: bool | None = None):
        """The space's int8 (Int8Codes) or binary (BinaryCodes) codes: made once on first use, or read
        from the folder by `load` when `save` wrote them."""
        from skytells_lab.analysis.quantize import BinaryCodes, Int8Codes, check_precision

        if check_precision(precision) == "float32":
            raise ValueError("float32 has no codes: precision must be 'int8' or 'binary'")
        if precision not in self._codes:
            kind = Int8Codes if precision == "int8" else BinaryCodes
            self._codes[precision] = kind.encode(self.normalized, progress=progress)
        return self._codes[precision]

    def _on_device(self):
        from skytells_lab.analysis.torch_search import DeviceMatrix

        if self._device_matrix is None or self._device_matrix.device.type != str(self.device).split(":")[0]:
            self._device_matrix = DeviceMatrix(self.normalized, self.device)
        return self._device_matrix

    def _topk(self, queries: np.ndarray, k: int, *, precision: str, candidates: int | None,
              exclude=None, progress=None) -> tuple[np.ndarray, np.ndarray]:
        from skytells_lab.analysis.quantize import candidate_count, check_precision, rescore

        if check_precision(precision) == "float32":
            if self.device is not None:
                return self._on_device().topk(queries, k, exclude=exclude)
            return numpy_topk(self.normalized, queries, k, exclude=exclude, progress=progress)
        count = candidate_count(precision, k, len(self) - (exclude is not None), candidates)
        found = self.codes(precision, progress=progress).candidates(queries, count, exclude=exclude,
                                                                    progress=progress)
        return rescore(self.normalized, queries, found, k)

    def search(self, query, k: int = 10, *, backend: str = "auto", precision: str = "float32",
               candidates: int | None = None, progress: bool | None = None):
        """Cosine top-k for a text, a vector, or a batch of either.

        Returns a tidy frame, one row per (query, hit): query (the text, or the query's position for
        vectors), rank (1 = best), score (cosine), then the hit's row of `data`, indexed by its label.
        backend: "auto" (= "numpy": one pass of cache-sized block products, filtered by a running
        threshold) or "faiss" (IndexFlatIP, same results; holds its own copy of the matrix).
        precision: "float32" (exact), "int8" or "binary": the codes (`codes()`, 1/4 and 1/32 of the
        float32 bytes) pick `candidates` rows per query (default 4k for int8 and 100k for binary, at
        least 100), which are then scored exactly with the float32 vectors, so scores are exact and
        only recall can be below 1 (see skytells_lab.analysis.quantize).
        """
        queries, labels = self._queries(query)
        k = min(k, len(self))
        if precision != "float32" or self.device is not None:
            scores, indices = self._topk(queries, k, precision=precision, candidates=candidates,
                                         progress=progress)
        elif resolve_backend(backend) == "faiss":
            if self._faiss is None:
                self._faiss = faiss_index(self.normalized)
            scores, indices = faiss_topk(self._faiss, queries, k)
        else:
            scores, indices = numpy_topk(self.normalized, queries, k, progress=progress)
        return self._hits_frame(indices.ravel(), {
            "query": np.repeat(np.asarray(labels, dtype=object), k),
            "rank": np.tile(np.arange(1, k + 1), len(labels)),
            "score": scores.ravel(),
        })

    def _hits_frame(self, positions: np.ndarray, leading: dict):
        """`leading` columns, then the data of the rows at `positions`, indexed by their labels.
        Built in one DataFrame call: column-by-column inserts cost milliseconds each in pandas."""
        hits = self.data.iloc[positions]
        columns = {**leading, **{c: hits[c].array for c in hits.columns if c not in leading}}
        return pd.DataFrame(columns, index=hits.index)

    def neighbors(self, k: int = 10, *, rows=None, precision: str = "float32", method: str = "exact",
                  candidates: int | None = None, ef_search: int | None = None, progress: bool | None = None):
        """The kNN graph (cosine, self excluded) of all items, or of the positions in `rows`:
        a KNNGraph with indices/scores arrays, .frame() and .to_sparse().

        method="exact" scans every row (with `precision` "float32", or "int8"/"binary" codes whose
        candidates are rescored in float32, as in `search`); "approximate" searches an HNSW graph
        (skytells_lab.analysis.ann; built once, multi-threaded; `ef_search` trades time for recall),
        for large spaces. Scores are exact cosines in every case."""
        from skytells_lab.analysis.neighbors import knn_graph

        if method not in ("exact", "approximate"):
            raise ValueError(f"method must be 'exact' or 'approximate', got {method!r}")
        if method == "approximate":
            from skytells_lab.analysis.ann import approximate_knn

            return approximate_knn(self, k, rows=rows, ef_search=ef_search, progress=progress)
        topk = None
        if precision != "float32" or self.device is not None:
            def topk(queries, k, exclude):
                return self._topk(queries, k, precision=precision, candidates=candidates, exclude=exclude,
                                  progress=False)
        return knn_graph(self.normalized, k, rows=rows, progress=progress, index=self.data.index, topk=topk)

    def duplicates(self, threshold: float = 0.95, *, progress: bool | None = None):
        """Near-duplicate pairs (cosine >= threshold), best first: left, right (index labels), score,
        and the two texts when the space has a text column. Blockwise; never holds n x n scores."""
        from skytells_lab.analysis.neighbors import near_duplicates

        i, j, scores = near_duplicates(self.normalized, threshold, progress=progress)
        labels = self.data.index
        frame = pd.DataFrame({"left": labels[i], "right": labels[j], "score": scores})
        if self.text_column in self.data.columns:
            texts = self.data[self.text_column].to_numpy()
            frame["left_text"], frame["right_text"] = texts[i], texts[j]
        return frame

    # ---- clusters, maps, labels ---------------------------------------------------------------------

    def cluster(self, method: str = "kmeans", n_clusters="auto", *, column: str = "cluster",
                **params) -> EmbeddingSpace:
        """Cluster the items (Clusterer: kmeans | hdbscan | agglomerative; n_clusters="auto" picks k by
        silhouette) and store the labels as data[column]. Returns the space.

        HDBSCAN, and agglomerative clustering above 20,000 items, are given the space's kNN graph
        (`neighbors=` "auto" | "exact" | "approximate"; "auto" is exact up to 50,000 items and the
        HNSW graph of neighbors(method="approximate") above, built once per space)."""
        from skytells_lab.analysis.clustering import Clusterer

        clusterer = Clusterer(method, n_clusters, **params)
        graph = clusterer.uses_graph(len(self))
        knn = None
        if graph is not None:
            knn = self.neighbors(min(clusterer.graph_k(), len(self) - 1), method=graph)
        self.clusterer_ = clusterer.fit(self.normalized, knn=knn)
        self.data[column] = self.clusterer_.labels_
        self.cluster_column = column
        self.cluster_names_ = {}
        return self

    def project(self, method: str = "pca", n_components: int = 2, *, sample: int | str | None = "auto",
                neighbors: str = "auto", random_state=0, **params) -> EmbeddingSpace:
        """Map the items to 2 (or 3) dimensions with the Projector (pca | tsne | umap) and store the
        coordinates as data columns x, y (z). With `sample`, PCA or UMAP is fitted on that many random
        items and all items are then placed into the map block by block, which bounds memory (a PCA
        fit centers a full copy of its input); "auto" samples 100,000 items from larger spaces, None
        fits on everything. Extra keywords go to the underlying estimator.

        `neighbors` ("auto" | "exact" | "approximate", see Projector): t-SNE is given the space's kNN
        graph (exact up to 50,000 items, the space's HNSW graph above); UMAP only when "exact" or
        "approximate" is asked for (under "auto" it keeps its own graph, which place() needs)."""
        from skytells_lab.analysis.projection import Projector

        if sample == "auto":
            large = method != "tsne" and len(self) > AUTO_PROJECTION_SAMPLE
            sample = AUTO_PROJECTION_SAMPLE if large else None
        projector = Projector(method, n_components, params=params or None, neighbors=neighbors,
                              random_state=random_state)
        if sample is not None and sample < len(self):
            picked = np.sort(np.random.default_rng(random_state).choice(len(self), sample, replace=False))
            # The map is fitted on the sample alone, so a graph it is given must be the sample's own
            # (the Projector builds it from those rows: the space's graph links items outside the
            # sample). The other items are then placed by the fitted estimator's transform.
            projector.fit(self.normalized[picked])
            coords = np.vstack([projector.transform(self.normalized[start:start + 65536])
                                for start in range(0, len(self), 65536)])
        else:
            graph = projector.uses_graph(len(self))
            knn = self.neighbors(projector.graph_k(len(self)), method=graph) if graph is not None else None
            coords = projector.fit(self.normalized, knn=knn).embedding_
        self.projector_ = projector
        for axis, name in enumerate(PROJECTION_COLUMNS[:n_components]):
            self.data[name] = coords[:, axis]
        return self

    def place(self, query):
        """Coordinates of new texts or vectors in the existing PCA or UMAP map (after project())."""
        if self.projector_ is None:
            raise ValueError("call project() first")
        queries, labels = self._queries(query)
        coords = self.projector_.transform(queries)
        frame = pd.DataFrame(coords, columns=list(PROJECTION_COLUMNS[:coords.shape[1]]))
        frame.insert(0, "query", labels)
        return frame

    def label_clusters(self, *, top_n: int = 8, client=None, model: str | None = None,
                       column: str | None = None, text: str | None = None):
        """Describe each cluster by its top terms (class-based TF-IDF of the texts) and, when a `client`
        is given, a short name asked of its chat model (`model`, default the client's chat model;
        cached by terms). Returns one row per cluster (cluster, size, terms, name) and keeps the names
        in `cluster_names_` for plot()."""
        from skytells_lab.analysis.labels import cluster_terms, name_clusters

        column = column or self.cluster_column
        text = text or self.text_column
        for needed in (column, text):
            if needed not in self.data.columns:
                raise ValueError(f"data has no column {needed!r}: run cluster() first and give the texts "
                                 "(from_texts, or text=)")
        labels = self.data[column].to_numpy()
        self.cluster_terms_ = cluster_terms(self.data[text].tolist(), labels, top_n=top_n)
        terms = self.cluster_terms_.groupby("cluster", sort=True)["term"].agg(list).to_dict()
        sizes = pd.Series(labels).value_counts()
        if client is not None:
            names = name_clusters(terms, client=client, model=model)
        else:
            names = {cluster: ", ".join(words[:3]) for cluster, words in terms.items()}
        self.cluster_names_ = names
        return pd.DataFrame({
            "cluster": list(terms),
            "size": [int(sizes.get(c, 0)) for c in terms],
            "terms": [", ".join(words) for words in terms.values()],
            "name": [names[c] for c in terms],
        })

    def plot(self, hue: str | None = None, *, x: str = "x", y: str = "y", ax=None, labels=None, **kw):
        """Scatter of the map (runs project() with PCA first if there is none), coloured by `hue`
        (default: the cluster column when there is one), with cluster names from label_clusters().
        Returns the matplotlib Axes (see plot_space for the other keywords; names never overlap)."""
        from skytells_lab.analysis.plotting import plot_space

        if x not in self.data.columns or y not in self.data.columns:
            self.project()
        if hue is None and self.cluster_column in self.data.columns:
            hue = self.cluster_column
        if labels is None and hue == self.cluster_column and self.cluster_names_:
            labels = self.cluster_names_
        return plot_space(self.data, x=x, y=y, hue=hue, ax=ax, labels=labels, **kw)

    def explore(self, **kw):
        """The map of every point (WebGL, jupyter-scatter; runs project() with PCA first if there is none):
        pan, zoom, lasso, hover; a search box for exact neighbours; `explorer.selected` holds the selected
        rows. Keywords go to ``skytells_lab.widgets.EmbeddingExplorer``: `hue` (colour column, default the
        cluster column), `k` (neighbours per search or click, 10), `text`, `extra`, `height`.
        Needs ``pip install 'skytells-lab[widgets]'``."""
        import skytells_lab as sl  # the widgets are a floor above: reached through the public face

        return sl.widgets.EmbeddingExplorer(self, **kw)

    # ---- research helpers ---------------------------------------------------------------------------

    def _labels(self, labels) -> np.ndarray:
        if isinstance(labels, str):
            return self.data[labels].to_numpy()
        labels = np.asarray(labels)
        if len(labels) != len(self):
            raise ValueError(f"{len(labels)} labels for {len(self)} items")
        return labels

    def knn_accuracy(self, labels, k: int = 10, *, progress: bool | None = None) -> float:
        """Leave-one-out k-NN classification accuracy against `labels` (a column name or an array)."""
        from skytells_lab.analysis.evaluation import knn_accuracy

        return knn_accuracy(self.normalized, self._labels(labels), k, progress=progress)

    def cluster_scores(self, labels, *, column: str | None = None) -> dict:
        """ARI and NMI of the stored clusters against `labels` (a column name or an array)."""
        from skytells_lab.analysis.evaluation import clustering_scores

        return clustering_scores(self._labels(labels), self.data[column or self.cluster_column].to_numpy())

    # ---- display ------------------------------------------------------------------------------------

    def _summary(self) -> list[tuple[str, str]]:
        n, d = self.shape
        rows = [("items", f"{n:,}"), ("dimensions", str(d))]
        if self.model:
            rows.append(("model", self.model))
        if self.clusterer_ is not None and self.cluster_column in self.data.columns:
            rows.append(("clusters", str(self.clusterer_.n_clusters_)))
        return rows

    def __repr__(self) -> str:
        n, d = self.shape
        extra = "".join(f", {key}={value}" for key, value in self._summary()[2:])
        return f"EmbeddingSpace({n:,} × {d}{extra})"

    def _repr_html_(self) -> str:
        columns = list(map(str, self.data.columns))
        rows = [*self._summary(),
                ("matrix", f"float32, {self.vectors.nbytes / 2**20:,.1f} MiB"),
                ("columns", ", ".join(columns[:8]) + (" …" if len(columns) > 8 else "") or "(none)")]
        if self.cluster_names_:
            names = list(self.cluster_names_.items())[:6]
            rows.append(("cluster names", "; ".join(f"{k}: {v}" for k, v in names)))
        return card("EmbeddingSpace", rows)
