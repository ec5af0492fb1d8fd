"""Services handed to routes by dependency injection.

``create_app`` puts the services on ``app.state``; routes ask for them with the typed aliases below.
Tests may swap one with ``app.dependency_overrides[get_tracking]``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from modelyard.service.logged_models import LoggedModelService
from modelyard.service.tracking import TrackingService


async def get_tracking(request: Request) -> TrackingService:
    """The app's :class:`TrackingService` (async, so FastAPI does not hop to a thread for it)."""
    service: TrackingService = request.app.state.tracking
    return service


TrackingDep = Annotated[TrackingService, Depends(get_tracking)]


async def get_logged_models(request: Request) -> LoggedModelService:
    """The app's :class:`LoggedModelService`."""
    service: LoggedModelService = request.app.state.logged_models
    return service


LoggedModelsDep = Annotated[LoggedModelService, Depends(get_logged_models)]
