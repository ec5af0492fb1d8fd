"""Pre-fork serving: one listening socket, N forked uvicorn workers and a supervising parent.

``modelyard server`` resolves its settings, migrates the database, imports the app modules and binds
the socket once, in the parent; :func:`serve` then forks the workers, so none of them imports FastAPI,
SQLAlchemy or uvicorn again. Each worker builds its own app with :func:`create_app` (and with it its
own engine: no connection or engine crosses a fork) and serves the inherited socket with
``uvicorn.Server.serve(sockets=[sock])``. The parent supervises:

* The first worker is forked alone and its siblings once it serves, so that it does not share the
  CPUs with them while it starts.
* SIGINT or SIGTERM asks every worker for a graceful shutdown (SIGTERM); a second one kills them;
  the parent exits 0 once they are gone.
* A worker that dies unexpectedly is replaced, after a back-off that grows while replacements keep
  dying young, so a crash loop does not spin.
* A worker that dies before it ever served is a start failure: before any worker has come up, or
  after :data:`MAX_START_FAILURES` failures in a row, the parent stops the others and exits non-zero.
* A worker whose parent vanished (killed with SIGKILL) shuts itself down.

With one worker there is nothing to supervise: :func:`serve` runs uvicorn in the calling process.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

import uvicorn

from modelyard.errors import ModelyardError
from modelyard.settings import Settings

log = logging.getLogger("uvicorn.error")

#: Start failures in a row after which the parent gives up.
MAX_START_FAILURES = 5
#: A worker that served at least this long before dying is replaced at once.
HEALTHY_LIFETIME_S = 10.0
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0
#: Exit status of a worker whose app could not be built.
WORKER_START_FAILED = 3
#: How long the first worker starts alone before its siblings are forked.
FIRST_WORKER_ALONE_S = 2.0
#: How long the parent waits past the workers' own graceful-shutdown timeout before killing them.
KILL_GRACE_S = 5.0
#: GIL switch interval in a server process (Python's default is 5 ms). A handler thread that comes
#: back from the database (holding SQLite's write lock, say) waits up to this long for the GIL while
#: the event loop or another handler runs; a shorter interval hands the database over sooner.
SWITCH_INTERVAL_S = 0.001


def bind_socket(host: str, port: int, *, backlog: int = 2048) -> socket.socket:
    """The listening socket every worker shares; ``OSError`` if the address is taken or unknown."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(backlog)
        sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


def preload(log_level: str = "info") -> None:
    """Import, in the parent, what a worker needs, so that forked workers start warm."""
    for module in ("modelyard.server.app", "modelyard.store.sql"):  # FastAPI, SQLAlchemy, routes
        importlib.import_module(module)

    config = _uvicorn_config(_no_app, log_level)
    config.load()  # imports the HTTP protocol, the lifespan and the event loop
    config.get_loop_factory()


async def _no_app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - never served
    raise RuntimeError("placeholder app used only to preload uvicorn")


def serve(
    settings: Settings,
    sock: socket.socket,
    *,
    workers: int,
    log_level: str = "info",
    graceful_timeout_s: float = 10.0,
) -> int:
    """Serve the app over ``sock`` with ``workers`` processes; returns the exit status."""
    if workers <= 1:
        return _serve_in_process(settings, sock, log_level, graceful_timeout_s)

    def target(ready: Callable[[], None]) -> None:
        _run_worker(settings, sock, log_level, graceful_timeout_s, ready)

    supervisor = Supervisor(target, workers, stop_timeout_s=graceful_timeout_s + KILL_GRACE_S)
    gc.freeze()  # what the parent loaded stays shared: the workers' collector never touches it
    try:
        return supervisor.run()
    finally:
        sock.close()


# ------------------------------------------------------------------------------ the worker
class _WorkerServer(uvicorn.Server):
    """uvicorn's server, as a worker: it reports readiness and leaves force-quitting to the parent.

    SIGINT and SIGTERM both start the graceful shutdown (the parent forwards one, a terminal may send
    the other); the supervisor decides when to kill. The signal is not raised again after shutdown,
    so a server stopped on request exits 0.
    """

    def __init__(
        self, config: uvicorn.Config, ready: Callable[[], None] | None, parent_pid: int | None
    ) -> None:
        super().__init__(config)
        self._ready = ready
        self._parent_pid = parent_pid

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        # The app, its routes, engine and caches live as long as the process: out of the collector's
        # sight, a request that allocates many objects (a 1,000-run search answer) pays for
        # collecting its own garbage only, not for traversing the whole heap (13 -> 3 ms a search).
        # No gc.collect() first: it would cost start-up time for the little garbage it would free.
        gc.freeze()
        if self.started and self._ready is not None:
            self._ready()

    async def on_tick(self, counter: int) -> bool:
        if self._parent_pid is not None and os.getppid() != self._parent_pid:
            self.should_exit = True  # the supervisor is gone: nobody would replace or stop us
        return await super().on_tick(counter)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT and self._parent_pid is None:
            self.force_exit = True  # a second Ctrl+C on a single in-process server
        self.should_exit = True


