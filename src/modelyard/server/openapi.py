"""An OpenAPI 3 description of the REST API, generated from the server's own route tables.

FastAPI's generator sees nothing here (every RPC is a generic endpoint that parses its own body), so
this module writes the document from what the server really reads:

* every RPC of an :class:`~modelyard.server.rpc.RpcTable` the app serves: its URL, method and its
  :class:`~modelyard.schemas.fields.Message` fields, as query parameters for GET and as a JSON body
  otherwise, typed (int64, double, enums with their names, nested messages, repeated fields);
  ``{model_id}``-style path parameters are path parameters;
* the artifact proxy, ``artifacts/list``, the download routes and the meta routes, described by hand
  in :data:`ROUTE_DOCS` (their bodies are files or small JSON objects);
* every error as ``{"error_code", "message"}``.

The document is built once per app, on the first request to ``/api/2.0/modelyard/openapi.json``, by
walking the app's routes, so it lists exactly what this server (this configuration) answers. The test
suite fuzzes every operation of it with schemathesis (``tests/security/test_fuzz_openapi.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import modelyard
from modelyard.schemas import fields as f
from modelyard.server.responses import OrjsonResponse
from modelyard.server.rpc import Rpc, RpcTable

OPENAPI_PATH = "/api/2.0/modelyard/openapi.json"
Json = dict[str, Any]
_CONVERTER = re.compile(r"\{(\w+)(?::\w+)?\}")

_SCALARS: dict[str, Json] = {
    f.STRING: {"type": "string"},
    f.ID: {"type": "string"},
    f.INT64: {"type": "integer", "format": "int64"},
    f.INT32: {"type": "integer", "format": "int32"},
    f.DOUBLE: {"type": "number", "format": "double"},
    f.BOOL: {"type": "boolean"},
}
ERROR_SCHEMA: Json = {
    "type": "object",
    "required": ["error_code", "message"],
    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
}
_ERROR = {
    "description": "An MLflow-style error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_JSON_OK = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
_FILE_OK = {
    "description": "The file",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}
_TEXT_OK = {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}


# ------------------------------------------------------------------------------ field schemas
def field_schema(field: f.Field, components: Json) -> Json:
    """The JSON schema of one field's value (an array of them when repeated)."""
    if field.kind == f.ENUM:
        one: Json = {"type": "string", "enum": list(field.choices)}
    elif field.kind == f.MESSAGE:
        assert field.message is not None
        one = {"$ref": f"#/components/schemas/{message_component(field.message, components)}"}
    else:
        one = dict(_SCALARS[field.kind])
        if field.kind == f.STRING and field.required and not field.allow_empty:
            one["minLength"] = 1
    return {"type": "array", "items": one} if field.repeated else one


def message_schema(message: f.Message, components: Json, skip: Iterable[str] = ()) -> Json:
    """An object schema with one property per field (snake_case names, as clients send them)."""
    skipped = set(skip)
    properties = {
        fl.name: field_schema(fl, components) for fl in message.fields if fl.name not in skipped
    }
    required = [fl.name for fl in message.fields if fl.required and fl.name not in skipped]
    schema: Json = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def message_component(message: f.Message, components: Json) -> str:
    """Register a nested message under ``components/schemas`` (once) and return its name."""
    seen: dict[int, str] = components.setdefault("x-messages", {})
    name = seen.get(id(message))
    if name is None:
        name, n = message.name, 1
        while name in components:  # another message with the same name: number this one
            n += 1
            name = f"{message.name}{n}"
        seen[id(message)] = name
        components[name] = {}  # placeholder first: a message may refer to itself
        components[name] = message_schema(message, components)
    return name


# ------------------------------------------------------------------------------ operations
def _path_names(url: str) -> list[str]:
    return [m.group(1) for m in _CONVERTER.finditer(url)]


def _openapi_path(url: str) -> str:
    return _CONVERTER.sub(r"{\1}", url)


def _path_parameters(url: str) -> list[Json]:
    return [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for n in _path_names(url)
    ]


def rpc_operation(rpc: Rpc, method: str, url: str, components: Json) -> Json:
    """The operation object of one RPC at one URL and method."""
    in_path = _path_names(url)
    op: Json = {
        "operationId": f"{rpc.handler.__name__}_{method.lower()}_{_slug(url)}",
        "summary": (rpc.handler.__doc__ or rpc.path).strip().splitlines()[0],
        "tags": [rpc.path.split("/")[0]],
        "parameters": _path_parameters(url),
        "responses": {"200": _JSON_OK, "default": _ERROR},
    }
    if method == "GET":
        for fl in rpc.request.fields:
            if fl.name in in_path or fl.kind == f.MESSAGE:
                continue  # nested messages cannot travel in a query string
            param: Json = {
                "name": fl.name,
                "in": "query",
                "required": fl.required,
                "schema": field_schema(fl, components),
            }
            if fl.repeated:
                param["style"], param["explode"] = "form", True
            op["parameters"].append(param)
    else:
        body = message_schema(rpc.request, components, skip=in_path)
        op["requestBody"] = {
            "required": method != "DELETE",
            "content": {"application/json": {"schema": body}},
        }
    return op


def _slug(url: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "_", url).strip("_")


def _query(name: str, required: bool = False) -> Json:
    return {"name": name, "in": "query", "required": required, "schema": {"type": "string"}}


