"""``--watch``: follow a registry alias or stage, swap in the new version without dropping a request.

Every ``interval_s`` the :class:`Watcher` asks the registry (in a thread: the client blocks) which
version ``models:/name@alias`` or ``models:/name/<stage>`` names now. When it moved, the new version
is downloaded and loaded completely, still off the event loop, and only then is the one reference
of the :class:`~modelyard.serving.predictor.ModelHolder` replaced. A request reads that reference
once, when its ``predict`` call starts, so requests in flight finish on the old model and the next
ones use the new one; no request waits for a load and none fails because of one. A failed poll or
load is logged and tried again at the next interval, while the old model keeps serving. The files
this worker downloaded for the old version are deleted a while later (the request timeout).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from modelyard.serving.metrics import ScoringMetrics
from modelyard.serving.predictor import ModelHolder
from modelyard.serving.source import ModelSource

log = logging.getLogger("modelyard.serving")


class Watcher:
    def __init__(
        self,
        source: ModelSource,
        holder: ModelHolder,
        metrics: ScoringMetrics,
        *,
        interval_s: float,
        grace_s: float = 60.0,
    ) -> None:
        self.source = source
        self.holder = holder
        self.metrics = metrics
        self.interval_s = max(0.05, float(interval_s))
        self.grace_s = grace_s

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the registry is down, the new version does not load, ...
                log.warning("--watch: %s stays served: %s", self._served(), _one_line(exc))

    async def check(self) -> bool:
        """Swap in the version the URI names now, if it changed; True when it did."""
        current = self.holder.current
        if current is None:
            return False
        version = await asyncio.to_thread(self.source.current_version)
        if version is None or version == current.version:
            return False
        log.info("--watch: %s now names version %s; loading it", self.source.uri, version)
        loaded = await asyncio.to_thread(self.source.load, version)
        self.holder.current = loaded  # the swap: one reference, read once per predict call
        self.metrics.model_version = loaded.version
        self.metrics.swaps += 1
        # the old files go once the requests still predicting on the old model are surely done
        asyncio.get_running_loop().call_later(self.grace_s, current.remove_download)
        log.info("--watch: serving version %s (was %s)", version, current.version)
        return True

    def _served(self) -> str:
        current = self.holder.current
        return f"version {current.version}" if current is not None else "the current model"


def _one_line(exc: Any) -> str:
    text = str(getattr(exc, "message", "") or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["Watcher"]
