"""Routes by resource. Each module declares its endpoints in an :class:`~modelyard.server.rpc.RpcTable`.

:data:`TRACKING_TABLES` lists the tracking tables in the order ``create_app`` serves them, then
:data:`REGISTRY_TABLES`, then :data:`AUTH_TABLES`.
"""

from __future__ import annotations

from modelyard.server.routes import (
    auth,
    experiments,
    logged_models,
    metrics,
    registry,
    runs,
    webhooks,
)
from modelyard.server.rpc import RpcTable

TRACKING_TABLES: tuple[RpcTable, ...] = (
    experiments.rpc,
    runs.rpc,
    metrics.rpc,
    logged_models.rpc,
)

#: The model registry (with transition requests, comments, activities) and webhooks.
REGISTRY_TABLES: tuple[RpcTable, ...] = (registry.rpc, webhooks.rpc)

#: Users, groups (roles), tokens, grants and the audit log; served only with ``--auth``.
AUTH_TABLES: tuple[RpcTable, ...] = (auth.rpc,)
