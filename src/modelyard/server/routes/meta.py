"""Routes outside the protos: health, version and the 3.x server-info probe."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import PlainTextResponse, Response

import modelyard
from modelyard.server.responses import OrjsonResponse

router = APIRouter(include_in_schema=False)

SERVER_INFO = {
    "store_type": "SqlStore",
    "workspaces_enabled": False,
    "multipart_uploads_enabled": False,
    "multipart_downloads_enabled": False,
    "trace_archival_enabled": False,
}


@router.get("/health")
async def health() -> Response:
    return PlainTextResponse("OK")


@router.get("/version")
async def version() -> Response:
    return PlainTextResponse(modelyard.__version__)


@router.get("/api/3.0/mlflow/server-info")
@router.get("/ajax-api/3.0/mlflow/server-info")
async def server_info() -> Response:
    return OrjsonResponse(SERVER_INFO)
