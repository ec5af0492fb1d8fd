"""Which resources a request touches, and the permission it needs on each.

A *resolver* is a function ``(ctx) -> list[Target]``: it reads the request's values from ``ctx`` (the
parsed RPC request, or a route's path, query and form values) and looks up what they belong to: a
run's experiment, a logged model's experiment, a transition request's or comment's registered model,
an artifact proxy path's experiment. Resolvers run in a worker thread (they may read the store) and
raise :class:`~modelyard.errors.PermissionDenied` for what only an admin may touch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelyard.entities.auth import Permission, Principal, ResourceType
from modelyard.errors import InvalidInput, ModelyardError, NotFound, PermissionDenied
from modelyard.store.artifacts.paths import safe_relative_path

EXPERIMENT = ResourceType.EXPERIMENT
MODEL = ResourceType.REGISTERED_MODEL
READ, EDIT, MANAGE = Permission.READ, Permission.EDIT, Permission.MANAGE
PRODUCTION = "production"


@dataclass(frozen=True, slots=True)
class Target:
    """``permission`` is needed on the resource ``(resource_type, resource_id)``."""

    resource_type: ResourceType
    resource_id: str
    permission: Permission


@dataclass
class Ctx:
    """One request as the policy sees it.

    ``values`` holds the parsed RPC request, or a route's path parameters, query and form values
    (the last of each); ``lists`` a route's repeated or comma-separated values.
    """

    app: Any
    principal: Principal
    values: dict[str, Any]
    lists: Mapping[str, list[str]] = field(default_factory=dict)
    auth: Any = None  # the AuthService (None when only resolving)
    _seen: dict[tuple[ResourceType, str], Permission] = field(default_factory=dict)

    def permission(self, resource_type: ResourceType, resource_id: str) -> Permission:
        """The principal's permission on one resource (remembered for this request)."""
        key = (resource_type, resource_id)
        if key not in self._seen:
            self._seen[key] = self.auth.permission(self.principal, resource_type, resource_id)
        return self._seen[key]

    def prefetch(self, resource_type: ResourceType, resource_ids: list[str]) -> None:
        """Look up many resources at once (one query), before filtering a page of results."""
        if self.principal.is_admin:
            return
        wanted = [r for r in dict.fromkeys(resource_ids) if (resource_type, r) not in self._seen]
        if wanted:
            found = self.auth.permissions(self.principal, resource_type, wanted)
            for rid, permission in found.items():
                self._seen[(resource_type, rid)] = permission

    def allows(self, resource_type: ResourceType, resource_id: str, needed: Permission) -> bool:
        if self.principal.is_admin:
            return True
        return self.permission(resource_type, resource_id).allows(needed)

    def one(self, name: str, *, required: bool = True) -> str:
        value = self.values.get(name)
        if value is None or value == "":
            if required:
                raise InvalidInput(f"Missing value for required parameter '{name}'.")
            return ""
        return str(value)

    def many(self, name: str) -> list[str]:
        if name in self.lists:
            return list(self.lists[name])
        value = self.values.get(name)
        if value is None or value == "":
            return []
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]

    @property
    def approval(self) -> Permission:
        """What approving (or directly making) a transition to Production needs."""
        settings = self.app.state.settings
        value = getattr(settings, "auth_production_approval_permission", MANAGE)
        return value if isinstance(value, Permission) else Permission.parse(str(value))

    def stage_level(self, stage: str) -> Permission:
        return self.approval if stage.strip().lower() == PRODUCTION else EDIT


Resolver = Callable[[Ctx], list[Target]]


def admin_only(what: str) -> PermissionDenied:
    return PermissionDenied(f"Only an admin may {what}.")


# ------------------------------------------------------------------------------ lookups
#: Most (run or logged model id -> experiment id) pairs an app remembers (``app.state.experiment_of``,
#: made by ``install_auth``): a run or logged model never moves to another experiment, so an answer
#: cannot go stale, and a request for a run no longer reads the run first.
EXPERIMENT_OF_MAX = 100_000


