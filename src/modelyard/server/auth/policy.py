"""The authorization policy: every route of the app, mapped to what a caller needs to use it.

Two tables, read by :mod:`modelyard.server.auth.guard`:

* :data:`RPC_RULES`, keyed by ``(RpcTable path, HTTP method)`` (``"runs/log-batch", "POST"``), for
  the RPCs of :mod:`modelyard.server.routes` (both their ``/api`` and ``/ajax-api`` URLs);
* :data:`ROUTE_RULES`, keyed by ``(route template, HTTP method)``, for everything else: the artifact
  proxy, downloads, meta routes and the UI's pages, data endpoints and form posts.

A :class:`Rule` says *public* (no login), *authenticated* (any logged-in user), *admin*, or which
resources the request touches and what it needs on each (a resolver of
:mod:`modelyard.server.auth.targets`). What is not in the tables is refused (403): the guard fails
closed, and ``tests/auth/test_authz_routes.py`` fails on any route of the app without a rule.
Admins pass every rule. Levels follow :mod:`modelyard.entities.auth`: READ sees, EDIT changes (log,
tag, rename, create runs and versions, comment), MANAGE deletes and approves Production.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from modelyard.entities.auth import ResourceType
from modelyard.server.auth import targets as t
from modelyard.server.auth.targets import EDIT, MANAGE, READ, Ctx, Resolver, Target

Json = dict[str, Any]
EXPERIMENT, MODEL = ResourceType.EXPERIMENT, ResourceType.REGISTERED_MODEL


class Access(enum.Enum):
    PUBLIC = "public"
    AUTHENTICATED = "authenticated"
    ADMIN = "admin"
    RESOURCE = "resource"


@dataclass(frozen=True, slots=True)
class Rule:
    """What one route needs.

    ``prepare`` may change the RPC request in ``ctx.values`` before the handler runs (narrow a
    search to readable experiments) and return an answer to send instead (nothing readable);
    ``after`` may change the RPC's answer (filter a search, grant a creator MANAGE); ``page`` is the
    same for a paged search, and may fetch further pages (``page(ctx, answer, fetch)``, ``fetch`` runs
    the handler on other request values) to fill the one it answers; ``created`` is
    called with the ``Location`` of a UI form post's redirect; ``form`` makes the guard read a UI
    form body before resolving (the handler reads it again).
    """

    access: Access
    targets: Resolver | None = None
    prepare: Callable[[Ctx], Json | None] | None = None
    after: Callable[[Ctx, Json], Json] | None = None
    page: Callable[[Ctx, Json, Callable[[Json], Json]], Json] | None = None
    created: Callable[[Ctx, str], None] | None = None
    form: bool = False


PUBLIC = Rule(Access.PUBLIC)
AUTHENTICATED = Rule(Access.AUTHENTICATED)
ADMIN = Rule(Access.ADMIN)


def need(resolver: Resolver, **extra: Any) -> Rule:
    return Rule(Access.RESOURCE, resolver, **extra)


def authenticated(**extra: Any) -> Rule:
    return Rule(Access.AUTHENTICATED, **extra)


# ------------------------------------------------------------------------------ searches and grants
def only_readable(name: str) -> Callable[[Ctx], Json | None]:
    """Narrow the request's list of experiment ids to those the caller may READ."""

    def prepare(ctx: Ctx) -> Json | None:
        asked = ctx.many(name)
        ctx.prefetch(EXPERIMENT, asked)
        kept = [e for e in asked if ctx.allows(EXPERIMENT, e, READ)]
        if asked and not kept:
            return {}  # nothing the caller may see: an empty page
        if len(kept) != len(asked):
            ctx.values[name] = kept
        return None

    return prepare


#: Most pages a filtered search reads to fill one answer; past it the answer is short, and its
#: ``next_page_token`` still continues exactly where it stopped.
MAX_PAGES_PER_ANSWER = 10
#: The following pages are read at least this long (a page of 1 is not refilled one item a query).
MIN_REFILL_PAGE = 100


