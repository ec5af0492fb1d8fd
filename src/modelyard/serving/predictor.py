"""Calling the model: in a thread of its own, under a deadline, one request or a merged batch.

:class:`Predictor` runs ``predict`` in a small thread pool (one thread by default: a model is
called by one thread at a time, and the event loop keeps reading, parsing and answering requests
meanwhile). The model is read from the :class:`ModelHolder` once per call, so a model swapped in by
``--watch`` serves the next call while the calls in flight finish on the old one.

:meth:`Predictor.predict_many` is what the micro-batcher calls: the inputs of several requests that
share their columns, types and params become one DataFrame (or array) and one ``predict`` call,
whose output is cut back into one part per request. When that cannot be done (the output is not
one row per input row, or the merged call fails) each request is predicted alone, so one bad
request never fails its neighbours.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from modelyard.serving.metrics import ScoringMetrics
from modelyard.serving.payloads import Decoded, merge_inputs, split_output
from modelyard.serving.source import LoadedModel


class ModelHolder:
    """The one reference to the model being served; swapping it is a single assignment."""

    def __init__(self) -> None:
        self.current: LoadedModel | None = None
        self.error: str | None = None  # why loading failed, for /ping


class Predictor:
    def __init__(self, holder: ModelHolder, metrics: ScoringMetrics, *, threads: int = 1) -> None:
        self.holder = holder
        self.metrics = metrics
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="modelyard-predict")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _model(self) -> LoadedModel:
        model = self.holder.current
        assert model is not None, "requests are refused until the model is loaded"
        return model

    async def predict(self, item: Decoded) -> Any:
        """The predictions for one request."""
        model = self._model()
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._pool, _predict, model, item)
        self.metrics.batch(item.rows or 1)
        return result

    async def predict_many(self, items: list[Decoded]) -> list[tuple[bool, Any]]:
        """``(ok, predictions or exception)`` for each of ``items``, which share a merge key."""
        model = self._model()
        loop = asyncio.get_running_loop()
        outcome = await loop.run_in_executor(self._pool, _predict_merged, model, items)
        if outcome is not None:
            self.metrics.batch(sum(i.rows or 1 for i in items))
            return [(True, part) for part in outcome]
        results: list[tuple[bool, Any]] = []
        for item in items:
            try:
                results.append(
                    (True, await loop.run_in_executor(self._pool, _predict, model, item))
                )
            except Exception as exc:  # the request's own error, answered to it alone
                results.append((False, exc))
            self.metrics.batch(item.rows or 1)
        return results


def _predict(model: LoadedModel, item: Decoded) -> Any:
    return model.pyfunc.predict(item.model_input(), params=item.params)


def _predict_merged(model: LoadedModel, items: list[Decoded]) -> list[Any] | None:
    try:
        output = model.pyfunc.predict(merge_inputs(items), params=items[0].params)
    except Exception:
        return None  # one of them is bad: each is predicted alone and gets its own answer
    return split_output(output, [i.rows or 1 for i in items])


__all__ = ["ModelHolder", "Predictor"]