def _json_body(schema: Json) -> Json:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_STR = {"type": "string"}
_MPU_PATH = {"path": {"type": "string", "minLength": 1}}
#: The hand-written operations of routes that are not RPCs, by endpoint name and method.
ROUTE_DOCS: dict[str, dict[str, Json]] = {
    "proxy_list": {"GET": {"summary": "List a folder of the proxy", "query": ["path"]}},
    "proxy_download": {
        "GET": {"summary": "Download a file through the proxy", "ok": _FILE_OK},
        "HEAD": {"summary": "A file's size and ETag", "ok": _FILE_OK},
    },
    "proxy_upload": {
        "PUT": {
            "summary": "Upload a file through the proxy (streamed)",
            "body": {
                "required": True,
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            },
        }
    },
    "proxy_delete": {"DELETE": {"summary": "Delete a file or folder of the proxy"}},
    "mpu_create": {
        "POST": {
            "summary": "Start a multipart upload",
            "body": _json_body(
                {
                    "type": "object",
                    "required": ["path"],
                    "properties": {**_MPU_PATH, "num_parts": {"type": "integer"}},
                }
            ),
        }
    },
    "mpu_complete": {
        "POST": {
            "summary": "Complete a multipart upload",
            "body": _json_body(
                {
                    "type": "object",
                    "required": ["path", "upload_id", "parts"],
                    "properties": {
                        **_MPU_PATH,
                        "upload_id": _STR,
                        "parts": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "part_number": {"type": "integer"},
                                    "etag": _STR,
                                    "url": _STR,
                                },
                            },
                        },
                    },
                }
            ),
        }
    },
    "mpu_abort": {
        "POST": {
            "summary": "Abort a multipart upload",
            "body": _json_body(
                {
                    "type": "object",
                    "required": ["path", "upload_id"],
                    "properties": {**_MPU_PATH, "upload_id": _STR},
                }
            ),
        }
    },
    "presigned": {"GET": {"summary": "A presigned download URL"}},
    "list_run_artifacts": {
        "GET": {"summary": "List a run's artifacts", "query": ["run_id", "run_uuid", "path"]}
    },
    "get_artifact": {
        "GET": {"summary": "Download a run's file", "query": ["run_id", "path"], "ok": _FILE_OK},
        "HEAD": {"summary": "A run file's size", "query": ["run_id", "path"], "ok": _FILE_OK},
    },
    "model_version_artifact": {
        "GET": {
            "summary": "Download a model version's file",
            "query": ["name", "version", "path"],
            "ok": _FILE_OK,
        },
        "HEAD": {
            "summary": "A model version file's size",
            "query": ["name", "version", "path"],
            "ok": _FILE_OK,
        },
    },
    "health": {"GET": {"summary": "Liveness", "ok": _TEXT_OK}},
    "version": {"GET": {"summary": "The server's version", "ok": _TEXT_OK}},
    "server_info": {"GET": {"summary": "What this server supports"}},
    "openapi_json": {"GET": {"summary": "This document"}},
    "artifacts_only": {
        method: {"summary": "Not served by an artifacts-only server"}
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
    },
}


def route_operation(name: str, method: str, url: str, spec: Json) -> Json:
    op: Json = {
        "operationId": f"{name}_{method.lower()}_{_slug(url)}",
        "summary": spec["summary"],
        "tags": ["artifacts" if "artifact" in url else "meta"],
        "parameters": _path_parameters(url) + [_query(q) for q in spec.get("query", ())],
        "responses": {"200": spec.get("ok", _JSON_OK), "default": _ERROR},
    }
    if "body" in spec:
        op["requestBody"] = spec["body"]
    return op


# ------------------------------------------------------------------------------ the document
def rpcs_by_url(tables: Iterable[RpcTable]) -> dict[tuple[str, str], Rpc]:
    return {
        (url, m): rpc
        for table in tables
        for rpc in table
        for url in rpc.urls()
        for m in rpc.methods
    }


def _flat_routes(routes: Iterable[Any]) -> Iterable[Route]:
    """Every plain route, also those of routers included with ``include_router`` (no prefix here)."""
    for route in routes:
        if isinstance(route, Route):
            yield route
        elif (router := getattr(route, "original_router", None)) is not None:
            yield from _flat_routes(router.routes)


def openapi_document(app: FastAPI, tables: Iterable[RpcTable] = ()) -> Json:
    """The OpenAPI 3.0 document of every JSON or file route ``app`` serves (UI pages left out)."""
    components: Json = {"Error": ERROR_SCHEMA}
    known = rpcs_by_url(tables)
    paths: dict[str, Json] = {}
    for route in _flat_routes(app.routes):
        url = _openapi_path(route.path)
        name = getattr(route.endpoint, "__name__", "")
        for method in sorted(route.methods or ()):
            rpc = getattr(route.endpoint, "rpc", None) or known.get((route.path, method))
            if isinstance(route, APIRoute) and rpc is not None:
                op = rpc_operation(rpc, method, route.path, components)
            elif (spec := ROUTE_DOCS.get(name, {}).get(method)) is not None:
                op = route_operation(name, method, route.path, spec)
            else:
                continue
            paths.setdefault(url, {})[method.lower()] = op
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "modelyard",
            "version": modelyard.__version__,
            "description": "MLflow's REST API as modelyard serves it (see docs/rest-api.md).",
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": {k: v for k, v in components.items() if k != "x-messages"}},
    }


def install_openapi(app: FastAPI, tables: Iterable[RpcTable]) -> None:
    """Serve the document at :data:`OPENAPI_PATH` (and under ``/ajax-api``), built on first use."""
    tables = tuple(tables)
    cache: list[Json] = []

    async def openapi_json(request: Request) -> Response:
        if not cache:
            cache.append(openapi_document(request.app, tables))
        return OrjsonResponse(cache[0])

    for url in (OPENAPI_PATH, "/ajax-api" + OPENAPI_PATH.removeprefix("/api")):
        app.router.routes.append(Route(url, openapi_json, methods=["GET"]))


__all__ = ["OPENAPI_PATH", "install_openapi", "openapi_document"]
