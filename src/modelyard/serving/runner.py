"""Run the scoring app with uvicorn: in this process, or in N pre-forked workers.

This reuses the supervisor of ``modelyard server`` (:class:`modelyard.server.workers.Supervisor`,
its listening socket and its worker server class) unchanged; what differs is when a worker counts
as started. A scoring worker says "ready" only once its model serves, so a model that cannot load
is a start failure and the parent gives up instead of restarting workers that can never serve.

* One worker: uvicorn serves at once and the model loads in a thread meanwhile (``/ping`` is 503
  until it is loaded); if it cannot load, the server stops with a non-zero status.
* Several workers: the parent loads the model once (a bad model fails the command before any
  fork), then forks the workers, which start with the model already in memory (shared
  copy-on-write) and serve within milliseconds.

Start-up is mostly imports (pandas, scikit-learn, ...), which allocate much and free little, so
the command turns the garbage collector off while it starts (``resume_gc=True`` here). It is
turned back on once the model serves (or failed), after :func:`gc.freeze` has moved everything
loaded so far out of its reach: the collector then never walks the libraries and the model again,
which also keeps them shared with forked workers. That saves about 0.15 s of a 1.2 s start.
"""

from __future__ import annotations

import gc
import os
import socket
from typing import Any

import uvicorn

from modelyard.serving.app import create_scoring_app
from modelyard.serving.source import LoadedModel, ModelSource


def uvicorn_config(app: Any, log_level: str, graceful_timeout_s: float) -> uvicorn.Config:
    """uvicorn set for small, frequent requests: httptools, uvloop, no access log."""
    return uvicorn.Config(
        app,
        log_level=log_level,
        http="httptools",
        loop="uvloop",
        ws="none",
        lifespan="on",
        access_log=False,
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=int(graceful_timeout_s),
    )


def serve(
    source: ModelSource,
    sock: socket.socket,
    *,
    workers: int,
    model: LoadedModel | None = None,
    log_level: str = "info",
    graceful_timeout_s: float = 10.0,
    resume_gc: bool = False,
    **app_options: Any,
) -> int:
    """Serve ``source`` over ``sock``; returns the exit status (0 after a requested stop).

    ``resume_gc``: the caller turned the garbage collector off for the start-up; turn it back on
    (after :func:`gc.freeze`) once the model serves.
    """
    from modelyard.server import workers as pre_fork

    if workers <= 1:
        return _serve_once(
            source, sock, model, log_level, graceful_timeout_s, resume_gc, app_options
        )

    def target(ready: Any) -> None:
        failed: list[str] = []
        server: list[Any] = []

        def on_fatal(message: str) -> None:
            failed.append(message)
            if server:
                server[0].should_exit = True

        app = create_scoring_app(
            source, model=model, on_ready=ready, on_fatal=on_fatal, **app_options
        )
        config = uvicorn_config(app, log_level, graceful_timeout_s)
        worker = pre_fork._WorkerServer(config, None, parent_pid=os.getppid())
        server.append(worker)
        worker.run(sockets=[sock])
        if failed:
            raise pre_fork.WorkerStartError(failed[0])

    supervisor = pre_fork.Supervisor(
        target, workers, stop_timeout_s=graceful_timeout_s + pre_fork.KILL_GRACE_S
    )
    gc.freeze()  # the loaded model and libraries stay shared with the workers
    if resume_gc:
        gc.enable()  # in the parent, and so in every worker forked from it
    try:
        return supervisor.run()
    finally:
        sock.close()


def _serve_once(
    source: ModelSource,
    sock: socket.socket,
    model: LoadedModel | None,
    log_level: str,
    graceful_timeout_s: float,
    resume_gc: bool,
    app_options: dict[str, Any],
) -> int:
    from modelyard.server import workers as pre_fork

    failed: list[str] = []
    server: list[Any] = []

    def on_ready() -> None:
        if resume_gc:
            _resume_gc()

    def on_fatal(message: str) -> None:
        failed.append(message)
        if resume_gc:
            _resume_gc()
        if server:
            server[0].should_exit = True

    app = create_scoring_app(
        source, model=model, on_ready=on_ready, on_fatal=on_fatal, **app_options
    )
    config = uvicorn_config(app, log_level, graceful_timeout_s)
    instance = pre_fork._WorkerServer(config, None, parent_pid=None)
    server.append(instance)
    try:
        instance.run(sockets=[sock])
    finally:
        sock.close()
    return 1 if failed or not instance.started else 0


def _resume_gc() -> None:
    """The collector back on, with what start-up loaded frozen out of its reach."""
    gc.freeze()
    gc.enable()


__all__ = ["serve", "uvicorn_config"]
