"""A bounded, self-stopping load generator: pollers GET predictions while creators POST new ones.

``run_load(url, pollers=200, creators=50, seconds=30)`` returns counts and GET latencies. Only 127.0.0.1
URLs are accepted. A 429 is the server's own choice (its rate limit or its full prediction queue): it is
counted apart, checked for a ``Retry-After`` and the error envelope, and honoured by the task that got it;
anything else that is not a 2xx, and every transport error, is an error.

Each task holds one keep-alive HTTP/1.1 connection on raw asyncio streams, as that many separate clients
would. The generator shares the machine's cores with the server it measures, so it is kept lean: a
general-purpose client (httpx) spent more CPU per request than the server here, and its figures were the
client's, not the server's.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

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


class Connection:
    """One keep-alive HTTP/1.1 connection to ``host:port``; reopened after the server closes it."""

    def __init__(self, host: str, port: int, timeout: float):
        self.host, self.port, self.timeout = host, port, timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, payload: dict | None = None) -> tuple[int, dict, bytes]:
        """(status, lower-cased headers, body); raises OSError, asyncio.TimeoutError or ValueError."""
        try:
            return await asyncio.wait_for(self._exchange(method, path, payload), self.timeout)
        except BaseException:
            self.close()  # a half-read response leaves the connection unusable
            raise

    async def _exchange(self, method, path, payload):
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        body = b"" if payload is None else json.dumps(payload).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        if payload is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self._writer.write(head.encode() + b"\r\n" + body)
        status_line = await self._reader.readline()
        if not status_line:
            raise ConnectionResetError("the server closed the connection before answering")
        status = int(status_line.split()[1])
        headers = {}
        while (line := await self._reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            data = await self._reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while size := int((await self._reader.readline()).split(b";")[0], 16):
                chunks.append(await self._reader.readexactly(size))
                await self._reader.readline()
            await self._reader.readline()
            data = b"".join(chunks)
        else:
            data = await self._reader.read()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, data

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


def _check_429(headers: dict, data: bytes) -> float | None:
    """The Retry-After of a well-formed 429, else None (an error)."""
    try:
        body = json.loads(data)
        retry = float(headers["retry-after"])
    except (ValueError, KeyError):
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or error.get("error_id") != "RATE_LIMIT_EXCEEDED" or body.get("status") is not False:
        return None
    return retry


async def _load(url: str, pollers: int, creators: int, seconds: float, model: str, input: dict,
                seed_predictions: int, timeout: float) -> LoadResult:
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"load is only sent to loopback addresses, not {parts.hostname!r}")
    prefix = parts.path.rstrip("/")
    result = LoadResult()
    ids: list[str] = []
    rng = random.Random(0)
    connections: list[Connection] = []

    def connection() -> Connection:
        conn = Connection(parts.hostname, parts.port, timeout)
        connections.append(conn)
        return conn

    def refusal(what: str, status: int, headers: dict, data: bytes) -> float:
        """The pause a refusal asks for: a well-formed 429's Retry-After; anything else is an error."""
        if status == 429:
            retry = _check_429(headers, data)
            if retry is not None:
                result.rate_limited += 1
                return retry
        result.errors.append(f"{what}: HTTP {status} {data[:200]!r}")
        return 0.1

    async def create(conn: Connection, record: bool) -> float:
        """POST one prediction; the pause to take before the next request (a 429's Retry-After)."""
        payload = {"model": model, "input": {"prompt": str(rng.randrange(10)), **input}}
        started = time.perf_counter()
        try:
            status, headers, data = await conn.request("POST", prefix + "/predictions", payload)
        except (OSError, asyncio.TimeoutError, ValueError) as exc:
            result.errors.append(f"POST /predictions: {type(exc).__name__}: {exc}")
            return 0.1
        elapsed = time.perf_counter() - started
        if status == 201:
            ids.append(json.loads(data)["id"])
            if record:
                result.creates += 1
                result.create_latencies.append(elapsed)
            return 0.0
        return refusal("POST /predictions", status, headers, data)

    seeder = connection()
    while len(ids) < seed_predictions:  # something to poll from the first moment
        await asyncio.sleep(await create(seeder, record=False))
    deadline = time.perf_counter() + seconds

    def until_deadline(pause: float) -> float:
        return max(0.0, min(pause, deadline - time.perf_counter()))

    async def poller() -> None:
        conn = connection()
        while time.perf_counter() < deadline:
            pid = rng.choice(ids)
            started = time.perf_counter()
            try:
                status, headers, data = await conn.request("GET", f"{prefix}/predictions/{pid}")
            except (OSError, asyncio.TimeoutError, ValueError) as exc:
                result.errors.append(f"GET /predictions/{{id}}: {type(exc).__name__}: {exc}")
                await asyncio.sleep(until_deadline(0.1))
                continue
            if status == 200:
                result.gets += 1
                result.get_latencies.append(time.perf_counter() - started)
            else:
                await asyncio.sleep(until_deadline(refusal("GET /predictions/{id}", status, headers, data)))

    async def creator() -> None:
        conn = connection()
        while time.perf_counter() < deadline:
            await asyncio.sleep(until_deadline(await create(conn, record=True)))

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
    for conn in connections:
        conn.close()
    return result


def run_load(url: str, *, pollers: int = 200, creators: int = 50, seconds: float = 30.0,
             model: str = "digits-diffusion", input: dict | None = None, seed_predictions: int = 20,
             timeout: float = 30.0) -> LoadResult:
    """Run the load against ``url`` (``http://127.0.0.1:PORT/v1``) for ``seconds``; return what happened."""
    return asyncio.run(_load(url, pollers, creators, seconds, model, dict(FAST_DIGITS if input is None else input),
                             seed_predictions, timeout))
