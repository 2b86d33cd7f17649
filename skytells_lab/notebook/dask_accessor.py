"""``ddf.skytells``: the pandas accessor's embed, run and chat over a Dask DataFrame, lazily, on the workers.

>>> out = ddf.skytells.embed("text", checkpoint="runs/embed-v1")    # lazy, like every Dask operation
>>> df = out.skytells.compute()                                       # a progress bar for the whole job
>>> summary = out.skytells.write()                                    # results stay on disk only

Each partition runs on a worker through the pandas accessor (``df.skytells``, the same row logic and error
columns) with a client the worker builds from a picklable :class:`ClientConfig` (the key comes from the
worker, never from the task graph). Requests obey the job's :class:`Limits` (per worker and cluster-wide;
a 429 pauses every worker) and its budget, checked before each partition against the credits all workers
spent so far. With ``checkpoint=`` each finished partition is written to Parquet (see ``checkpoint``):
computing the job again reads finished partitions back and sends only the rows that are not done, so a
crash, a killed worker or a rerun never pays twice for a row.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd

from skytells_lab.notebook import checkpoint as C
from skytells_lab.notebook import vectors as V
from skytells_lab.notebook.accessor import _plain, default_client
from skytells_lab.notebook.cluster_client import ClientConfig, Gate, GatedTransport, Limits

__all__ = ["DaskSkytellsAccessor", "Job", "JobSummary", "compute", "run_partition", "spent"]

_JOBS: dict[str, Job] = {}  # result frame's name -> its job, for out.skytells.compute()/write()

# result columns of each kind of job: name (or role) -> dtype; "output"/"error" are renamed per call
_RESULTS = {
    "embed": {"output": pd.ArrowDtype(C.vector_type()), "error": "string"},
    "run": {"prediction_id": "string", "status": "string", "output": "string", "outputs": object,
            "predict_time": "float64", "credits_used": "float64", "error": "string"},
    "chat": {"output": "string", "finish_reason": "string", "prompt_tokens": "Int64", "completion_tokens": "Int64",
             "error": "string"},
}
# options that change how a job runs but not what its rows' results are
_NOT_HASHED = {"batch_size", "concurrency", "timeout", "cache"}


@dataclass(frozen=True)
class Job:
    """One job's recipe, as it travels in the task graph (no key in it, see :class:`ClientConfig`)."""

    what: str
    column: str
    model: str
    config: ClientConfig
    limits: Limits
    output_column: str
    error_column: str
    options: tuple[tuple[str, Any], ...] = ()
    checkpoint: str | None = None
    budget: float | None = None
    cache: bool = False
    created: float = field(default_factory=time.time)

    @property
    def columns(self) -> dict[str, Any]:
        """The columns a partition gains: the results, then the model and each row's input hash."""
        names = {"output": self.output_column, "error": self.error_column}
        out = {names.get(k, k): v for k, v in _RESULTS[self.what].items()}
        return {**out, C.MODEL_COLUMN: "string", C.HASH_COLUMN: "string"}

    def request(self) -> dict[str, Any]:
        fixed = {k: v for k, v in self.options if k not in _NOT_HASHED}
        return {"what": self.what, "model": self.model, **fixed}

    def __repr__(self) -> str:
        where = f", checkpoint={self.checkpoint!r}" if self.checkpoint else ""
        return f"Job({self.what} {self.column!r} with {self.model!r}{where})"


# --------------------------------------------------------------------------- on the worker


def _done(job: Job, rows: pd.DataFrame) -> np.ndarray:
    """Which checkpointed rows hold a finished result (failed rows are sent again)."""
    error = rows[job.error_column].isna().to_numpy()
    if job.what == "run":
        return error & (rows["status"].astype("string") == "succeeded").fillna(False).to_numpy()
    if job.what == "chat":
        return error & rows[job.output_column].notna().to_numpy()
    return error


