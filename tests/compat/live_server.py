"""A real modelyard server for the compatibility tests: uvicorn with 2 workers in a subprocess."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from live_app import clean_env, free_port, server_process


@contextmanager
def modelyard_server(root: Path, **settings: str) -> Iterator[str]:
    """URL of a server over ``root/compat.db`` run from ``root``; ``settings`` are ``MODELYARD_*``
    variables by setting name (``artifacts_destination=...``). Its log must hold no traceback."""
    port = free_port()
    env = clean_env(MODELYARD_BACKEND_STORE_URI=f"sqlite:///{root / 'compat.db'}")
    env.update({f"MODELYARD_{name.upper()}": value for name, value in settings.items()})
    argv = [
        sys.executable, "-m", "uvicorn", "--factory", "modelyard.server.app:create_app_from_env",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--log-level", "warning",
    ]  # fmt: skip
    with server_process(argv, port, env, root) as url:
        yield url
