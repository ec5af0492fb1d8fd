"""Metric histories bucketed for charts: min, max and mean per bucket, so spikes survive downsampling.

A history of ``n`` points becomes at most ``buckets`` rows, each covering a contiguous range of steps
(or of timestamps, when every point has the same step). The aggregation runs in SQL (``GROUP BY`` on
an integer bucket number), so a 100,000-step history costs one indexed range scan and sends back only
the buckets. Shorter histories come back point by point.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from modelyard.entities import HistoryBucket
from modelyard.store.sql import tables as t
from modelyard.store.sql.convert import DBL_MAX
from modelyard.store.sql.engine import read_connection, translate_errors


def _restore(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    if value >= DBL_MAX:
        return float("inf")
    if value <= -DBL_MAX:
        return float("-inf")
    return value


class SqlHistoryStore:
    """Bucketed reads of metric histories over the tracking store's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get_metric_history_buckets(
        self, run_id: str, key: str, buckets: int
    ) -> tuple[int, list[HistoryBucket]]:
        """``(points in the history, buckets in step order)``; raw points when few enough."""
        m = t.metrics
        where = (m.c.run_uuid == run_id, m.c.key == key)
        with translate_errors(), read_connection(self.engine) as conn:
            # min() and max() alone are answered from the primary key (run, key, step, ...).
            low = conn.execute(sa.select(sa.func.min(m.c.step)).where(*where)).scalar()
            if low is None:
                return 0, []
            high = conn.execute(sa.select(sa.func.max(m.c.step)).where(*where)).scalar()
            if high > low:  # bucket by step
                column, low, span = m.c.step, int(low), int(high) - int(low) + 1
            else:  # every point has the same step: bucket by timestamp
                first, last = conn.execute(
                    sa.select(sa.func.min(m.c.timestamp), sa.func.max(m.c.timestamp)).where(*where)
                ).one()
                column, low, span = m.c.timestamp, int(first), int(last) - int(first) + 1
            bucket = ((column - low) * buckets // span).label("bucket")
            finite = sa.case((m.c.is_nan == sa.true(), sa.null()), else_=m.c.value)
            query = (
                sa.select(
                    bucket,
                    sa.func.min(m.c.step),
                    sa.func.max(m.c.step),
                    sa.func.min(m.c.timestamp),
                    sa.func.max(m.c.timestamp),
                    sa.func.min(finite),
                    sa.func.max(finite),
                    sa.func.avg(finite),
                    sa.func.count(),
                    sa.func.sum(sa.case((m.c.is_nan == sa.true(), 1), else_=0)),
                )
                .where(*where)
                .group_by(bucket)
                .order_by(bucket)
            )
            rows = conn.execute(query).all()
            total = sum(int(r[8]) for r in rows)
            if total <= 2 * buckets:  # few points: every one of them
                raw = conn.execute(
                    sa.select(m.c.step, m.c.timestamp, m.c.value, m.c.is_nan)
                    .where(*where)
                    .order_by(m.c.step, m.c.timestamp)
                ).all()
                return total, [
                    HistoryBucket(
                        int(r.step),
                        int(r.step),
                        int(r.timestamp),
                        int(r.timestamp),
                        None if r.is_nan else _restore(r.value),
                        None if r.is_nan else _restore(r.value),
                        None if r.is_nan else _restore(r.value),
                        1,
                        1 if r.is_nan else 0,
                    )
                    for r in raw
                ]
        return total, [
            HistoryBucket(
                int(r[1]),
                int(r[2]),
                int(r[3]),
                int(r[4]),
                _restore(r[5]),
                _restore(r[6]),
                _restore(r[7]),
                int(r[8]),
                int(r[9] or 0),
            )
            for r in rows
        ]


def history_store_for(tracking_store: object) -> SqlHistoryStore:
    """The bucketed-history reader over the same engine as a SQL tracking store."""
    engine = getattr(tracking_store, "engine", None)
    if engine is None:
        raise TypeError(f"{tracking_store!r} is not a SQL tracking store")
    return SqlHistoryStore(engine)