def _embed_rows(job: Job, client: Any, rows: pd.DataFrame) -> pd.DataFrame:
    """Through ``df.skytells.embed``, a batch at a time, ``per_worker`` batches at once."""
    options = dict(job.options)
    size = max(1, int(options.get("batch_size", 256)))

    def one(start: int) -> pd.DataFrame:
        part = rows.iloc[start:start + size]
        done = part.skytells.embed(job.column, job.model, client=client, dimensions=options.get("dimensions"),
                                   batch_size=size, progress=False, error_column=job.error_column)
        matrix = V.vectors_of(done, job.column)
        ok = ~np.isnan(matrix).any(axis=1) if matrix.shape[1] else np.zeros(len(part), bool)
        errors = done[job.error_column] if job.error_column in done.columns else pd.Series(
            pd.NA, index=part.index, dtype="string")
        return pd.DataFrame({job.output_column: C.vector_array(matrix, ok),
                             job.error_column: errors.astype("string").array}, index=part.index)

    with ThreadPoolExecutor(max_workers=job.limits.per_worker, thread_name_prefix="skytells-dask") as pool:
        parts = list(pool.map(one, range(0, len(rows), size)))
    return pd.concat(parts) if parts else pd.DataFrame(columns=[job.output_column, job.error_column])


def _call_rows(job: Job, client: Any, rows: pd.DataFrame) -> pd.DataFrame:
    """The job's results for ``rows`` (a frame with the input column only), by the pandas accessor."""
    if job.what == "embed":
        return _embed_rows(job, client, rows)
    options = dict(job.options)
    common = {"client": client, "concurrency": job.limits.per_worker, "progress": False, "cache": job.cache,
                  "error_column": job.error_column}
    if job.what == "run":
        done = rows.skytells.run(job.model, input_column=job.column, input_key=options.pop("input_key", None),
                                 timeout=options.pop("timeout", None), **common, **options)
    else:
        done = rows.skytells.chat(job.column, job.model, system=options.pop("system", None),
                                  output_column=job.output_column, **common, **options)
    return done[[c for c in job.columns if c in done.columns]]


def _spent_name(job: Job) -> str:
    return f"skytells-spent-{job.limits.name}"


def _estimate(job: Job, client: Any, rows: pd.DataFrame) -> float:
    """The partition's credits, estimated per request as the client's budget does."""
    from skytells_lab.notebook.ledger import estimate_credits

    pricing = client.models.get(job.model).pricing
    values = [_plain(v) for v in rows[job.column].tolist()]
    options = dict(job.options)
    if job.what == "embed":
        size = max(1, int(options.get("batch_size", 256)))
        payloads = [("embeddings", {"input": values[i:i + size]}) for i in range(0, len(values), size)]
    elif job.what == "chat":
        params = {k: v for k, v in options.items() if k != "system"}
        payloads = [("chat.completions", {"messages": [{"role": "user", "content": v}], **params})
                    for v in values]
    else:
        fixed = {k: v for k, v in options.items() if k not in ("input_key", "timeout")}
        key = options.get("input_key") or job.column
        payloads = [("predictions.create", {"input": {key: v, **fixed}}) for v in values]
    return float(sum(estimate_credits(pricing, kind=kind, payload=p) for kind, p in payloads))


