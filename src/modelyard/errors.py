"""The one exception tree of modelyard.

Every error that modelyard raises on purpose is a :class:`ModelyardError`. The same classes are raised
whether the client talks to SQLite in-process or to a server over HTTP: the server renders them as
MLflow-style JSON (``{"error_code": ..., "message": ...}``) and the HTTP client turns that JSON back
into the same class.

::

    ModelyardError                  error_code (default INTERNAL_ERROR), HTTP 500
    ├── InvalidInput                INVALID_PARAMETER_VALUE, 400: a field is missing, mistyped or out of range
    │   └── MalformedFilter         INVALID_PARAMETER_VALUE, 400: a search filter or order_by does not parse
    ├── BadRequest                  BAD_REQUEST, 400: the request itself is unusable (not JSON, wrong type)
    ├── AlreadyExists               RESOURCE_ALREADY_EXISTS, 400: a name or key is taken
    ├── NotFound                    RESOURCE_DOES_NOT_EXIST, 404: an experiment, run or metric is absent
    ├── EndpointNotFound            ENDPOINT_NOT_FOUND, 404: no route at that path
    ├── Unauthenticated             UNAUTHENTICATED, 401
    ├── PermissionDenied            PERMISSION_DENIED, 403
    ├── Conflict                    RESOURCE_CONFLICT, 409: the request raced with another change
    ├── InvalidState                INVALID_STATE, 400: the operation does not fit the object's lifecycle
    ├── RateLimited                 REQUEST_LIMIT_EXCEEDED, 429: too many failed logins; wait and try again
    ├── TemporarilyUnavailable      TEMPORARILY_UNAVAILABLE, 503: the database or a store cannot be reached
    └── DeliveryError               INTERNAL_ERROR, 500: logged data could not be delivered (client side)

``InvalidState`` deliberately maps to 400, not MLflow's 500: MLflow's client retries 5xx answers, and a
deterministic refusal must not be retried.
"""

from __future__ import annotations

from typing import Any

#: error_code -> HTTP status, MLflow's mapping (reference §1.2). Codes not listed map to 500.
ERROR_STATUS: dict[str, int] = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "INVALID_STATE": 400,
    "UNAUTHENTICATED": 401,
    "CUSTOMER_UNAUTHORIZED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "NOT_FOUND": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "ABORTED": 409,
    "ALREADY_EXISTS": 409,
    "RESOURCE_CONFLICT": 409,
    "REQUEST_LIMIT_EXCEEDED": 429,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL_ERROR": 500,
    "DATA_LOSS": 500,
    "NOT_IMPLEMENTED": 501,
    "TEMPORARILY_UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


def status_for(error_code: str) -> int:
    """The HTTP status for an MLflow ``error_code``; unknown codes are 500."""
    return ERROR_STATUS.get(error_code, 500)


class ModelyardError(Exception):
    """Base of every modelyard error. Carries an MLflow ``error_code`` and free-form context."""

    error_code: str = "INTERNAL_ERROR"

    def __init__(self, message: str, *, error_code: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        if error_code is not None:
            self.error_code = error_code
        self.context = context

    @property
    def http_status(self) -> int:
        return status_for(self.error_code)

    def to_dict(self) -> dict[str, str]:
        return {"error_code": self.error_code, "message": self.message}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, error_code={self.error_code!r})"


class InvalidInput(ModelyardError):
    """A field of a request is missing, of the wrong type, too long or out of range."""

    error_code = "INVALID_PARAMETER_VALUE"


class MalformedFilter(InvalidInput):
    """A search filter or ``order_by`` clause does not parse; the message says where it broke."""


class BadRequest(ModelyardError):
    """The request as a whole is unusable: a body that is not JSON, or not an object."""

    error_code = "BAD_REQUEST"


class AlreadyExists(ModelyardError):
    """A name or key is already taken (an experiment name, say). 400, as MLflow answers."""

    error_code = "RESOURCE_ALREADY_EXISTS"


class NotFound(ModelyardError):
    """The experiment, run or other object named by the request does not exist."""

    error_code = "RESOURCE_DOES_NOT_EXIST"


class EndpointNotFound(ModelyardError):
    """No route answers at the requested path."""

    error_code = "ENDPOINT_NOT_FOUND"


class Unauthenticated(ModelyardError):
    """The request carries no valid credentials."""

    error_code = "UNAUTHENTICATED"


class PermissionDenied(ModelyardError):
    """The caller is known but may not do this."""

    error_code = "PERMISSION_DENIED"


class Conflict(ModelyardError):
    """The change raced with another one; trying again may succeed."""

    error_code = "RESOURCE_CONFLICT"


class InvalidState(ModelyardError):
    """The object's lifecycle forbids the operation (logging to a deleted run, say)."""

    error_code = "INVALID_STATE"


class RateLimited(ModelyardError):
    """Too many failed logins for this account: it is locked for a while (``retry_after_s``)."""

    error_code = "REQUEST_LIMIT_EXCEEDED"


class TemporarilyUnavailable(ModelyardError):
    """The database or another backing service cannot be reached right now."""

    error_code = "TEMPORARILY_UNAVAILABLE"


class DeliveryError(ModelyardError):
    """The client could not deliver logged data after its retries; nothing was silently dropped."""

    error_code = "INTERNAL_ERROR"


_BY_CODE: dict[str, type[ModelyardError]] = {
    "INVALID_PARAMETER_VALUE": InvalidInput,
    "BAD_REQUEST": BadRequest,
    "RESOURCE_ALREADY_EXISTS": AlreadyExists,
    "RESOURCE_DOES_NOT_EXIST": NotFound,
    "NOT_FOUND": NotFound,
    "ENDPOINT_NOT_FOUND": EndpointNotFound,
    "UNAUTHENTICATED": Unauthenticated,
    "PERMISSION_DENIED": PermissionDenied,
    "RESOURCE_CONFLICT": Conflict,
    "INVALID_STATE": InvalidState,
    "REQUEST_LIMIT_EXCEEDED": RateLimited,
    "TEMPORARILY_UNAVAILABLE": TemporarilyUnavailable,
}


def from_error_code(error_code: str, message: str) -> ModelyardError:
    """Rebuild the exception class for an ``error_code`` received over the wire."""
    cls = _BY_CODE.get(error_code, ModelyardError)
    return cls(message, error_code=error_code)


__all__ = [
    "ERROR_STATUS",
    "AlreadyExists",
    "BadRequest",
    "Conflict",
    "DeliveryError",
    "EndpointNotFound",
    "InvalidInput",
    "InvalidState",
    "MalformedFilter",
    "ModelyardError",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "TemporarilyUnavailable",
    "Unauthenticated",
    "from_error_code",
    "status_for",
]
