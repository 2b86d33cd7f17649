"""The prediction worker: a queue and threads driving pending -> starting -> processing -> terminal."""

from __future__ import annotations

import asyncio
import logging
import math
import mimetypes
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from skytells_lab.local.catalog import credits_for
from skytells_lab.local.store import Store

log = logging.getLogger("skytells_lab.local")
_PROGRESS_EVERY_S = 0.2


class TerminalSignals:
    """Wakes the coroutines that hold an `await: true` request when their prediction ends."""

    def __init__(self):
        self._lock = threading.Lock()
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = defaultdict(list)

    async def wait(self, prediction_id: str, timeout: float, is_done: Callable[[], bool]) -> None:
        loop, event = asyncio.get_running_loop(), asyncio.Event()
        with self._lock:
            self._waiters[prediction_id].append((loop, event))
        try:
            if not is_done():
                await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                waiters = self._waiters.get(prediction_id, [])
                if (loop, event) in waiters:
                    waiters.remove((loop, event))
                if not waiters:
                    self._waiters.pop(prediction_id, None)

    def notify(self, prediction_id: str) -> None:
        with self._lock:
            waiters = list(self._waiters.get(prediction_id, []))
        for loop, event in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)


@dataclass
class Job:
    prediction_id: str
    runner: object
    entry: dict
    input: dict
    cancel: threading.Event = field(default_factory=threading.Event)
    seconds: float | None = None  # how long it ran, once it did


class PredictionWorker:
    """Runs queued predictions on `threads` threads; reports transitions through `on_transition(event, id)`."""

    def __init__(self, store: Store, device: str, on_transition: Callable[[str, str], None], threads: int = 1):
        self.store = store
        self.device = device
        self._on_transition = on_transition
        self._threads_n = max(1, int(threads))
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._jobs: dict[str, Job] = {}
        self._unfinished: set[str] = set()  # submitted, neither finished nor cancelled
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._recent_seconds = 0.0  # moving average of a prediction's run time, for Retry-After
        self._busy_s = 0.0  # seconds the threads spent on finished jobs (loads included), for /metrics
        self._running_since: dict[str, float] = {}

    def start(self) -> None:
        for i in range(self._threads_n):
            thread = threading.Thread(target=self._loop, name=f"skytells-lab-worker-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel what runs, drop what waits, and join the threads."""
        with self._lock:
            for job in self._jobs.values():
                job.cancel.set()
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    def submit(self, prediction_id: str, runner, entry: dict, values: dict) -> None:
        job = Job(prediction_id, runner, entry, values)
        with self._lock:
            self._jobs[prediction_id] = job
            self._unfinished.add(prediction_id)
        self._queue.put(job)

    def waiting(self) -> int:
        """Predictions submitted and not yet finished (queued or running), cancelled ones left out."""
        return len(self._unfinished)

    def running(self) -> int:
        """Predictions a worker thread is on right now (loading the model or running it)."""
        return len(self._running_since)

    def busy_seconds(self) -> float:
        """Seconds the worker threads have spent on predictions so far, the running ones included."""
        now = time.monotonic()
        with self._lock:
            return self._busy_s + sum(now - t for t in self._running_since.values())

    def retry_after(self, excess: int = 1) -> int:
        """Seconds until `excess` queue places free up at the recent pace (1 at least, 60 at most)."""
        seconds = self._recent_seconds * excess / self._threads_n
        return min(60, max(1, math.ceil(seconds)))

    def cancel(self, prediction_id: str) -> None:
        with self._lock:
            job = self._jobs.get(prediction_id)
            self._unfinished.discard(prediction_id)
        if job:
            job.cancel.set()

    def _loop(self) -> None:
        while (job := self._queue.get()) is not None:
            with self._lock:
                self._running_since[job.prediction_id] = time.monotonic()
            try:
                if not job.cancel.is_set():
                    self._run(job)
            except Exception:  # the worker thread must survive anything a runner does
                log.exception("prediction %s crashed the worker step", job.prediction_id)
            finally:
                with self._lock:
                    self._busy_s += time.monotonic() - self._running_since.pop(job.prediction_id)
                    self._jobs.pop(job.prediction_id, None)
                    self._unfinished.discard(job.prediction_id)
                    if job.seconds is not None:
                        self._recent_seconds = 0.8 * self._recent_seconds + 0.2 * job.seconds

    def _run(self, job: Job) -> None:
        pid, store = job.prediction_id, self.store
        if not store.update(pid, only_active=True, status="starting", started=time.time()):
            return
        from skytells_lab.local.runners.base import Cancelled, RunContext

        t0 = None
        started = time.monotonic()
        try:
            job.runner.load()
            if job.cancel.is_set():
                return
            if not store.update(pid, only_active=True, status="processing", progress=0.0):
                return
            self._on_transition("prediction.started", pid)
            t0 = time.monotonic()
            outputs = job.runner.predict(job.input, RunContext(self.device, self._progress_sink(pid), job.cancel))
            predict_time = time.monotonic() - t0
            job.seconds = time.monotonic() - started
            self._succeed(job, outputs, predict_time)
        except Cancelled:
            store.update(pid, predict_time=_elapsed(t0))  # status is already cancelled by the cancel call
        except Exception as exc:  # noqa: BLE001 - any runner failure fails the prediction, not the worker
            log.warning("prediction %s failed: %s", pid, exc)
            message = str(exc) or type(exc).__name__
            if store.update(pid, only_active=True, status="failed", error=message, completed=time.time(),
                            predict_time=_elapsed(t0)):
                self._on_transition("prediction.failed", pid)

    def _succeed(self, job: Job, outputs: list, predict_time: float) -> None:
        pid, store = job.prediction_id, self.store
        folder = store.outputs_dir(pid)
        folder.mkdir(parents=True, exist_ok=True)
        files = []
        for i, out in enumerate(outputs):
            ext = mimetypes.guess_extension(out.mime) or ".bin"
            name = _safe_name(getattr(out, "filename", "") or f"out-{i}{ext}")
            (folder / name).write_bytes(out.data)
            files.append({"name": name, "type": out.mime, "size": len(out.data)})
        metrics = dict(job.runner.metrics(job.input)) if hasattr(job.runner, "metrics") else {}
        metrics.setdefault("asset_count", len(files))
        if job.entry.get("type") == "image":
            metrics.setdefault("image_count", len(files))
        credits = credits_for(job.entry.get("pricing"), assets=len(files), predict_time=predict_time)
        if store.update(pid, only_active=True, status="succeeded", output=[f["name"] for f in files],
                        files=files, metrics=metrics, predict_time=predict_time, progress=100.0,
                        credits=credits, completed=time.time()):
            store.charge("prediction", pid, credits)
            self._on_transition("prediction.succeeded", pid)
        else:  # cancelled while the runner finished its last step
            for f in files:
                (folder / f["name"]).unlink(missing_ok=True)

    def _progress_sink(self, pid: str) -> Callable[[float], None]:
        last = [0.0]

        def sink(fraction: float) -> None:
            now = time.monotonic()
            if fraction >= 1.0 or now - last[0] >= _PROGRESS_EVERY_S:
                last[0] = now
                self.store.update(pid, only_active=True, progress=round(fraction * 100, 2))

        return sink


def _elapsed(t0: float | None) -> float | None:
    return None if t0 is None else time.monotonic() - t0


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).lstrip(".")
    return cleaned or "output.bin"