class _Spending:
    """The job's credits across all workers, in a Dask Variable under a Dask Lock: what was spent, and what
    partitions now running reserved (so two workers starting at once cannot both take the last credits)."""

    def __init__(self, job: Job) -> None:
        from distributed import Lock, Variable

        self.lock = Lock(_spent_name(job))
        self.total = Variable(_spent_name(job))

    def _get(self) -> dict[str, float]:
        try:
            return dict(self.total.get(timeout=5))
        except TimeoutError:  # the driver did not start it
            return {"spent": 0.0, "reserved": 0.0}

    def reserve(self, job: Job, estimate: float, rows: int) -> float:
        """Reserve ``estimate``, or raise BudgetExceeded; returns the credits this partition may spend."""
        from skytells_lab.api.errors import BudgetExceeded

        with self.lock:
            now = self._get()
            committed = now["spent"] + now["reserved"]
            if committed + estimate > job.budget + 1e-12:
                raise BudgetExceeded(
                    f"job budget of {job.budget:g} credits: {now['spent']:.6g} spent by all workers and "
                    f"{now['reserved']:.6g} reserved by partitions running, this partition of {rows} rows is "
                    f"estimated at {estimate:.6g}; it was not sent. Compute the job again with a larger "
                    "budget= (finished partitions are not paid again).",
                    details={"limit": job.budget, "spent": now["spent"], "estimate": estimate,
                             "model": job.model})
            self.total.set({"spent": now["spent"], "reserved": now["reserved"] + estimate})
            return job.budget - committed

    def settle(self, estimate: float, credits: float) -> None:
        with self.lock:
            now = self._get()
            self.total.set({"spent": now["spent"] + credits, "reserved": max(0.0, now["reserved"] - estimate)})


def _spending(job: Job) -> _Spending | None:
    if job.budget is None:
        return None
    try:
        return _Spending(job)
    except (ImportError, ValueError):  # not under a distributed scheduler: the worker client's budget alone
        return None


def spent(job: Job) -> float:
    """Credits the job's partitions spent so far, all workers together (0 without a budget)."""
    spending = _spending(job)
    return spending._get()["spent"] if spending is not None else 0.0


def _result_frame(job: Job, pieces: list[pd.DataFrame], n: int) -> pd.DataFrame:
    """The pieces (indexed by row position) as the job's result columns, in row order, with their dtypes."""
    names = [c for c in job.columns if c not in (C.MODEL_COLUMN, C.HASH_COLUMN)]
    pieces = [p.reindex(columns=names) for p in pieces if len(p)]
    results = pd.concat(pieces).sort_index() if pieces else pd.DataFrame(columns=names)
    results = results.reindex(pd.RangeIndex(n))
    for name in names:
        dtype = job.columns[name]
        if dtype is not object and results[name].dtype != dtype:
            results[name] = results[name].astype(dtype)
    return results


def run_partition(part: pd.DataFrame, job: Job, partition_info: dict | None = None) -> pd.DataFrame:
    """One partition of the job: reuse its checkpointed rows, send the rest, write the partition back."""
    number = int((partition_info or {}).get("number", 0))
    values = [_plain(v) for v in part[job.column].tolist()]
    hashes = np.asarray(C.input_hashes(values, job.request()), dtype=object)
    pieces: list[pd.DataFrame] = []
    todo = np.ones(len(part), bool)
    previous = C.read_part(job.checkpoint, number) if job.checkpoint else None
    if previous is not None and len(previous):
        finished = previous[_done(job, previous)].drop_duplicates(C.HASH_COLUMN)
        found = pd.Index(finished[C.HASH_COLUMN].astype(str)).get_indexer(hashes)
        hit = found >= 0
        reused = finished.iloc[found[hit]].set_axis(np.flatnonzero(hit))
        pieces.append(reused[[c for c in job.columns if c in reused.columns]])
        todo = ~hit
    if todo.any():
        Gate.of(job.limits)  # made here, in the task's thread, where the worker (and its scheduler) is known
        client = job.config.build(transport=GatedTransport(job.limits))
        spending, reserved = _spending(job), 0.0
        try:
            if not job.cache:
                client.cache.disable()
            rows = part.loc[todo, [job.column]].set_axis(pd.RangeIndex(int(todo.sum())))
            if job.budget is not None:
                # checked before the partition is sent, against what every worker spent and reserved
                estimate = _estimate(job, client, rows)
                allowed = spending.reserve(job, estimate, len(rows)) if spending is not None else job.budget
                reserved = estimate
                client.budget(allowed)
            pieces.append(_call_rows(job, client, rows).set_axis(np.flatnonzero(todo)))
        finally:
            ledger = client.ledger.frame()
            client.close()
            if job.checkpoint:
                C.write_ledger(job.checkpoint, number, ledger.assign(partition=number))
            if spending is not None and reserved:
                spending.settle(reserved, float(ledger["credits_used"].sum()) if len(ledger) else 0.0)
    results = _result_frame(job, pieces, len(part))
    results[C.MODEL_COLUMN] = pd.array([job.model] * len(part), dtype="string")
    results[C.HASH_COLUMN] = pd.array(hashes.tolist(), dtype="string")
    out = pd.concat([part, results.set_axis(part.index)], axis=1)
    if job.checkpoint and (todo.any() or previous is None):
        C.write_part(job.checkpoint, number, out, (job.output_column,) if job.what == "embed" else ())
    return out