def _remembered(ctx: Ctx, key: str, look_up: Callable[[], Any]) -> str:
    cache: dict[str, str] | None = getattr(ctx.app.state, "experiment_of", None)
    found = cache.get(key) if cache is not None else None
    if found is None:
        found = str(look_up())
        if cache is not None:
            if len(cache) >= EXPERIMENT_OF_MAX:
                cache.clear()
            cache[key] = found
    return found


def run_experiment(ctx: Ctx, run_id: str) -> str:
    store = ctx.app.state.tracking.store
    return _remembered(ctx, "r:" + run_id, lambda: store.get_run_info(run_id).experiment_id)


def logged_model_experiment(ctx: Ctx, model_id: str) -> str:
    models = ctx.app.state.logged_models
    return _remembered(
        ctx,
        "m:" + model_id,
        lambda: models.get_logged_model(model_id, allow_deleted=True).experiment_id,
    )


def _registry_store(ctx: Ctx) -> Any:
    return ctx.app.state.registry.store


def _number(value: str, name: str) -> int:
    if not value.isdigit():
        raise InvalidInput(f"Invalid value {value!r} for parameter '{name}' supplied.")
    return int(value)


# ------------------------------------------------------------------------------ resolvers
def experiment(level: Permission, name: str = "experiment_id") -> Resolver:
    return lambda ctx: [Target(EXPERIMENT, ctx.one(name), level)]


def experiments(level: Permission, name: str = "experiment_ids") -> Resolver:
    return lambda ctx: [Target(EXPERIMENT, e, level) for e in dict.fromkeys(ctx.many(name))]


def experiment_by_name(level: Permission) -> Resolver:
    def resolve(ctx: Ctx) -> list[Target]:
        found = ctx.app.state.tracking.get_experiment_by_name(ctx.one("experiment_name"))
        return [] if found is None else [Target(EXPERIMENT, str(found.experiment_id), level)]

    return resolve


def run(level: Permission, name: str = "run_id") -> Resolver:
    return lambda ctx: [Target(EXPERIMENT, run_experiment(ctx, ctx.one(name)), level)]


def runs(level: Permission, name: str) -> Resolver:
    def resolve(ctx: Ctx) -> list[Target]:
        ids = dict.fromkeys(ctx.many(name))
        return [Target(EXPERIMENT, run_experiment(ctx, r), level) for r in ids]

    return resolve


def logged_model(level: Permission, name: str = "model_id") -> Resolver:
    return lambda ctx: [Target(EXPERIMENT, logged_model_experiment(ctx, ctx.one(name)), level)]


def model(level: Permission, name: str = "name") -> Resolver:
    return lambda ctx: [Target(MODEL, ctx.one(name), level)]


def model_stage(stage_field: str = "stage") -> Resolver:
    """A transition of a version of the model ``name`` to ``stage``: Production needs the approval
    level, other stages EDIT."""
    return lambda ctx: [Target(MODEL, ctx.one("name"), ctx.stage_level(ctx.one(stage_field)))]


def transition_request(resolving: bool) -> Resolver:
    """The model of the transition request named by ``id`` (or by name, version and stage).

    Approving or rejecting (``resolving``) a request to Production needs the approval level on the
    request's own model (never the one a URL names); cancelling needs EDIT (the service then checks
    that the caller made the request).
    """

    def resolve(ctx: Ctx) -> list[Target]:
        request_id = ctx.one("id", required=False) or ctx.one("request_id", required=False)
        if request_id:
            found = _registry_store(ctx).get_transition_request(_number(request_id, "id"))
            name, stage = found.name, found.to_stage
        else:
            name, stage = ctx.one("name"), ctx.one("stage")
        return [Target(MODEL, name, ctx.stage_level(stage) if resolving else EDIT)]

    return resolve


def comment(level: Permission) -> Resolver:
    def resolve(ctx: Ctx) -> list[Target]:
        found = _registry_store(ctx).get_comment(_number(ctx.one("id"), "id"))
        return [Target(MODEL, found.name, level)]

    return resolve