def fill_page(
    items: list[Any],
    token: str | None,
    size: int,
    fetch: Callable[[str, int], tuple[list[Any], str | None]],
    keep: Callable[[list[Any]], list[Any]],
) -> tuple[list[Any], str | None]:
    """One page of a search the caller may see only part of: what ``keep`` keeps of ``items``
    (the first page, ``size`` long at most), refilled from the following pages.

    Without the refill a user who may read few of many items would get short or even empty pages
    with a next token, and clients that stop at the first short page would miss the rest. Further
    pages (``fetch(token, max_results)``, at least :data:`MIN_REFILL_PAGE` long) are read until
    ``size`` items are kept or the search ends, :data:`MAX_PAGES_PER_ANSWER` pages at most (the
    first included). When a page holds more than the answer still needs,
    it is read once more up to its last needed item, so the token returned resumes right after it:
    the token stays the store's own, and no item is skipped or repeated across pages.
    """
    kept = keep(items)
    pages = 1
    while token and len(kept) < size and pages < MAX_PAGES_PER_ANSWER:
        fetched, next_token = fetch(token, max(size, MIN_REFILL_PAGE))
        pages += 1
        more = keep(fetched)
        need = size - len(kept)
        if len(more) > need:  # read this page again, only up to the last item the answer takes
            last = next(n for n, item in enumerate(fetched) if item is more[need - 1])
            fetched, next_token = fetch(token, last + 1)
            more = keep(fetched)[:need]
        kept += more
        token = next_token
    return kept, token


def readable_answer(key: str, resource_type: ResourceType, id_of: Callable[[Json], str]) -> Any:
    """A search RPC's answer with only the ``key`` items the caller may READ, as :func:`fill_page`
    makes it (the handler is run again for the following pages)."""

    def keep(ctx: Ctx, items: list[Json]) -> list[Json]:
        ctx.prefetch(resource_type, [str(id_of(i)) for i in items])
        return [i for i in items if ctx.allows(resource_type, str(id_of(i)), READ)]

    def page(ctx: Ctx, result: Json, handler: Callable[[Json], Json]) -> Json:
        def fetch(token: str, size: int) -> tuple[list[Json], str | None]:
            answer = handler({**ctx.values, "page_token": token, "max_results": size})
            return answer.get(key) or [], answer.get("next_page_token")

        size = ctx.values.get("max_results")
        items, token = result.get(key) or [], result.get("next_page_token")
        if isinstance(size, int) and size > 0:
            kept, token = fill_page(items, token, size, fetch, lambda i: keep(ctx, i))
        else:
            kept = keep(ctx, items)
        answer = {k: v for k, v in result.items() if k not in (key, "next_page_token")}
        if kept:
            answer[key] = kept
        if token:
            answer["next_page_token"] = token
        return answer

    return page


def _grant(ctx: Ctx, resource_type: ResourceType, resource_id: str) -> None:
    ctx.auth.grant_creator(ctx.principal.username, resource_type, resource_id)


def grant_experiment(ctx: Ctx, result: Json) -> Json:
    _grant(ctx, EXPERIMENT, str(result["experiment_id"]))
    return result


def grant_model(ctx: Ctx, result: Json) -> Json:
    _grant(ctx, MODEL, str(result["registered_model"]["name"]))
    return result


def renamed_model(ctx: Ctx, result: Json) -> Json:
    """Grants are kept by name, so they move to the new name: everyone who could reach the model
    still can (the one who renamed it had MANAGE on the old name, and keeps it)."""
    old, new = str(ctx.values.get("name") or ""), str(result["registered_model"]["name"])
    if old:
        ctx.auth.rename_resource(MODEL, old, new)
    return result


def deleted_model(ctx: Ctx, result: Json) -> Json:
    """A deleted model's name is free again: its grants go with it."""
    ctx.auth.forget_resource(MODEL, str(ctx.values.get("name") or ""))
    return result


def run_as_caller(ctx: Ctx) -> Json | None:
    """A run's ``user_id`` is the authenticated user, never a name the client chooses."""
    ctx.values["user_id"] = ctx.principal.username
    return None


_NEW_EXPERIMENT = re.compile(r"^/experiments/([^/?#]+)$")
_NEW_MODEL = re.compile(r"^/models/([^/?#]+)$")


def created_experiment(ctx: Ctx, location: str) -> None:
    if match := _NEW_EXPERIMENT.match(location):
        _grant(ctx, EXPERIMENT, unquote(match.group(1)))