# --------------------------------------------------------------------------- on the driver


@dataclass
class JobSummary:
    """What a finished job did: rows, failed rows, requests and credits of this run, where it is kept."""

    job: Job
    rows: int
    failed: int
    partitions: int
    seconds: float
    requests: int
    credits: float

    def __repr__(self) -> str:
        where = f", in {self.job.checkpoint}" if self.job.checkpoint else ""
        return (f"JobSummary({self.job.what} {self.job.model}: {self.rows:,} rows, {self.failed} failed, "
                f"{self.partitions} partitions, {self.requests} requests, {self.credits:.4g} credits, "
                f"{self.seconds:.1f} s{where})")

    def _repr_html_(self) -> str:
        from skytells_lab._html import card, facts

        pairs = [("job", f"{self.job.what} {self.job.column!r}"), ("rows", f"{self.rows:,}"),
                 ("failed rows", self.failed), ("partitions", self.partitions), ("requests sent", self.requests),
                 ("credits", f"{self.credits:.4g}"), ("time", f"{self.seconds:.1f} s"),
                 ("checkpoint", self.job.checkpoint)]
        return card("Dask job", self.job.model, facts((k, v) for k, v in pairs if v is not None))


def _dask_client() -> Any:
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):
        return None


def _run_all(ddf: dd.DataFrame, job: Job | None, progress: bool | None) -> list[pd.DataFrame | int]:
    """Compute every partition of ``ddf`` with one bar fed by partition completions; results in order."""
    from tqdm.auto import tqdm

    if job is not None:
        job.limits.start()
        _reset_spent(job)
    parts = ddf.to_delayed()
    desc = f"{job.what} {job.model}" if job is not None else "partitions"
    bar = tqdm(total=len(parts), desc=desc, unit="partition", disable=progress is False)
    client = _dask_client()
    try:
        if client is None:
            out = []
            for part in parts:
                out.append(part.compute())
                bar.update()
            return out
        from distributed import as_completed

        futures = client.compute(parts)
        order = {f.key: i for i, f in enumerate(futures)}
        results: list[Any] = [None] * len(futures)
        for future, value in as_completed(futures, with_results=True):
            results[order[future.key]] = value
            bar.update()
        return results
    finally:
        bar.close()


def _reset_spent(job: Job) -> None:
    client = _dask_client() if job.budget is not None else None
    if client is not None:
        from distributed import Variable

        Variable(_spent_name(job), client=client).set({"spent": 0.0, "reserved": 0.0})


