"""Adaptive micro-batching: concurrent requests merged into one ``predict`` call.

Requests wait in one queue on the event loop. A single drain task takes them out in batches: the
first request waiting, plus every other waiting request with the same merge key (same columns,
types and params; see :class:`~modelyard.serving.payloads.Decoded`), up to ``max_size`` rows. A
request that cannot be merged, or that alone has more rows than ``max_size``, goes alone.

The batching adapts to the load:

* While a batch is being predicted, new requests queue; when it is done they leave together, so
  under load batches grow by themselves and an idle server adds no delay.
* Before a batch leaves, it waits up to ``max_wait_s`` for more rows, but only while other requests
  are being read (``arriving`` counts them): a lone client is never kept waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from modelyard.serving.payloads import Decoded
from modelyard.serving.predictor import Predictor


class MicroBatcher:
    def __init__(self, predictor: Predictor, *, max_size: int, max_wait_s: float) -> None:
        self.predictor = predictor
        self.max_size = max(1, int(max_size))
        self.max_wait_s = max(0.0, float(max_wait_s))
        #: requests whose body is being read or parsed: they may join the next batch
        self.arriving = 0
        self._queue: deque[tuple[Decoded, asyncio.Future[Any]]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event | None = None

    async def submit(self, item: Decoded) -> Any:
        """The predictions for ``item``, predicted with whatever it could be merged with."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((item, future))
        if self._wakeup is not None:
            self._wakeup.set()
        if self._task is None:
            self._task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                await self._fill()
                batch = self._take()
                if batch:
                    await self._run(batch)
        finally:
            self._task = None

    def _pending_rows(self) -> int:
        key = self._queue[0][0].key
        if key is None:
            return self.max_size
        return sum(item.rows or 1 for item, f in self._queue if item.key == key and not f.done())

    async def _fill(self) -> None:
        """Wait for more rows while others are arriving, up to ``max_wait_s``."""
        await asyncio.sleep(0)  # requests read in this turn of the loop join at once
        if self.max_wait_s <= 0:
            return
        deadline = time.monotonic() + self.max_wait_s
        wakeup = self._wakeup = asyncio.Event()
        try:
            while self.arriving > 0 and self._queue and self._pending_rows() < self.max_size:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                wakeup.clear()
                try:
                    await asyncio.wait_for(wakeup.wait(), left)
                except TimeoutError:
                    return
        finally:
            self._wakeup = None

    def _take(self) -> list[tuple[Decoded, asyncio.Future[Any]]]:
        while self._queue and self._queue[0][1].done():  # timed out while waiting
            self._queue.popleft()
        if not self._queue:
            return []
        first = self._queue.popleft()
        batch = [first]
        key = first[0].key
        rows = first[0].rows or 1
        if key is None or rows >= self.max_size:
            return batch
        kept: deque[tuple[Decoded, asyncio.Future[Any]]] = deque()
        while self._queue:
            entry = self._queue.popleft()
            item, future = entry
            if future.done():
                continue
            if item.key == key and rows + (item.rows or 1) <= self.max_size:
                batch.append(entry)
                rows += item.rows or 1
            else:
                kept.append(entry)
        self._queue = kept
        return batch

    async def _run(self, batch: list[tuple[Decoded, asyncio.Future[Any]]]) -> None:
        try:
            if len(batch) == 1:
                item, future = batch[0]
                try:
                    result = await self.predictor.predict(item)
                except Exception as exc:
                    _settle(future, False, exc)
                else:
                    _settle(future, True, result)
                return
            outcomes = await self.predictor.predict_many([item for item, _ in batch])
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                _settle(future, ok, value)
        except BaseException as exc:  # cancelled at shutdown: nobody is left waiting
            for _, future in batch:
                _settle(future, False, exc if isinstance(exc, Exception) else RuntimeError(exc))
            raise


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


__all__ = ["MicroBatcher"]
