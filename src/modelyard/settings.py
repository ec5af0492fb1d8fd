"""Every setting of modelyard in one declarative table.

Each :class:`Setting` has a name, the environment variable that sets it, a default, a type and a help
text. The reference page ``docs/settings.md`` is checked against this table by the test suite.
Values are read when :func:`load_settings` is called, never at import time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _parse_permission(raw: str) -> str:
    value = raw.strip().upper()
    if value not in ("NO_PERMISSIONS", "READ", "USE", "EDIT", "MANAGE"):
        raise ValueError(f"expected NO_PERMISSIONS, READ, USE, EDIT or MANAGE, got {raw!r}")
    return value


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    env: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str
    #: Other environment variables read when ``env`` is unset (MLflow's names), in order.
    fallbacks: tuple[str, ...] = ()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "tracking_uri",
        "MODELYARD_TRACKING_URI",
        "sqlite:///modelyard.db",
        "Where the client logs: a SQL URI (in-process, no server) or http(s):// of a server.",
        fallbacks=("MLFLOW_TRACKING_URI",),
    ),
    Setting(
        "backend_store_uri",
        "MODELYARD_BACKEND_STORE_URI",
        "sqlite:///modelyard.db",
        "The database the server keeps runs in (sqlite, postgresql or mysql URI).",
    ),
    Setting(
        "default_artifact_root",
        "MODELYARD_DEFAULT_ARTIFACT_ROOT",
        "./mlartifacts",
        "Where new experiments keep their artifacts unless they name a location. A server that "
        "serves artifacts gives new experiments mlflow-artifacts:/<id> while this is left at its "
        "default.",
    ),
    Setting(
        "artifacts_destination",
        "MODELYARD_ARTIFACTS_DESTINATION",
        "./mlartifacts",
        "Where the server's artifact proxy keeps files: a local path or s3://bucket/prefix.",
    ),
    Setting(
        "serve_artifacts",
        "MODELYARD_SERVE_ARTIFACTS",
        True,
        "Serve the artifact proxy (/api/2.0/mlflow-artifacts/...) in front of artifacts_destination.",
        _parse_bool,
    ),
    Setting(
        "artifacts_only",
        "MODELYARD_ARTIFACTS_ONLY",
        False,
        "Serve only the artifact proxy; tracking endpoints answer 503.",
        _parse_bool,
    ),
    Setting("host", "MODELYARD_HOST", "127.0.0.1", "Address the server listens on."),
    Setting("port", "MODELYARD_PORT", 5000, "Port the server listens on.", int),
    Setting("workers", "MODELYARD_WORKERS", 4, "Number of server worker processes.", int),
    Setting(
        "allowed_hosts",
        "MODELYARD_ALLOWED_HOSTS",
        None,
        "Host header values the server answers (comma list; *.example.com matches subdomains; * allows all), against DNS rebinding. Unset: localhost, loopback and private addresses, dotless names and the bound host.",
    ),
    Setting(
        "cors_allowed_origins",
        "MODELYARD_CORS_ALLOWED_ORIGINS",
        None,
        "Origins (https://app.example.com, comma list; * for any, without credentials) whose browser pages may call the API. Unset: no CORS headers, cross-origin writes refused.",
    ),
    Setting(
        "max_request_bytes",
        "MODELYARD_MAX_REQUEST_BYTES",
        64 << 20,
        "Largest request body of a JSON endpoint or form, in bytes; larger ones get 413.",
        int,
    ),
    Setting(
        "max_upload_bytes",
        "MODELYARD_MAX_UPLOAD_BYTES",
        0,
        "Largest artifact uploaded through the proxy in one PUT, in bytes (0: no limit); larger ones get 413.",
        int,
    ),
    Setting(
        "db_pool_size",
        "MODELYARD_DB_POOL_SIZE",
        5,
        "Connections each server worker keeps open to PostgreSQL or MySQL.",
        int,
    ),
    Setting(
        "sqlite_busy_timeout_ms",
        "MODELYARD_SQLITE_BUSY_TIMEOUT_MS",
        30000,
        "How long a SQLite writer waits for the lock before failing.",
        int,
    ),
    Setting(
        "truncate_long_values",
        "MODELYARD_TRUNCATE_LONG_VALUES",
        True,
        "Truncate too-long param and tag values (with a warning) instead of rejecting them.",
        _parse_bool,
        fallbacks=("MLFLOW_TRUNCATE_LONG_VALUES",),
    ),
    Setting(
        "async_logging",
        "MODELYARD_ASYNC_LOGGING",
        True,
        "Queue log_* calls and send them in batches from a background thread.",
        _parse_bool,
    ),
    Setting(
        "flush_interval_s",
        "MODELYARD_FLUSH_INTERVAL",
        0.2,
        "Longest time a logged value waits in the client queue before it is sent.",
        float,
    ),
    Setting(
        "http_max_retries",
        "MODELYARD_HTTP_MAX_RETRIES",
        5,
        "How many times the client retries a failed request before raising.",
        int,
        fallbacks=("MLFLOW_HTTP_REQUEST_MAX_RETRIES",),
    ),
    Setting(
        "http_backoff_s",
        "MODELYARD_HTTP_BACKOFF",
        0.2,
        "First wait between client retries; it doubles on each retry.",
        float,
    ),
    Setting(
        "http_timeout_s",
        "MODELYARD_HTTP_TIMEOUT",
        120.0,
        "Seconds the client waits for one server answer.",
        float,
        fallbacks=("MLFLOW_HTTP_REQUEST_TIMEOUT",),
    ),
    Setting(
        "tracking_username",
        "MODELYARD_TRACKING_USERNAME",
        None,
        "User name the client sends with HTTP Basic auth.",
        fallbacks=("MLFLOW_TRACKING_USERNAME",),
    ),
    Setting(
        "tracking_password",
        "MODELYARD_TRACKING_PASSWORD",
        None,
        "Password the client sends with HTTP Basic auth.",
        fallbacks=("MLFLOW_TRACKING_PASSWORD",),
    ),
    Setting(
        "tracking_token",
        "MODELYARD_TRACKING_TOKEN",
        None,
        "Bearer token the client sends.",
        fallbacks=("MLFLOW_TRACKING_TOKEN",),
    ),
    Setting(
        "allow_pickle",
        "MODELYARD_ALLOW_PICKLE",
        False,
        "Allow loading models whose files are unpickled (pickle, cloudpickle, torch.save); only for trusted models.",
        _parse_bool,
    ),
    Setting(
        "env_cache_dir",
        "MODELYARD_ENV_CACHE_DIR",
        "~/.cache/modelyard/envs",
        "Where modelyard keeps the environments it builds for projects and for models (--env-manager virtualenv or uv), one per hash of the spec, and the modelyard wheels installed into them.",
    ),
    Setting(
        "ray_address",
        "MODELYARD_RAY_ADDRESS",
        None,
        "The Ray dashboard address (http://host:8265) that --backend ray submits jobs to; unset: Ray's own default.",
    ),
    Setting(
        "registry_require_approval_for_production",
        "MODELYARD_REGISTRY_REQUIRE_APPROVAL_FOR_PRODUCTION",
        False,
        "Model versions enter Production only through an approved transition request (per model: the tag modelyard.require_approval_for_production=true).",
        _parse_bool,
    ),
    Setting(
        "registry_allow_private_source_hosts",
        "MODELYARD_REGISTRY_ALLOW_PRIVATE_SOURCE_HOSTS",
        False,
        "Accept model-version sources that are http(s) URLs on private, loopback or link-local hosts.",
        _parse_bool,
    ),
    Setting(
        "webhook_allow_private_addresses",
        "MODELYARD_WEBHOOK_ALLOW_PRIVATE_ADDRESSES",
        False,
        "Allow webhook URLs that resolve to private, loopback or link-local addresses.",
        _parse_bool,
    ),
    Setting(
        "webhook_allow_http",
        "MODELYARD_WEBHOOK_ALLOW_HTTP",
        False,
        "Allow plain http:// webhook URLs (https only otherwise).",
        _parse_bool,
    ),
    Setting(
        "webhook_secret_key",
        "MODELYARD_WEBHOOK_SECRET_KEY",
        None,
        "A Fernet key that encrypts webhook secrets at rest (needs cryptography); unset: stored as given, never returned by the API.",
    ),
    Setting(
        "webhook_timeout_s",
        "MODELYARD_WEBHOOK_TIMEOUT_S",
        10.0,
        "Seconds a webhook delivery attempt may take.",
        float,
    ),
    Setting(
        "webhook_max_attempts",
        "MODELYARD_WEBHOOK_MAX_ATTEMPTS",
        4,
        "Attempts per webhook delivery (the first and its retries) before it is marked failed.",
        int,
    ),
    Setting(
        "webhook_retry_backoff_s",
        "MODELYARD_WEBHOOK_RETRY_BACKOFF_S",
        2.0,
        "Seconds before the first retry of a webhook delivery; doubled for each further retry.",
        float,
    ),
    Setting(
        "webhook_delivery_threads",
        "MODELYARD_WEBHOOK_DELIVERY_THREADS",
        4,
        "Threads per server worker that send webhook deliveries (0: this worker sends none).",
        int,
    ),
    Setting(
        "auth",
        "MODELYARD_AUTH",
        False,
        "Require a login (HTTP Basic, a bearer token or the UI's session) for every request, and enforce per-resource permissions.",
        _parse_bool,
    ),
    Setting(
        "auth_admin_username",
        "MODELYARD_AUTH_ADMIN_USERNAME",
        "admin",
        "The admin created at first start with authentication on, when no admin exists.",
    ),
    Setting(
        "auth_admin_password",
        "MODELYARD_AUTH_ADMIN_PASSWORD",
        None,
        "Password of that first admin; no default: the server refuses to start with authentication on, no admin and no password.",
        fallbacks=("MLFLOW_AUTH_ADMIN_PASSWORD",),
    ),
    Setting(
        "auth_default_permission",
        "MODELYARD_AUTH_DEFAULT_PERMISSION",
        "READ",
        "Permission of a signed-in user on a resource nobody granted them anything on (NO_PERMISSIONS, READ, USE, EDIT or MANAGE).",
        _parse_permission,
    ),
    Setting(
        "auth_min_password_length",
        "MODELYARD_AUTH_MIN_PASSWORD_LENGTH",
        8,
        "Shortest password accepted for a user.",
        int,
    ),
    Setting(
        "auth_max_failed_logins",
        "MODELYARD_AUTH_MAX_FAILED_LOGINS",
        5,
        "Failed logins of one account within auth_lockout_s that lock it for the rest of that window (0: never lock).",
        int,
    ),
    Setting(
        "auth_lockout_s",
        "MODELYARD_AUTH_LOCKOUT_S",
        300.0,
        "The window, in seconds, over which failed logins are counted, and so how long a lockout lasts.",
        float,
    ),
    Setting(
        "auth_token_max_age_days",
        "MODELYARD_AUTH_TOKEN_MAX_AGE_DAYS",
        None,
        "Longest life of a new access token, in days; tokens asked for without an expiry get it. Unset: tokens may never expire.",
        float,
    ),
    Setting(
        "auth_production_approval_permission",
        "MODELYARD_AUTH_PRODUCTION_APPROVAL_PERMISSION",
        "MANAGE",
        "Permission on a registered model needed to approve (or reject, or directly make) a transition to Production; other stages need EDIT.",
        _parse_permission,
    ),
    Setting(
        "auth_session_max_age_s",
        "MODELYARD_AUTH_SESSION_MAX_AGE_S",
        43200,
        "Seconds a UI login lasts before the session cookie expires and the login page is shown again.",
        int,
    ),
    Setting(
        "auth_session_cookie_secure",
        "MODELYARD_AUTH_SESSION_COOKIE_SECURE",
        False,
        "Mark the UI session cookie Secure even when the request did not arrive over https (behind a TLS-terminating proxy); over https it always is.",
        _parse_bool,
    ),
)

SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


class Settings:
    """Resolved settings: explicit values win over environment variables, which win over defaults."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        unknown = set(values) - set(SETTINGS_BY_NAME)
        if unknown:
            raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        self._values = dict(values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def replace(self, **changes: Any) -> Settings:
        return Settings({**self._values, **changes})

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def __repr__(self) -> str:
        shown = {
            k: ("***" if "password" in k or "token" in k else v) for k, v in self._values.items()
        }
        return f"Settings({shown})"


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read every setting from ``environ`` (``os.environ`` by default), then apply ``overrides``."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = None
        for var in (setting.env, *setting.fallbacks):
            if var in env:
                raw = env[var]
                break
        if raw is None:
            values[setting.name] = setting.default
        else:
            try:
                values[setting.name] = setting.parse(raw)
            except ValueError as exc:
                raise ValueError(f"bad value for {setting.env}: {exc}") from None
    for name, value in overrides.items():
        if name not in SETTINGS_BY_NAME:
            raise TypeError(f"unknown setting: {name}")
        if value is not None:
            values[name] = value
    return Settings(values)