def compute(ddf: dd.DataFrame, *, progress: bool | None = None) -> pd.DataFrame:
    """``ddf.compute()`` with one progress bar for the whole job; an embed job's vectors come back attached
    the pandas way (``df.skytells.vectors(column)``)."""
    job = _JOBS.get(ddf._name)
    frames = [f for f in _run_all(ddf, job, progress) if len(f.columns)]
    df = pd.concat(frames) if frames else ddf._meta.copy()
    if job is not None and job.what == "embed" and job.output_column in df.columns:
        matrix = C.stack_vectors(df[job.output_column])
        df = df.drop(columns=[job.output_column])
        have = ~np.isnan(matrix).any(axis=1) if matrix.size else np.zeros(len(df), bool)
        V.attach_vectors(df, job.column, matrix, rows=np.where(have, np.arange(len(df)), -1), model=job.model)
        df.attrs["skytells"] = {"what": "embed", "model": job.model, "column": job.column,
                                "checkpoint": job.checkpoint, "rows": len(df)}
    return df


@dd.extensions.register_dataframe_accessor("skytells")
class DaskSkytellsAccessor:
    """Skytells calls over the partitions of a Dask DataFrame (``ddf.skytells``), mirroring ``df.skytells``.

    Every method returns a lazy Dask DataFrame: the frame's columns, the results, ``model`` and
    ``input_hash``. Their shared parameters:

    - ``client``: the client whose configuration the workers copy (base URL, timeout, retries; never its
      key); default ``skytells_lab.connect()``. Or pass ``config=ClientConfig(...)``.
    - ``checkpoint``: a folder every worker can reach; each finished partition is written there as
      Parquet, and computing the job again sends only the rows not finished before.
    - ``concurrency``: requests in flight per worker process; ``max_in_flight`` in the whole cluster.
    - ``budget``: credits the whole job may spend (all workers together), checked before each partition.
    """

    def __init__(self, ddf: dd.DataFrame) -> None:
        self._ddf = ddf

    def _job(self, what: str, column: str, model: str | None, *, client: Any, config: ClientConfig | None,
             checkpoint: Any, concurrency: int, max_in_flight: int | None, budget: float | None, cache: bool,
             output_column: str, error_column: str, options: dict[str, Any]) -> dd.DataFrame:
        if column not in self._ddf.columns:
            raise KeyError(f"column {column!r} is not in the frame; its columns: {list(self._ddf.columns)}")
        if budget is not None and (not isinstance(budget, (int, float)) or not np.isfinite(budget) or budget < 0):
            raise ValueError(f"budget must be a finite number of credits >= 0, got {budget!r}")
        if config is None:
            config = ClientConfig.from_client(client or default_client())
        if model is None:
            model = {"embed": (client or default_client()).default_embedding_model,
                     "chat": (client or default_client()).default_chat_model}[what]
        options = {k: _plain(v) for k, v in options.items() if v is not None}
        json.dumps(options)  # the options travel in the graph and in each row's hash: plain values only
        job = Job(what=what, column=column, model=model, config=config,
                  limits=Limits(uuid.uuid4().hex[:12], concurrency, max_in_flight), output_column=output_column,
                  error_column=error_column, options=tuple(sorted(options.items())),
                  checkpoint=None if checkpoint is None else str(checkpoint), budget=budget, cache=cache)
        clash = [c for c in job.columns if c in self._ddf.columns]
        if clash:
            raise ValueError(f"the frame already has the result column(s) {clash}; drop or rename them first")
        meta = pd.concat([self._ddf._meta, pd.DataFrame({c: pd.Series(dtype=d) for c, d in job.columns.items()})],
                         axis=1)
        job.limits.start()
        _reset_spent(job)
        out = self._ddf.map_partitions(run_partition, job, meta=meta, align_dataframes=False)
        _JOBS[out._name] = job
        return out

    def embed(self, column: str, model: str | None = None, *, client: Any = None, config: ClientConfig | None = None,
              checkpoint: Any = None, dimensions: int | None = None, batch_size: int = 256, concurrency: int = 4,
              max_in_flight: int | None = None, budget: float | None = None, output_column: str = "embedding",
              error_column: str = "embed_error") -> dd.DataFrame:
        """Embed ``ddf[column]``; vectors in ``output_column`` (list<float32>; fixed-size in the checkpoint)."""
        return self._job("embed", column, model, client=client, config=config, checkpoint=checkpoint,
                         concurrency=concurrency, max_in_flight=max_in_flight, budget=budget, cache=False,
                         output_column=output_column, error_column=error_column,
                         options={"dimensions": dimensions, "batch_size": batch_size})

    def run(self, model: str, input_column: str = "prompt", *, input_key: str | None = None, client: Any = None,
            config: ClientConfig | None = None, checkpoint: Any = None, concurrency: int = 4,
            max_in_flight: int | None = None, budget: float | None = None, timeout: float | None = None,
            cache: bool = False, error_column: str = "error", **fixed_inputs: Any) -> dd.DataFrame:
        """One prediction per row, as ``df.skytells.run`` (its columns), ``concurrency`` per worker."""
        return self._job("run", input_column, model, client=client, config=config, checkpoint=checkpoint,
                         concurrency=concurrency, max_in_flight=max_in_flight, budget=budget, cache=cache,
                         output_column="output", error_column=error_column,
                         options={"input_key": input_key, "timeout": timeout, **fixed_inputs})

    def chat(self, column: str, model: str | None = None, *, system: str | None = None, client: Any = None,
             config: ClientConfig | None = None, checkpoint: Any = None, concurrency: int = 4,
             max_in_flight: int | None = None, budget: float | None = None, cache: bool = False,
             output_column: str = "reply", error_column: str = "chat_error", **params: Any) -> dd.DataFrame:
        """One chat completion per row, as ``df.skytells.chat`` (its columns), ``concurrency`` per worker."""
        return self._job("chat", column, model, client=client, config=config, checkpoint=checkpoint,
                         concurrency=concurrency, max_in_flight=max_in_flight, budget=budget, cache=cache,
                         output_column=output_column, error_column=error_column,
                         options={"system": system, **params})

    # ------------------------------------------------------------------ running a job

    def compute(self, *, progress: bool | None = None) -> pd.DataFrame:
        """The whole result as one pandas frame, with a progress bar fed by partition completions."""
        return compute(self._ddf, progress=progress)

    def write(self, *, progress: bool | None = None) -> JobSummary:
        """Run every partition, keeping the results only in the checkpoint (nothing gathered here)."""
        job = _JOBS.get(self._ddf._name)
        if job is None or not job.checkpoint:
            raise ValueError("write() is for a job made by ddf.skytells.embed/run/chat(..., checkpoint=folder)")
        started = time.time()
        error = job.error_column
        counts = self._ddf.map_partitions(
            lambda p: pd.DataFrame({"rows": [len(p)], "failed": [int(p[error].notna().sum())]}),
            meta={"rows": "int64", "failed": "int64"})
        parts = _run_all(counts, job, progress)
        ledger = C.job_ledger(job.checkpoint)
        ledger = ledger[pd.to_datetime(ledger["time"], utc=True) >= pd.Timestamp(started, unit="s", tz="UTC")]
        return JobSummary(job, rows=int(sum(int(p["rows"].sum()) for p in parts)),
                          failed=int(sum(int(p["failed"].sum()) for p in parts)), partitions=len(parts),
                          seconds=time.time() - started, requests=len(ledger),
                          credits=float(pd.to_numeric(ledger["credits_used"]).sum()))

    def spent(self) -> float:
        """Credits this job's partitions spent so far in its latest run, all workers together (needs budget=)."""
        job = _JOBS.get(self._ddf._name)
        if job is None:
            raise ValueError("spent() is for a job made by ddf.skytells.embed/run/chat(...)")
        return spent(job)

    def ledger(self) -> pd.DataFrame:
        """Every call of the job, all workers and attempts (needs ``checkpoint=``): one row per call."""
        job = _JOBS.get(self._ddf._name)
        if job is None or not job.checkpoint:
            raise ValueError("the job's ledger is kept in its checkpoint: make the job with checkpoint=folder")
        return C.job_ledger(job.checkpoint)