def _uvicorn_config(app: Any, log_level: str, graceful_timeout_s: float = 10.0) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level=log_level,
        ws="none",  # no websocket routes: do not import a websocket library
        lifespan="on",
        timeout_graceful_shutdown=int(graceful_timeout_s),
    )


def _build_app(settings: Settings) -> Any:
    from modelyard.server.app import create_app

    sys.setswitchinterval(SWITCH_INTERVAL_S)

    try:
        return create_app(settings)
    except ModelyardError as exc:
        raise WorkerStartError(exc.message) from None


def _run_worker(
    settings: Settings,
    sock: socket.socket,
    log_level: str,
    graceful_timeout_s: float,
    ready: Callable[[], None],
) -> None:
    app = _build_app(settings)  # after the fork: this process's own engine and pool
    config = _uvicorn_config(app, log_level, graceful_timeout_s)
    server = _WorkerServer(config, ready, parent_pid=os.getppid())
    server.run(sockets=[sock])
    if not server.started:
        raise WorkerStartError("the app did not start (see the log above)")


def _serve_in_process(
    settings: Settings, sock: socket.socket, log_level: str, graceful_timeout_s: float
) -> int:
    try:
        app = _build_app(settings)
        config = _uvicorn_config(app, log_level, graceful_timeout_s)
        server = _WorkerServer(config, ready=None, parent_pid=None)
        server.run(sockets=[sock])
    except WorkerStartError as exc:
        log.error("the server could not start: %s", exc)
        return 1
    finally:
        sock.close()
    return 0 if server.started else 1


class WorkerStartError(Exception):
    """A worker could not build its app; the message is one line for the log."""


# ------------------------------------------------------------------------------ the supervisor
@dataclass
class _Worker:
    slot: int
    pid: int
    ready_fd: int | None
    started_at: float
    ready: bool = False
    exit_status: int = 0


