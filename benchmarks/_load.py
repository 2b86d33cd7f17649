"""A bounded, self-stopping load generator: pollers GET predictions while creators POST new ones.

``run_load(url, pollers=200, creators=50, seconds=30)`` returns counts and GET latencies. Only 127.0.0.1
URLs are accepted. A 429 is the server's own choice (its rate limit): it is counted apart, checked for a
``Retry-After`` and the error envelope, and honoured by the task that got it; anything else that is not a
2xx, and every transport error, is an error.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

FAST_DIGITS = {"num_inference_steps": 2, "width": 16, "height": 16}


@dataclass
class LoadResult:
    seconds: float = 0.0
    gets: int = 0
    creates: int = 0
    rate_limited: int = 0
    errors: list[str] = field(default_factory=list)
    get_latencies: list[float] = field(default_factory=list)
    create_latencies: list[float] = field(default_factory=list)

    def percentile(self, q: float, which: str = "get") -> float:
        values = sorted(self.get_latencies if which == "get" else self.create_latencies)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(q / 100 * len(values)))]

    def summary(self) -> dict:
        return {"seconds": round(self.seconds, 2), "gets": self.gets, "creates": self.creates,
                "rate_limited_429": self.rate_limited, "errors": len(self.errors),
                "first_errors": self.errors[:5], "get_p50_ms": round(self.percentile(50) * 1000, 2),
                "get_p99_ms": round(self.percentile(99) * 1000, 2),
                "create_p50_ms": round(self.percentile(50, "create") * 1000, 2),
                "gets_per_s": round(self.gets / self.seconds, 1) if self.seconds else 0.0}


def _check_429(response: httpx.Response) -> float | None:
    """The Retry-After of a well-formed 429, else None (an error)."""
    try:
        body = response.json()
        retry = float(response.headers["retry-after"])
    except (ValueError, KeyError):
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or error.get("error_id") != "RATE_LIMIT_EXCEEDED" or body.get("status") is not False:
        return None
    return retry


async def _load(url: str, pollers: int, creators: int, seconds: float, model: str, input: dict,
                seed_predictions: int, timeout: float) -> LoadResult:
    host = urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"load is only sent to loopback addresses, not {host!r}")
    result = LoadResult()
    ids: list[str] = []
    rng = random.Random(0)
    limits = httpx.Limits(max_connections=pollers + creators + 4, max_keepalive_connections=pollers + creators + 4)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as http:

        async def create(record: bool) -> float:
            """POST one prediction; the pause to take before the next request (a 429's Retry-After)."""
            body = {"model": model, "input": {"prompt": str(rng.randrange(10)), **input}}
            started = time.perf_counter()
            try:
                response = await http.post("/predictions", json=body)
            except httpx.HTTPError as exc:
                result.errors.append(f"POST /predictions: {type(exc).__name__}: {exc}")
                return 0.1
            elapsed = time.perf_counter() - started
            if response.status_code == 201:
                ids.append(response.json()["id"])
                if record:
                    result.creates += 1
                    result.create_latencies.append(elapsed)
                return 0.0
            return _refusal("POST /predictions", response)

        def _refusal(what: str, response: httpx.Response) -> float:
            if response.status_code == 429:
                retry = _check_429(response)
                if retry is not None:
                    result.rate_limited += 1
                    return retry
            result.errors.append(f"{what}: HTTP {response.status_code} {response.text[:200]}")
            return 0.1

        while len(ids) < seed_predictions:  # something to poll from the first moment
            pause = await create(record=False)
            await asyncio.sleep(pause)
        deadline = time.perf_counter() + seconds

        async def poller() -> None:
            while time.perf_counter() < deadline:
                pid = rng.choice(ids)
                started = time.perf_counter()
                try:
                    response = await http.get(f"/predictions/{pid}")
                except httpx.HTTPError as exc:
                    result.errors.append(f"GET /predictions/{{id}}: {type(exc).__name__}: {exc}")
                    await asyncio.sleep(0.1)
                    continue
                if response.status_code == 200:
                    result.gets += 1
                    result.get_latencies.append(time.perf_counter() - started)
                else:
                    await asyncio.sleep(min(_refusal("GET /predictions/{id}", response), deadline - time.perf_counter()))

        async def creator() -> None:
            while time.perf_counter() < deadline:
                pause = await create(record=True)
                await asyncio.sleep(max(0.0, min(pause, deadline - time.perf_counter())))

        started = time.perf_counter()
        tasks = [asyncio.create_task(poller()) for _ in range(pollers)]
        tasks += [asyncio.create_task(creator()) for _ in range(creators)]
        done, pending = await asyncio.wait(tasks, timeout=seconds + timeout + 5)
        for task in pending:  # bounded: nothing outlives its deadline by more than one request timeout
            task.cancel()
            result.errors.append("a load task overran its deadline")
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            if task.exception() is not None:
                result.errors.append(f"load task crashed: {task.exception()!r}")
        result.seconds = time.perf_counter() - started
    return result


def run_load(url: str, *, pollers: int = 200, creators: int = 50, seconds: float = 30.0,
             model: str = "digits-diffusion", input: dict | None = None, seed_predictions: int = 20,
             timeout: float = 30.0) -> LoadResult:
    """Run the load against ``url`` (``http://127.0.0.1:PORT/v1``) for ``seconds``; return what happened."""
    return asyncio.run(_load(url, pollers, creators, seconds, model, dict(FAST_DIGITS if input is None else input),
                             seed_predictions, timeout))
