"""The one error renderer of the server: every failure leaves as ``{"error_code", "message"}``.

* a :class:`~modelyard.errors.ModelyardError` keeps its code; the status comes from
  :func:`modelyard.errors.status_for`;
* an unknown route under ``/api`` or ``/ajax-api`` is 404 ``ENDPOINT_NOT_FOUND``; a wrong method is
  405 with a JSON body;
* anything unexpected (a bug, a driver error the store failed to translate) is 500
  ``INTERNAL_ERROR`` with a generic message; the traceback goes to the server log only, so no SQL
  text, stack trace or file path reaches a client.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from modelyard.errors import BadRequest, ModelyardError, status_for
from modelyard.server.responses import OrjsonResponse

logger = logging.getLogger("modelyard.server")

INTERNAL_MESSAGE = "An internal error occurred while handling the request; see the server log."
API_PREFIXES = ("/api/", "/ajax-api/")


def error_response(error_code: str, message: str, status_code: int | None = None) -> Response:
    body = {"error_code": error_code, "message": message}
    return OrjsonResponse(body, status_code=status_code or status_for(error_code))


def render_error(exc: ModelyardError) -> Response:
    return error_response(exc.error_code, exc.message, exc.http_status)


class RequestTooLarge(BadRequest):
    """A request body is larger than the server's limit: 413, with MLflow's ``BAD_REQUEST`` code."""

    @property
    def http_status(self) -> int:
        return 413


def too_large_message(limit: int) -> str:
    mib = 1 << 20
    shown = f"{limit // mib} MiB" if limit >= mib and limit % mib == 0 else f"{limit} bytes"
    return f"The request body is larger than the limit of {shown}."


def internal_error(request: Request, exc: BaseException) -> ModelyardError:
    """Log ``exc`` with its traceback and return the generic error a client may see."""
    logger.error(
        "Unhandled error in %s %s",
        request.method,
        request.url.path,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return ModelyardError(INTERNAL_MESSAGE)


async def _modelyard_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ModelyardError)
    return render_error(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    path = request.url.path
    if exc.status_code == 404:
        if path.startswith(API_PREFIXES):
            return error_response(
                "ENDPOINT_NOT_FOUND", f"No API endpoint at {request.method} {path}.", 404
            )
        return PlainTextResponse("Not Found", status_code=404)
    if exc.status_code == 405:
        allowed = exc.headers.get("Allow", "") if exc.headers else ""
        response = error_response(
            "BAD_REQUEST",
            f"Method {request.method} is not allowed for {path}"
            + (f"; use {allowed}." if allowed else "."),
            405,
        )
        if allowed:
            response.headers["Allow"] = allowed
        return response
    code = "BAD_REQUEST" if exc.status_code < 500 else "INTERNAL_ERROR"
    return error_response(code, str(exc.detail), exc.status_code)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    fields = sorted(
        {".".join(str(p) for p in err.get("loc", ()) if p != "body") for err in exc.errors()}
    )
    return error_response(
        "INVALID_PARAMETER_VALUE", f"Invalid request: check the field(s) {', '.join(fields)}.", 400
    )


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    return render_error(internal_error(request, exc))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ModelyardError, _modelyard_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
