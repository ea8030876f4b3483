"""HTTP load for `cli.py bench`: keep-alive connections on raw asyncio sockets.

It runs in a process of its own (`run` is what the bench hands to that process), so it does
not share the server's interpreter lock, and it imports nothing but the standard library.

- Closed loop: `connections` clients each send the next request as soon as the previous answer
  has arrived, for `seconds` after `warmup` (answers before then are not counted).
- Paced (open loop): requests are due at `rate` per second whatever the answers, each sent on
  an idle connection or a new one; a request's latency counts from when it was due, so a
  server that falls behind is not hidden by a client waiting for it.
- Counted (`requests`): each of the first `requests` bodies sent once, no warm-up (seeding).

Bodies are the lead payloads given, made distinct per request by `distinct` (the email and
the event id carry the request's number), or, with `cycle`, the first `cycle` of them over
and over (every answer after the first of each is a duplicate).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ANSWER_TIMEOUT_S = 30.0


def distinct(payload: dict[str, Any], key: str) -> dict[str, Any]:
    """`payload` as another person's lead: `key` in the email's local part and the event id."""
    local, _, domain = str(payload["email"]).partition("@")
    return {**payload, "email": f"{local}.{key}@{domain}", "event_id": f"evt-{key}"}


@dataclass(frozen=True)
class Load:
    """What to send and how; `rate` makes it paced, `requests` makes it counted."""

    port: int
    payloads: list[dict[str, Any]]
    tag: str
    cycle: int | None = None
    connections: int = 32
    seconds: float = 3.0
    warmup: float = 0.5
    rate: float | None = None
    requests: int | None = None
    path: str = "/webhooks/lead"


@dataclass(frozen=True)
class Result:
    """The answers counted: how many, in how long, their statuses and latencies."""

    requests: int
    seconds: float
    statuses: dict[int, int]
    failures: int
    latencies_ms: list[float] = field(repr=False)

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        """Nearest-rank percentile of the latencies (0 when none were counted)."""
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def run(load: Load) -> Result:
    """Send `load` and return what was counted."""
    return asyncio.run(_paced(load) if load.rate else _closed(load))


def _bodies(load: Load) -> Callable[[int], bytes]:
    head = (
        f"POST {load.path} HTTP/1.1\r\nHost: 127.0.0.1:{load.port}\r\n"
        "Content-Type: application/json\r\nContent-Length: "
    ).encode()

    def request(i: int) -> bytes:
        n = i % load.cycle if load.cycle else i
        payload = distinct(load.payloads[n % len(load.payloads)], f"{load.tag}{n}")
        body = json.dumps(payload).encode()
        return head + str(len(body)).encode() + b"\r\n\r\n" + body

    if load.cycle:  # the same few bodies over and over: build them once
        built = [request(i) for i in range(load.cycle)]
        return lambda i: built[i % len(built)]
    return request


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _connect(port: int) -> Connection:
    return await asyncio.open_connection("127.0.0.1", port)


async def _exchange(conn: Connection, data: bytes) -> tuple[int, bool]:
    """Send one request and read its answer: (status, whether the connection stays open)."""
    reader, writer = conn
    writer.write(data)
    async with asyncio.timeout(ANSWER_TIMEOUT_S):
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        start = lower.find(b"\r\ncontent-length:")
        if start < 0:
            raise ValueError("answer without Content-Length")
        end = lower.index(b"\r\n", start + 2)
        await reader.readexactly(int(lower[start + 17 : end]))
    return status, b"\r\nconnection: close" not in lower


def _close(conn: Connection) -> None:
    conn[1].close()


class _Tally:
    """Answers in the counting window."""

    def __init__(self, count_from: float, count_until: float) -> None:
        self.count_from, self.count_until = count_from, count_until
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.failures = 0

    def answer(self, began: float, status: int) -> None:
        done = time.perf_counter()
        if began >= self.count_from and done <= self.count_until:
            self.latencies.append((done - began) * 1000)
            self.statuses[status] += 1

    def failed(self, began: float) -> None:
        if began >= self.count_from:
            self.failures += 1

    def result(self, seconds: float) -> Result:
        return Result(
            len(self.latencies), seconds, dict(self.statuses), self.failures, self.latencies
        )


async def _closed(load: Load) -> Result:
    request = _bodies(load)
    counter = itertools.count()
    started = time.perf_counter()
    counted = load.requests is not None
    warmup = 0.0 if counted else load.warmup
    until = math.inf if counted else started + warmup + load.seconds
    tally = _Tally(started + warmup, until)

    async def client() -> None:
        conn: Connection | None = None
        while time.perf_counter() < until:
            i = next(counter)
            if load.requests is not None and i >= load.requests:
                break
            began = time.perf_counter()
            try:
                conn = conn or await _connect(load.port)
                status, keep = await _exchange(conn, request(i))
            except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError):
                tally.failed(began)
                keep = False
            else:
                tally.answer(began, status)
            if not keep and conn is not None:
                _close(conn)
                conn = None
        if conn is not None:
            _close(conn)

    await asyncio.gather(*(client() for _ in range(load.connections)))
    elapsed = time.perf_counter() - started
    return tally.result(elapsed if counted else load.seconds)


async def _paced(load: Load) -> Result:
    assert load.rate
    request = _bodies(load)
    idle: list[Connection] = []
    started = time.perf_counter()
    tally = _Tally(started + load.warmup, math.inf)

    async def send(i: int, due: float) -> None:
        conn = idle.pop() if idle else None
        try:
            conn = conn or await _connect(load.port)
            status, keep = await _exchange(conn, request(i))
        except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError):
            tally.failed(due)
            if conn is not None:
                _close(conn)
            return
        tally.answer(due, status)
        if keep:
            idle.append(conn)
        else:
            _close(conn)

    total = round(load.rate * (load.warmup + load.seconds))
    sending: set[asyncio.Task[None]] = set()
    for i in range(total):
        due = started + i / load.rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        task = asyncio.create_task(send(i, due))
        sending.add(task)
        task.add_done_callback(sending.discard)
    await asyncio.gather(*sending)
    for conn in idle:
        with contextlib.suppress(OSError):
            _close(conn)
    return tally.result(load.seconds)