@dataclass
class _Slot:
    failures: int = 0  # replacements in a row that died young
    restart_at: float | None = None


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Supervisor:
    """Forks ``workers`` processes running ``target(ready)`` and keeps that many alive.

    ``target`` runs in the child; it calls ``ready()`` once it serves and returns when it is done
    (exit status 0). :class:`WorkerStartError` from it is a start failure (one line in the log, exit
    status :data:`WORKER_START_FAILED`); any other exception is logged with its traceback.
    """

    def __init__(
        self,
        target: Callable[[Callable[[], None]], None],
        workers: int,
        *,
        stop_timeout_s: float = 15.0,
    ) -> None:
        self.target = target
        self.workers = workers
        self.stop_timeout_s = stop_timeout_s
        self._live: dict[int, _Worker] = {}
        self._slots = [_Slot() for _ in range(workers)]
        self._signals: list[int] = []
        self._wake: tuple[int, int] | None = None
        self._any_ready = False
        self._start_failures = 0

    def run(self) -> int:
        """Start the workers and supervise them until a signal; returns the exit status."""
        wake_r, wake_w = self._wake = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        previous = self._install_signals(wake_w)
        try:
            # The first worker starts alone, so that it serves as soon as it can instead of sharing
            # the CPUs with its siblings; the others follow once it serves (or after a short wait).
            self._spawn(0)
            if self._first_may_serve(FIRST_WORKER_ALONE_S):
                for slot in range(1, self.workers):
                    self._spawn(slot)
            status = self._supervise()
            self._stop()
            return status
        finally:
            self._kill_all(signal.SIGKILL)  # only if something above went wrong
            self._reap()
            self._restore_signals(previous)
            for fd in (wake_r, wake_w, *(w.ready_fd for w in self._live.values())):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)

    # -- signals
    def _install_signals(self, wake_w: int) -> dict[int, Any]:
        def on_stop(sig: int, frame: FrameType | None) -> None:
            self._signals.append(sig)

        def on_child(sig: int, frame: FrameType | None) -> None:
            pass  # writing to the wake-up fd is all it takes

        previous: dict[int, Any] = {sig: signal.signal(sig, on_stop) for sig in _STOP_SIGNALS}
        previous[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, on_child)
        previous[-1] = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        return previous

    @staticmethod
    def _restore_signals(previous: dict[int, Any]) -> None:
        signal.set_wakeup_fd(previous.pop(-1))
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    # -- workers
    def _spawn(self, slot: int) -> None:
        ready_r, ready_w = os.pipe()
        # Hold stop signals across the fork: the child must not run the parent's handlers.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child, which leaves with os._exit
                os.close(ready_r)
                self._in_child(ready_w, blocked)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        os.close(ready_w)
        self._live[pid] = _Worker(slot, pid, ready_r, time.monotonic())
        self._slots[slot].restart_at = None
        log.info("Started worker %d [%d]", slot + 1, pid)

    def _in_child(self, ready_w: int, mask: Any) -> None:  # pragma: no cover - in the child
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            for sig in (*_STOP_SIGNALS, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            for fd in (*(self._wake or ()), *(w.ready_fd for w in self._live.values())):
                if fd is not None:
                    os.close(fd)

            def ready() -> None:
                with contextlib.suppress(OSError):
                    os.write(ready_w, b"1")
                    os.close(ready_w)

            self.target(ready)
            code = 0
        except WorkerStartError as exc:
            log.error("Worker [%d] could not start: %s", os.getpid(), exc)
            code = WORKER_START_FAILED
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            log.exception("Worker [%d] failed", os.getpid())
            code = 1
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def _first_may_serve(self, timeout_s: float) -> bool:
        """Wait until the first worker serves, a signal or ``timeout_s``; False if it failed."""
        deadline = time.monotonic() + timeout_s
        while not self._any_ready and not self._signals:
            pending = [w for w in self._live.values() if w.ready_fd is not None]
            left = deadline - time.monotonic()
            if not pending:
                return False  # it closed its pipe without serving: _supervise reports it
            if left <= 0:
                return True  # slow to start: start the others anyway
            self._wait(left)
        return True

    def _supervise(self) -> int:
        """Keep the workers alive until a stop signal (0) or a hopeless start (1)."""
        while not self._signals:
            for worker in self._reap():
                failed = self._on_exit(worker)
                if failed is not None:
                    log.error("%s; stopping the server", failed)
                    return 1
            now = time.monotonic()
            for slot, state in enumerate(self._slots):
                if state.restart_at is not None and state.restart_at <= now:
                    self._spawn(slot)
            pending = [s.restart_at for s in self._slots if s.restart_at is not None]
            self._wait(max(0.0, min(pending) - now) if pending else 1.0)
        return 0

    def _wait(self, timeout: float) -> None:
        """Sleep until a signal, a child's exit, a worker's "ready" or ``timeout``."""
        assert self._wake is not None
        wake_r = self._wake[0]
        watched = {w.ready_fd: w for w in self._live.values() if w.ready_fd is not None}
        readable, _, _ = select.select([wake_r, *watched], [], [], timeout)
        for fd in readable:
            if fd == wake_r:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_r, 512):
                        pass
            else:
                self._read_ready(watched[fd])

    def _read_ready(self, worker: _Worker) -> None:
        assert worker.ready_fd is not None
        with contextlib.suppress(OSError):
            if os.read(worker.ready_fd, 1) == b"1":
                worker.ready = True
                self._any_ready = True
                self._start_failures = 0
        os.close(worker.ready_fd)  # "ready" was read, or the worker closed it by dying
        worker.ready_fd = None

    def _reap(self) -> list[_Worker]:
        gone: list[_Worker] = []
        while self._live:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            worker = self._live.pop(pid, None)
            if worker is None:
                continue
            if worker.ready_fd is not None:  # it may have said "ready" just before it died
                self._read_ready(worker)
            worker.exit_status = status
            gone.append(worker)
        return gone

    def _on_exit(self, worker: _Worker) -> str | None:
        """Schedule the replacement of a dead worker; a message when the server should give up."""
        how = _describe(worker.exit_status)
        if not worker.ready:
            self._start_failures += 1
            if not self._any_ready:
                return f"Worker {worker.slot + 1} [{worker.pid}] could not start ({how})"
            if self._start_failures >= MAX_START_FAILURES:
                return f"{self._start_failures} workers in a row could not start (last: {how})"
        state = self._slots[worker.slot]
        if worker.ready and time.monotonic() - worker.started_at >= HEALTHY_LIFETIME_S:
            state.failures = 0
            delay = 0.0
        else:
            delay = min(FIRST_BACKOFF_S * 2**state.failures, MAX_BACKOFF_S)
            state.failures += 1
        state.restart_at = time.monotonic() + delay
        log.warning(
            "Worker %d [%d] %s; starting a new one in %.1f s",
            worker.slot + 1,
            worker.pid,
            how,
            delay,
        )
        return None

    # -- stopping
    def _stop(self) -> None:
        """SIGTERM every worker; SIGKILL those left after the timeout or on a second signal."""
        if not self._live:
            return
        log.info("Stopping %d worker(s)", len(self._live))
        self._kill_all(signal.SIGTERM)
        signals_seen = len(self._signals)
        deadline = time.monotonic() + self.stop_timeout_s
        killed = False
        while True:
            self._reap()
            if not self._live:
                return
            now = time.monotonic()
            if not killed and (now >= deadline or len(self._signals) > signals_seen):
                log.warning("Killing %d worker(s) that did not stop", len(self._live))
                self._kill_all(signal.SIGKILL)
                killed = True
            self._wait(0.2)

    def _kill_all(self, sig: int) -> None:
        for pid in list(self._live):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"was killed by {name}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"
