"""Asynchronous, batched logging: ``log_*`` calls enqueue and return; one thread sends batches.

How it works:

* :meth:`BatchLogger.put_metric` (and ``put_param``, ``put_tag``, ``put_entities``) append a small
  tuple to a deque and wake the sender thread. Nothing else happens on the caller's thread.
* The sender thread wakes as soon as data is waiting, takes everything queued (in order), groups it
  by run and sends log-batch requests within MLflow's limits (≤1000 metrics, ≤100 params, ≤100 tags,
  ≤1000 in all). While a request is in flight new data piles up, so a busy loop is sent in large
  batches and a quiet one with little delay. It also wakes every ``flush_interval_s`` on its own.
* Order of writes to one run is kept. A param logged twice goes out in two requests, so a changed
  value is refused by the server exactly as a synchronous call would be; tags set twice in one
  batch collapse to the last value.
* A failed send has already been retried by the backend. What still fails is kept and raised at the
  next :meth:`BatchLogger.flush` (``flush()``, ``end_run``, process exit): a deterministic refusal
  (a 4xx such as "Changing param values is not allowed") as the original error, anything else as
  :class:`~modelyard.errors.DeliveryError` wrapping the cause and carrying the undelivered data.
  Later batches are still sent.
* :meth:`BatchLogger.flush` puts a marker in the queue and waits until the sender reaches it, so
  everything logged before the call has been written (or has failed) when it returns.
* Every live logger is flushed at interpreter exit; after ``os.fork`` the child starts with an
  empty queue and no thread.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from modelyard.entities import Metric, Param, RunTag
from modelyard.errors import DeliveryError, ModelyardError
from modelyard.service.validation import (
    MAX_ENTITIES_PER_BATCH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_PER_BATCH,
    MAX_TAGS_PER_BATCH,
)

log = logging.getLogger("modelyard.client")

SendBatch = Callable[[str, Sequence[Metric], Sequence[Param], Sequence[RunTag]], None]

_METRIC, _PARAM, _TAG, _ENTITY = 0, 1, 2, 3
#: Items taken off the queue per round; bounds the memory of one round.
_DRAIN_CHUNK = 10_000
#: Above this many queued items a producer waits for the sender to catch up (back-pressure).
_MAX_QUEUED = 500_000

_LIVE: weakref.WeakSet[BatchLogger] = weakref.WeakSet()
_hooks_lock = threading.Lock()
_hooks_installed = False


def is_deterministic(error: BaseException) -> bool:
    """True for a refusal that would be the same on every attempt (a 4xx other than 408 and 429)."""
    if not isinstance(error, ModelyardError):
        return False
    status = error.http_status
    return 400 <= status < 500 and status not in (408, 429)


class _Marker:
    """A flush marker: the sender sets it when it reaches it in the queue."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class _Batch:
    """One log-batch request being assembled for one run, within MLflow's limits."""

    __slots__ = ("metrics", "param_keys", "params", "tags")

    def __init__(self) -> None:
        self.metrics: list[Metric] = []
        self.params: list[Param] = []
        self.param_keys: set[str] = set()
        self.tags: dict[str, RunTag] = {}

    def __len__(self) -> int:
        return len(self.metrics) + len(self.params) + len(self.tags)

    def has_room_for_metric(self) -> bool:
        return len(self.metrics) < MAX_METRICS_PER_BATCH and len(self) < MAX_ENTITIES_PER_BATCH

    def has_room_for_param(self, key: str) -> bool:
        return (
            key not in self.param_keys
            and len(self.params) < MAX_PARAMS_PER_BATCH
            and len(self) < MAX_ENTITIES_PER_BATCH
        )

    def has_room_for_tag(self, key: str) -> bool:
        return key in self.tags or (
            len(self.tags) < MAX_TAGS_PER_BATCH and len(self) < MAX_ENTITIES_PER_BATCH
        )