def created_model(ctx: Ctx, location: str) -> None:
    if match := _NEW_MODEL.match(location):
        _grant(ctx, MODEL, unquote(match.group(1)))


# ------------------------------------------------------------------------------ the RPC table
_LM = t.logged_model
_SEARCH_EXPERIMENTS = authenticated(
    page=readable_answer("experiments", EXPERIMENT, lambda e: e["experiment_id"])
)
RPC_RULES: dict[tuple[str, str], Rule] = {
    # experiments
    ("experiments/create", "POST"): authenticated(after=grant_experiment),
    ("experiments/search", "GET"): _SEARCH_EXPERIMENTS,
    ("experiments/search", "POST"): _SEARCH_EXPERIMENTS,
    ("experiments/get", "GET"): need(t.experiment(READ)),
    ("experiments/get-by-name", "GET"): need(t.experiment_by_name(READ)),
    ("experiments/delete", "POST"): need(t.experiment(MANAGE)),
    ("experiments/restore", "POST"): need(t.experiment(MANAGE)),
    ("experiments/update", "POST"): need(t.experiment(EDIT)),
    ("experiments/set-experiment-tag", "POST"): need(t.experiment(EDIT)),
    ("experiments/delete-experiment-tag", "POST"): need(t.experiment(EDIT)),
    ("experiments/search-datasets", "POST"): authenticated(prepare=only_readable("experiment_ids")),
    # runs
    ("runs/create", "POST"): need(t.experiment(EDIT), prepare=run_as_caller),
    ("runs/update", "POST"): need(t.run(EDIT)),
    ("runs/delete", "POST"): need(t.run(MANAGE)),
    ("runs/restore", "POST"): need(t.run(MANAGE)),
    ("runs/get", "GET"): need(t.run(READ)),
    ("runs/search", "POST"): authenticated(prepare=only_readable("experiment_ids")),
    ("runs/log-metric", "POST"): need(t.run(EDIT)),
    ("runs/log-parameter", "POST"): need(t.run(EDIT)),
    ("runs/set-tag", "POST"): need(t.run(EDIT)),
    ("runs/delete-tag", "POST"): need(t.run(EDIT)),
    ("runs/log-batch", "POST"): need(t.run(EDIT)),
    ("runs/log-inputs", "POST"): need(t.run(EDIT)),
    ("runs/outputs", "POST"): need(t.run(EDIT)),
    # metrics
    ("metrics/get-history", "GET"): need(t.run(READ)),
    ("metrics/get-history-bulk-interval", "GET"): need(t.runs(READ, "run_ids")),
    ("metrics/get-history-bulk", "GET"): need(t.runs(READ, "run_id")),
    # logged models (MLflow 3)
    ("logged-models", "POST"): need(t.experiment(EDIT)),
    ("logged-models/search", "POST"): authenticated(prepare=only_readable("experiment_ids")),
    ("logged-models/{model_id}", "GET"): need(_LM(READ)),
    ("logged-models/{model_id}", "PATCH"): need(_LM(EDIT)),
    ("logged-models/{model_id}", "DELETE"): need(_LM(MANAGE)),
    ("logged-models/{model_id}/tags", "PATCH"): need(_LM(EDIT)),
    ("logged-models/{model_id}/tags/{tag_key:path}", "DELETE"): need(_LM(EDIT)),
    ("logged-models/{model_id}/params", "POST"): need(_LM(EDIT)),
    # registered models
    ("registered-models/create", "POST"): authenticated(after=grant_model),
    ("registered-models/rename", "POST"): need(t.model(MANAGE), after=renamed_model),
    ("registered-models/update", "PATCH"): need(t.model(EDIT)),
    ("registered-models/delete", "DELETE"): need(t.model(MANAGE), after=deleted_model),
    ("registered-models/get", "GET"): need(t.model(READ)),
    ("registered-models/search", "GET"): authenticated(
        page=readable_answer("registered_models", MODEL, lambda m: m["name"])
    ),
    ("registered-models/get-latest-versions", "POST"): need(t.model(READ)),
    ("registered-models/get-latest-versions", "GET"): need(t.model(READ)),
    ("registered-models/set-tag", "POST"): need(t.model(EDIT)),
    ("registered-models/delete-tag", "DELETE"): need(t.model(EDIT)),
    ("registered-models/alias", "POST"): need(t.model(EDIT)),
    ("registered-models/alias", "DELETE"): need(t.model(EDIT)),
    ("registered-models/alias", "GET"): need(t.model(READ)),
    ("registered-models/activities", "GET"): need(t.model(READ)),
    # model versions
    ("model-versions/create", "POST"): need(t.combine(t.model(EDIT), t.version_source)),
    ("model-versions/update", "PATCH"): need(t.model(EDIT)),
    ("model-versions/transition-stage", "POST"): need(t.model_stage()),
    ("databricks/model-versions/transition-stage", "POST"): need(t.model_stage()),
    ("model-versions/delete", "DELETE"): need(t.model(MANAGE)),
    ("model-versions/get", "GET"): need(t.model(READ)),
    ("model-versions/search", "GET"): authenticated(
        page=readable_answer("model_versions", MODEL, lambda v: v["name"])
    ),
    ("model-versions/get-download-uri", "GET"): need(t.model(READ)),
    ("model-versions/set-tag", "POST"): need(t.model(EDIT)),
    ("model-versions/delete-tag", "DELETE"): need(t.model(EDIT)),
    ("model-versions/activities", "GET"): need(t.model(READ)),
    # transition requests and comments (the service checks requester and author)
    ("transition-requests/create", "POST"): need(t.model(EDIT)),
    ("transition-requests/approve", "POST"): need(t.transition_request(resolving=True)),
    ("transition-requests/reject", "POST"): need(t.transition_request(resolving=True)),
    ("transition-requests/delete", "DELETE"): need(t.transition_request(resolving=False)),
    ("transition-requests/list", "GET"): need(t.model(READ)),
    ("comments/create", "POST"): need(t.model(EDIT)),
    ("comments/update", "PATCH"): need(t.comment(EDIT)),
    ("comments/delete", "DELETE"): need(t.comment(EDIT)),
    ("comments/list", "GET"): need(t.model(READ)),
    # webhooks fire on every model's events: they are the admin's
    ("webhooks", "POST"): ADMIN,
    ("webhooks", "GET"): ADMIN,
    ("webhooks/{webhook_id}", "GET"): ADMIN,
    ("webhooks/{webhook_id}", "PATCH"): ADMIN,
    ("webhooks/{webhook_id}", "DELETE"): ADMIN,
    ("webhooks/{webhook_id}/test", "POST"): ADMIN,
    ("webhooks/{webhook_id}/deliveries", "GET"): ADMIN,
}