def proxy_path(level: Permission, name: str = "path") -> Resolver:
    """An artifact proxy path ``<experiment id>/<run id>/artifacts/...`` (or
    ``<experiment id>/models/<model id>/...``): ``level`` on its experiment. Paths outside an
    existing experiment's folder (the destination's root, folders of custom locations) are the
    admin's."""

    def resolve(ctx: Ctx) -> list[Target]:
        path = safe_relative_path(ctx.one(name, required=False))
        first = path.split("/", 1)[0]
        if not first:
            raise admin_only("list or change the root of the artifact destination")
        try:
            ctx.app.state.tracking.get_experiment(first)
        except ModelyardError:
            raise admin_only(
                f"reach artifacts outside an experiment's folder ({first!r})"
            ) from None
        return [Target(EXPERIMENT, first, level)]

    return resolve


def combine(*resolvers: Resolver) -> Resolver:
    return lambda ctx: [t for r in resolvers for t in r(ctx)]


# ------------------------------------------------------------------------------ model versions
def version_source(ctx: Ctx) -> list[Target]:
    """READ on whatever a new model version's files come from: the run, the logged model, the
    experiment folder its ``source`` points into. A source the server would read with its own
    credentials but that belongs to no experiment (a file path, a bucket) is the admin's; an
    ``http(s)`` source is never fetched by the server and needs nothing."""
    out: list[Target] = []
    if run_id := ctx.one("run_id", required=False):
        out.append(Target(EXPERIMENT, run_experiment(ctx, run_id), READ))
    if model_id := ctx.one("model_id", required=False):
        out.append(Target(EXPERIMENT, logged_model_experiment(ctx, model_id), READ))
    source = ctx.one("source", required=False)
    if not source:
        return out
    scheme, colon, rest = source.partition(":")
    scheme = scheme.lower() if colon and len(scheme) > 1 else ""
    if scheme in ("http", "https"):
        return out
    if scheme == "runs":
        run_id = rest.lstrip("/").split("/", 1)[0]
        return [*out, Target(EXPERIMENT, run_experiment(ctx, run_id), READ)]
    if scheme == "models":
        ref = rest.lstrip("/").split("/", 1)[0]
        if ref.startswith("m-"):
            return [*out, Target(EXPERIMENT, logged_model_experiment(ctx, ref), READ)]
        return [*out, Target(MODEL, ref.split("@", 1)[0], READ)]
    folder = _experiment_folder(ctx, source)
    if folder is None:
        raise admin_only(
            "register a model version from a location outside the experiments' artifact folders"
        )
    return [*out, Target(EXPERIMENT, folder, READ)]


def _experiment_folder(ctx: Ctx, source: str) -> str | None:
    """The experiment whose artifact folder holds ``source``, when it is below one of the server's
    roots (``mlflow-artifacts:``, the proxy destination, the default artifact root)."""
    from modelyard.server.app import experiment_artifact_root

    settings = ctx.app.state.settings
    roots = ["mlflow-artifacts:", str(settings.artifacts_destination)]
    roots.append(experiment_artifact_root(settings))
    for root in roots:
        for variant in _variants(root):
            if source.startswith(variant):
                rest = source[len(variant) :].lstrip("/")
                try:
                    first = safe_relative_path(rest).split("/", 1)[0]
                    ctx.app.state.tracking.get_experiment(first)
                except (InvalidInput, NotFound, ModelyardError):
                    return None
                return first
    return None


def _variants(root: str) -> list[str]:
    import os

    root = root.rstrip("/")
    out = [root + ("/" if not root.endswith(":") else "")]
    if root.startswith("file://"):
        out.append(os.path.realpath(root[len("file://") :]) + "/")
    elif "://" not in root and not root.endswith(":"):
        out.append("file://" + os.path.realpath(root) + "/")
        out.append(os.path.realpath(root) + "/")
    return out
