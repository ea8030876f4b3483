"""Local HTTP servers that speak the SaaS APIs the adapters use, errors included (DESIGN §4).

`serving(app)` runs any ASGI app under uvicorn on 127.0.0.1, on a port the OS picks, in a
daemon thread, and yields its base URL; the server stops when the block exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn


@contextlib.contextmanager
def serving(app: Any, *, graceful_shutdown_s: int = 2) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 in a thread; yield `http://127.0.0.1:<port>`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=graceful_shutdown_s,
        )
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        if not server.started:
            raise RuntimeError("the local server did not start")
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