def _identity_rules() -> dict[tuple[str, str], Rule]:
    """The identity endpoints (users, tokens, groups, grants, audit): their service checks the caller
    (self, MANAGE on the resource, admin); :data:`~modelyard.server.routes.auth.ACCESS` names the
    admin-only ones, refused here already."""
    from modelyard.server.routes.auth import ACCESS

    return {key: ADMIN if level == "admin" else AUTHENTICATED for key, level in ACCESS.items()}


RPC_RULES.update(_identity_rules())


# ------------------------------------------------------------------------------ other routes
def _ui_experiment_action(ctx: Ctx) -> list[Target]:
    level = EDIT if ctx.one("action") == "rename" else MANAGE
    return [Target(EXPERIMENT, ctx.one("experiment_id"), level)]


def _ui_version_action(ctx: Ctx) -> list[Target]:
    """The version page's forms: what each action needs, on the model it really touches."""
    action = ctx.one("action")
    if action in ("approve", "reject"):
        return t.transition_request(resolving=True)(ctx)
    if action == "cancel":
        return t.transition_request(resolving=False)(ctx)
    if action == "transition":
        return t.model_stage()(ctx)
    return t.model(EDIT)(ctx)  # request, comment, description, alias (and unknown: refused later)


_PROXY = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")
ROUTE_RULES: dict[tuple[str, str], Rule] = {
    ("/health", "GET"): PUBLIC,
    ("/version", "GET"): PUBLIC,
    ("/api/3.0/mlflow/server-info", "GET"): PUBLIC,  # static facts about the server, no data
    ("/ajax-api/3.0/mlflow/server-info", "GET"): PUBLIC,
    ("/api/2.0/modelyard/openapi.json", "GET"): PUBLIC,  # the API's description, no data
    ("/ajax-api/2.0/modelyard/openapi.json", "GET"): PUBLIC,
    ("/static/ui/{name}", "GET"): PUBLIC,
    ("/login", "GET"): PUBLIC,
    ("/login", "POST"): PUBLIC,
    ("/logout", "POST"): PUBLIC,
    # tracking API routes that are not RPCs, and downloads
    ("/api/2.0/mlflow/artifacts/list", "GET"): need(t.run(READ)),
    ("/ajax-api/2.0/mlflow/artifacts/list", "GET"): need(t.run(READ)),
    ("/get-artifact", "GET"): need(t.run(READ)),
    ("/model-versions/get-artifact", "GET"): need(t.model(READ)),
    # UI pages, data and forms
    ("/", "GET"): AUTHENTICATED,  # the experiments list shows only readable ones
    ("/experiments", "GET"): AUTHENTICATED,
    ("/ui/experiments/create", "POST"): authenticated(created=created_experiment),
    ("/ui/experiments/{experiment_id}/{action}", "POST"): need(_ui_experiment_action),
    ("/experiments/{experiment_id}", "GET"): need(t.experiment(READ)),
    ("/runs", "GET"): need(t.experiments(READ, "experiments")),
    ("/ui/runs/{action}", "POST"): need(t.runs(MANAGE, "run_id"), form=True),
    ("/runs/{run_id}", "GET"): need(t.run(READ)),
    ("/ui/runs/{run_id}/note", "POST"): need(t.run(EDIT)),
    ("/compare", "GET"): need(t.runs(READ, "runs")),
    ("/ui/data/metric-history", "GET"): need(t.runs(READ, "run_id")),
    ("/ui/data/run-keys", "GET"): need(t.experiments(READ, "experiments")),
    ("/models", "GET"): AUTHENTICATED,  # the list shows only readable models
    ("/models/{name}", "GET"): need(t.model(READ)),
    ("/models/{name}/versions/{version}", "GET"): need(t.model(READ)),
    ("/ui/models/create", "POST"): authenticated(created=created_model),
    ("/ui/models/{name}/description", "POST"): need(t.model(EDIT)),
    ("/ui/models/{name}/versions/{version}/{action}", "POST"): need(_ui_version_action, form=True),
    ("/webhooks", "GET"): ADMIN,
    ("/webhooks/{webhook_id}", "GET"): ADMIN,
    ("/ui/webhooks/create", "POST"): ADMIN,
    ("/ui/webhooks/{webhook_id}/{action}", "POST"): ADMIN,
    # an artifacts-only server answers 503 on these (nothing is read)
    ("/api/{rest:path}", "*"): AUTHENTICATED,
    ("/ajax-api/{rest:path}", "*"): AUTHENTICATED,
    ("/get-artifact", "*"): AUTHENTICATED,
    ("/model-versions/get-artifact", "*"): AUTHENTICATED,
    ("/graphql", "*"): AUTHENTICATED,
}
for _prefix in _PROXY:
    ROUTE_RULES.update(
        {
            (f"{_prefix}/artifacts", "GET"): need(t.proxy_path(READ)),
            (f"{_prefix}/artifacts/{{path:path}}", "GET"): need(t.proxy_path(READ)),
            (f"{_prefix}/artifacts/{{path:path}}", "PUT"): need(t.proxy_path(EDIT)),
            (f"{_prefix}/artifacts/{{path:path}}", "DELETE"): need(t.proxy_path(MANAGE)),
            (f"{_prefix}/mpu/create/{{path:path}}", "POST"): need(t.proxy_path(EDIT)),
            (f"{_prefix}/mpu/complete/{{path:path}}", "POST"): need(t.proxy_path(EDIT)),
            (f"{_prefix}/mpu/abort/{{path:path}}", "POST"): need(t.proxy_path(EDIT)),
            (f"{_prefix}/presigned/{{path:path}}", "GET"): need(t.proxy_path(READ)),
        }
    )


def rpc_rule(path: str, method: str) -> Rule | None:
    return RPC_RULES.get((path, method))


def route_rule(template: str, method: str) -> Rule | None:
    """The rule of a non-RPC route; HEAD is GET's, ``*`` any method's."""
    wanted = "GET" if method == "HEAD" else method
    return ROUTE_RULES.get((template, wanted)) or ROUTE_RULES.get((template, "*"))
