"""Registry pages: models list, a model, a version (stage, requests with Approve / Reject / Cancel,
comments, activity log); the webhook pages of :mod:`modelyard.server.ui.webhooks` come with them.
Handlers call the app's :class:`~modelyard.service.registry.RegistryService` as the user the request
names (the same rule as the REST API: HTTP Basic username, else ``X-Modelyard-User``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import InvalidInput, ModelyardError
from modelyard.server.auth import readable_page
from modelyard.server.auth.targets import MODEL
from modelyard.server.deps import request_user
from modelyard.server.ui.artifacts import mlmodel_summary
from modelyard.server.ui.markdown import render_markdown
from modelyard.server.ui.pages import Routes, error_page, read_form, redirect, render
from modelyard.server.ui.webhooks import router as webhook_routes

router = Routes()

STAGES = ("None", "Staging", "Production", "Archived")
#: errors a form shows on its page instead of an error page
MODELS_PER_PAGE = 50
SHOWN = ("INVALID_PARAMETER_VALUE", "INVALID_STATE", "RESOURCE_ALREADY_EXISTS", "PERMISSION_DENIED")


def registry(request: Request) -> Any:
    return request.app.state.registry.for_user(request_user(request))


def model_url(name: str, version: str | int | None = None) -> str:
    url = f"/models/{quote(name, safe='')}"
    return f"{url}/versions/{version}" if version is not None else url


def _with_error(url: str, message: str) -> str:
    return url + ("&" if "?" in url else "?") + "error=" + quote(message, safe="")


def _ctx(request: Request, **context: Any) -> dict[str, Any]:
    return {
        "nav": "models",
        "user": request_user(request),
        "model_url": model_url,
        "form_error": request.query_params.get("error"),
        **context,
    }


@router.get("/models")
def models_page(request: Request) -> Response:
    svc = registry(request)
    text = request.query_params.get("filter", "")
    order = request.query_params.get("order_by", "")
    token = request.query_params.get("page_token") or None
    models: list[Any] = []
    next_token, error = None, None
    try:
        orders = [order] if order else []

        def fetch(page_token: str | None, max_results: int) -> Any:
            return svc.search_registered_models(text or None, max_results, orders, page_token)

        models, next_token = readable_page(
            request, MODEL, token, MODELS_PER_PAGE, fetch, lambda m: m.name
        )
    except InvalidInput as exc:
        error = exc.message
    return render(
        request,
        "models.html",
        status_code=400 if error else 200,
        **_ctx(
            request,
            title="Registered models",
            models=models,
            next_token=next_token,
            filter=text,
            order_by=order,
            error=error,
        ),
    )


@router.get("/models/{name}")
def model_page(request: Request, name: str) -> Response:
    svc = registry(request)
    try:
        model = svc.get_registered_model(name)
        escaped = name.replace("'", "''")
        versions = list(
            svc.search_model_versions(f"name = '{escaped}'", 200, ["version_number DESC"]).items
        )
        activities = svc.list_activities(name)
    except ModelyardError as exc:
        return error_page(request, exc)
    return render(
        request,
        "model.html",
        **_ctx(
            request,
            title=model.name,
            model=model,
            versions=versions,
            activities=activities[:200],
            description_html=render_markdown(model.description or ""),
        ),
    )


@router.get("/models/{name}/versions/{version}")
def version_page(request: Request, name: str, version: str) -> Response:
    svc = registry(request)
    try:
        mv = svc.get_model_version(name, version)
        requests = svc.list_transition_requests(name, version)
        comments = svc.list_comments(name, version)
        activities = svc.list_activities(name, version)
    except ModelyardError as exc:
        return error_page(request, exc)
    return render(
        request,
        "version.html",
        **_ctx(
            request,
            title=f"{mv.name} version {mv.version}",
            mv=mv,
            pending=[r for r in requests if r.status == "PENDING"],
            resolved=[r for r in requests if r.status != "PENDING"],
            comments=comments,
            activities=activities[:200],
            stages=STAGES,
            signature=_signature(request, svc, mv),
            description_html=render_markdown(mv.description or ""),
        ),
    )


def _signature(request: Request, svc: Any, mv: Any) -> dict[str, Any]:
    """The version's MLmodel summary, read through the artifact service (an error message if not)."""
    try:
        location = svc.get_model_version_download_uri_for(mv)
        store, path = request.app.state.artifacts.resolve(location, "MLmodel")
        stat = store.stat(path)
        if stat is None or stat.is_dir:
            return {"error": "The version's files have no MLmodel file."}
        text = b"".join(store.read(path, 0, min(stat.size, 256 * 1024) - 1)).decode(
            "utf-8", "replace"
        )
    except ModelyardError as exc:
        return {"error": exc.message}
    summary = mlmodel_summary(text)
    return {"model": summary} if summary else {"error": "The MLmodel file does not parse."}


# ------------------------------------------------------------------------------ form posts
async def _post(request: Request, back: str, call: Any, *args: Any, **kwargs: Any) -> Response:
    try:
        await run_in_threadpool(call, *args, **kwargs)
    except ModelyardError as exc:
        if exc.error_code in SHOWN:
            return redirect(_with_error(back, exc.message))
        return error_page(request, exc)
    return redirect(back)


def _field(form: dict[str, list[str]], name: str, default: str = "") -> str:
    return form.get(name, [default])[0]


@router.post("/ui/models/create")
async def create_model(request: Request) -> Response:
    form = await read_form(request)
    name = _field(form, "name").strip()
    return await _post(
        request,
        model_url(name) if name else "/models",
        registry(request).create_registered_model,
        name,
        (),
        _field(form, "description") or None,
    )


@router.post("/ui/models/{name}/description")
async def model_description(request: Request, name: str) -> Response:
    form = await read_form(request)
    svc = registry(request)
    return await _post(
        request, model_url(name), svc.update_registered_model, name, _field(form, "description")
    )


@router.post("/ui/models/{name}/versions/{version}/{action}")
async def version_action(request: Request, name: str, version: str, action: str) -> Response:
    form = await read_form(request)
    svc = registry(request)
    back = model_url(name, version)
    comment = _field(form, "comment").strip() or None
    archive = _field(form, "archive_existing_versions") == "true"
    request_id = _field(form, "request_id") or None
    if action == "request":
        call: Any = svc.create_transition_request
        return await _post(
            request, back, call, name, version, _field(form, "stage"), comment, archive
        )
    if action == "transition":
        call = svc.transition_model_version_stage
        return await _post(
            request, back, call, name, version, _field(form, "stage"), archive, comment
        )
    if action in ("approve", "reject", "cancel"):
        call = {
            "approve": svc.approve_transition_request,
            "reject": svc.reject_transition_request,
            "cancel": svc.cancel_transition_request,
        }[action]
        return await _post(request, back, call, comment=comment, request_id=request_id)
    if action == "comment":
        return await _post(
            request, back, svc.create_comment, name, version, _field(form, "comment")
        )
    if action == "description":
        desc = _field(form, "description")
        return await _post(request, back, svc.update_model_version, name, version, desc)
    if action == "alias":
        alias = _field(form, "alias").strip()
        return await _post(request, back, svc.set_registered_model_alias, name, alias, version)
    return error_page(request, InvalidInput(f"Unknown action {action!r}."))


# ------------------------------------------------------------------------------ webhooks
router.routes.extend(webhook_routes.routes)  # their pages and forms: modelyard.server.ui.webhooks
