"""Readiness: the models a server loads as it starts, and where each model stands.

A model is ``ready`` once its weights are loaded, ``loading`` while the server loads it (at start, or for the
first request that needs it; also while it waits behind another model's load), ``failed`` when its load at
start raised (a later request tries again), and ``cold`` when it is left to load on its first request and
none came yet (the default: ``cold_boot`` in its catalog entry says so). The server is ready
when no model it loads at start is still loading or failed: with nothing preloaded it is ready at once.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("skytells_lab.local")


def preload_slugs(preload, slugs: list[str]) -> list[str]:
    """The slugs `[server] preload` names: true (every model), false / [] (none), or a list of slugs."""
    if preload is True:
        return list(slugs)
    if preload is False or preload is None:
        return []
    if not isinstance(preload, (list, tuple)) or not all(isinstance(s, str) for s in preload):
        raise ValueError(f"[server] preload must be true, false or a list of model slugs, not {preload!r}")
    unknown = [s for s in preload if s not in slugs]
    if unknown:
        raise ValueError(f"[server] preload names {unknown}, which this server does not serve; known: {slugs}")
    return list(dict.fromkeys(preload))


class Readiness:
    """Loads the preloaded models in a background thread (one at a time, in order) and reports states."""

    def __init__(self, runners: dict, preload: list[str]):
        self._runners = runners
        self.preload = list(preload)
        self._failed: dict[str, str] = {}
        self._loading: set[str] = set(self.preload)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.started_at: float | None = None
        self.ready_at: float | None = None

    def start(self) -> None:
        self.started_at = time.time()
        if not self.preload:
            self.ready_at = self.started_at
            return
        self._thread = threading.Thread(target=self._load_all, name="skytells-lab-preload", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the preload thread (a daemon thread inside torch at interpreter exit aborts the process)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _load_all(self) -> None:
        for slug in self.preload:
            try:
                self._runners[slug].load()
            except Exception as exc:  # noqa: BLE001 - a model that fails to load leaves the others loading
                log.warning("preloading %s failed: %s", slug, exc)
                with self._lock:
                    self._failed[slug] = f"{type(exc).__name__}: {exc}"
            finally:
                with self._lock:
                    self._loading.discard(slug)
        if not self._failed:
            self.ready_at = time.time()

    def states(self) -> dict[str, str]:
        """Every model's state: ready, loading, failed or cold."""
        with self._lock:
            loading, failed = set(self._loading), dict(self._failed)
        out = {}
        for slug, runner in self._runners.items():
            if runner.loaded:
                out[slug] = "ready"
            elif slug in loading or runner.loading:
                out[slug] = "loading"
            elif slug in failed:
                out[slug] = "failed"
            else:
                out[slug] = "cold"
        return out

    def errors(self) -> dict[str, str]:
        """Why each failed preload failed (models a later request loaded since are left out)."""
        with self._lock:
            failed = dict(self._failed)
        return {slug: why for slug, why in failed.items() if not self._runners[slug].loaded}

    @property
    def ready(self) -> bool:
        states = self.states()
        return all(states[slug] == "ready" for slug in self.preload)
