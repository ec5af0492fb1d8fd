"""One helper for the tests that need an ASGI app behind a real uvicorn on 127.0.0.1, in a thread.

Every suite imports it by name (``from live_app import serve_in_thread``): ``tests/`` is on the path
through its ``conftest.py``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_in_thread(
    app: Any, *, port: int | None = None, lifespan: str = "auto", name: str = "uvicorn-test"
) -> Iterator[str]:
    """``app`` under uvicorn on 127.0.0.1 (a free port unless given); yields its URL and stops the
    server (and its lifespan) on exit."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port if port is not None else free_port(),
        log_level="warning",
        lifespan=lifespan,  # type: ignore[arg-type]
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
