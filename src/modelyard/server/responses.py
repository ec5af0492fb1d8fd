"""JSON responses rendered with orjson (MLflow's conventions are applied before, by the schemas)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class OrjsonResponse(Response):
    """``application/json`` written by orjson: several times faster than the standard library."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def json_response(content: Any, status_code: int = 200) -> Response:
    return OrjsonResponse(content, status_code=status_code)
