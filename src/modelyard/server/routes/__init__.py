"""Routes by resource. Each module declares its endpoints in an :class:`~modelyard.server.rpc.RpcTable`.

:data:`TRACKING_TABLES` lists the tracking tables in the order ``create_app`` serves them.
"""

from __future__ import annotations

from modelyard.server.routes import experiments, logged_models, metrics, registry, runs, webhooks
from modelyard.server.rpc import RpcTable

TRACKING_TABLES: tuple[RpcTable, ...] = (
    experiments.rpc,
    runs.rpc,
    metrics.rpc,
    logged_models.rpc,
    registry.rpc,
    webhooks.rpc,
)