def build_batches(items: Iterable[tuple[Any, ...]]) -> list[tuple[str, _Batch]]:
    """Group queued items by run, in order, into batches that each fit one log-batch request."""
    open_batches: dict[str, _Batch] = {}
    done: list[tuple[str, _Batch]] = []

    def current(run_id: str) -> _Batch:
        batch = open_batches.get(run_id)
        if batch is None:
            batch = open_batches[run_id] = _Batch()
        return batch

    def rotate(run_id: str) -> _Batch:
        done.append((run_id, open_batches[run_id]))
        batch = open_batches[run_id] = _Batch()
        return batch

    for item in items:
        run_id, kind = item[0], item[1]
        if kind == _METRIC:
            metric = Metric(item[2], item[3], item[4], item[5])
        elif kind == _PARAM:
            param = Param(item[2], item[3])
        elif kind == _TAG:
            tag = RunTag(item[2], item[3])
        else:
            entity = item[2]
            if isinstance(entity, Metric):
                kind, metric = _METRIC, entity
            elif isinstance(entity, Param):
                kind, param = _PARAM, entity
            else:
                kind, tag = _TAG, entity
        batch = current(run_id)
        if kind == _METRIC:
            if not batch.has_room_for_metric():
                batch = rotate(run_id)
            batch.metrics.append(metric)
        elif kind == _PARAM:
            if not batch.has_room_for_param(param.key):
                batch = rotate(run_id)
            batch.params.append(param)
            batch.param_keys.add(param.key)
        else:
            if not batch.has_room_for_tag(tag.key):
                batch = rotate(run_id)
            batch.tags[tag.key] = tag
    done.extend(open_batches.items())
    return done


def split_batch(
    run_id: str,
    metrics: Sequence[Metric] = (),
    params: Sequence[Param] = (),
    tags: Sequence[RunTag] = (),
) -> list[tuple[list[Metric], list[Param], list[RunTag]]]:
    """One log-batch of any size as requests within MLflow's limits (params first, then tags, metrics)."""
    items = [(run_id, _ENTITY, e) for e in (*params, *tags, *metrics)]
    return [(b.metrics, b.params, list(b.tags.values())) for _, b in build_batches(items)]


class BatchLogger:
    """A queue of metrics, params and tags, and the one thread that sends them with ``send``."""

    def __init__(
        self,
        send: SendBatch,
        *,
        flush_interval_s: float = 0.2,
        name: str = "modelyard-logger",
    ) -> None:
        self._send = send
        self._flush_interval_s = max(0.001, float(flush_interval_s))
        self._name = name
        self._queue: deque[Any] = deque()
        self._wakeup = threading.Event()
        self._room = threading.Event()
        self._start_lock = threading.Lock()
        self._errors_lock = threading.Lock()
        self._errors: list[ModelyardError] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        _install_process_hooks()
        _LIVE.add(self)

    # ---------------------------------------------------------------- producer side
    def put_metric(self, run_id: str, key: str, value: float, timestamp: int, step: int) -> None:
        self._put((run_id, _METRIC, key, value, timestamp, step))

    def put_param(self, run_id: str, key: str, value: str) -> None:
        self._put((run_id, _PARAM, key, value))

    def put_tag(self, run_id: str, key: str, value: str) -> None:
        self._put((run_id, _TAG, key, value))

    def put_entities(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Queue validated entities; they keep their order relative to other queued writes."""
        for entity in (*params, *tags, *metrics):
            self._put((run_id, _ENTITY, entity))

    def _put(self, item: tuple[Any, ...]) -> None:
        if self._thread is None or self._closed:
            self._start()
        queue = self._queue
        if len(queue) >= _MAX_QUEUED:
            self._wait_for_room()
        queue.append(item)
        if not self._wakeup.is_set():
            self._wakeup.set()

    def _start(self) -> None:
        with self._start_lock:
            if self._closed:
                raise DeliveryError("This client is closed; it cannot log any more data.")
            if self._thread is None:
                thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                thread.start()
                self._thread = thread

    def _wait_for_room(self) -> None:
        while len(self._queue) >= _MAX_QUEUED // 2:
            thread = self._thread
            if thread is None or not thread.is_alive():
                return
            self._room.clear()
            self._wakeup.set()
            self._room.wait(0.05)

    # ---------------------------------------------------------------- flushing
    @property
    def pending(self) -> int:
        """Items queued and not yet taken by the sender."""
        return len(self._queue)

    def wait(self) -> None:
        """Block until everything queued before this call has been sent or has failed."""
        thread = self._thread
        if thread is None and not self._queue:
            return
        if thread is None or not thread.is_alive() or thread is threading.current_thread():
            self._drain_here()
            return
        marker = _Marker()
        self._queue.append(marker)
        self._wakeup.set()
        while not marker.done.wait(0.5):
            if not thread.is_alive():  # the sender died (interpreter shutdown): finish here
                self._drain_here()
                return

    def flush(self) -> None:
        """:meth:`wait`, then raise the first delivery error kept since the last flush, if any."""
        self.wait()
        self.raise_errors()

    def take_errors(self) -> list[ModelyardError]:
        with self._errors_lock:
            errors, self._errors = self._errors, []
        return errors

    def raise_errors(self) -> None:
        errors = self.take_errors()
        if not errors:
            return
        first = errors[0]
        if len(errors) > 1:
            first.context["other_errors"] = errors[1:]
            if hasattr(first, "add_note"):
                first.add_note(
                    f"{len(errors) - 1} more logging error(s) since the last flush: "
                    + "; ".join(e.message for e in errors[1:6])
                )
        raise first

    def close(self) -> None:
        """Send what is queued and stop accepting data. Errors are raised as by :meth:`flush`."""
        try:
            self.flush()
        finally:
            self._closed = True
            _LIVE.discard(self)
            self._wakeup.set()  # the sender sees the flag and ends

    # ---------------------------------------------------------------- sender side
    def _run(self) -> None:
        while True:
            self._wakeup.wait(self._flush_interval_s)
            self._wakeup.clear()
            while self._queue:
                self._drain_once()
            self._room.set()
            if self._closed and not self._queue:
                return

    def _drain_here(self) -> None:
        while self._queue:
            self._drain_once()

    def _drain_once(self) -> None:
        queue = self._queue
        items: list[tuple[Any, ...]] = []
        marker: _Marker | None = None
        while queue and len(items) < _DRAIN_CHUNK:
            try:
                item = queue.popleft()
            except IndexError:  # another drainer took it
                break
            if type(item) is _Marker:
                marker = item
                break
            items.append(item)
        if len(queue) < _MAX_QUEUED // 2:
            self._room.set()
        if items:
            try:
                self._deliver(items)
            except BaseException as exc:  # never let the sender die with data unaccounted for
                self._keep(DeliveryError(f"Logging failed unexpectedly: {exc!r}"), exc)
                if not isinstance(exc, Exception):
                    raise
        if marker is not None:
            marker.done.set()

    def _deliver(self, items: list[tuple[Any, ...]]) -> None:
        for run_id, batch in build_batches(items):
            self._deliver_batch(run_id, batch)

    def _deliver_batch(self, run_id: str, batch: _Batch) -> None:
        metrics, params, tags = batch.metrics, batch.params, list(batch.tags.values())
        error = self._send_one(run_id, metrics, params, tags)
        if error is None:
            return
        if is_deterministic(error) and params and (metrics or tags):
            # Most refusals of a mixed batch are about a param (a changed value): send the
            # params apart so the metrics and tags logged with them are not refused too.
            error = self._send_one(run_id, metrics, (), tags)
            if error is not None:
                self._keep_error(run_id, metrics, (), tags, error)
            error = self._send_one(run_id, (), params, ())
            if error is not None:
                self._keep_error(run_id, (), params, (), error)
        else:
            self._keep_error(run_id, metrics, params, tags, error)

    def _send_one(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> Exception | None:
        try:
            self._send(run_id, metrics, params, tags)
        except Exception as exc:
            return exc
        return None

    def _keep_error(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
        error: Exception,
    ) -> None:
        if isinstance(error, ModelyardError) and is_deterministic(error):
            self._keep(error, None)
        else:
            self._keep(_delivery_error(run_id, metrics, params, tags, error), error)

    def _keep(self, error: ModelyardError, cause: BaseException | None) -> None:
        if cause is not None and error is not cause:
            error.__cause__ = cause
        with self._errors_lock:
            self._errors.append(error)

    def _reset_after_fork(self) -> None:
        self._queue = deque()
        self._wakeup = threading.Event()
        self._room = threading.Event()
        self._start_lock = threading.Lock()
        self._errors_lock = threading.Lock()
        self._errors = []
        self._thread = None


def _delivery_error(
    run_id: str,
    metrics: Sequence[Metric],
    params: Sequence[Param],
    tags: Sequence[RunTag],
    cause: BaseException,
) -> DeliveryError:
    reason = cause.message if isinstance(cause, ModelyardError) else repr(cause)
    return DeliveryError(
        f"Could not deliver {len(metrics)} metric(s), {len(params)} param(s) and {len(tags)} "
        f"tag(s) to run {run_id}: {reason}",
        run_id=run_id,
        metrics=list(metrics),
        params=list(params),
        tags=list(tags),
    )


def _flush_all_at_exit() -> None:
    for logger in list(_LIVE):
        try:
            logger.flush()
        except ModelyardError as exc:
            log.error("modelyard: logged data was not delivered before exit: %s", exc.message)
        except Exception:
            log.exception("modelyard: flushing logged data at exit failed")


def _reset_all_after_fork() -> None:
    for logger in list(_LIVE):
        logger._reset_after_fork()


def _install_process_hooks() -> None:
    global _hooks_installed
    with _hooks_lock:
        if _hooks_installed:
            return
        atexit.register(_flush_all_at_exit)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_reset_all_after_fork)
        _hooks_installed = True
