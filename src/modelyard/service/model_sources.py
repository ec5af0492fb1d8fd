"""Checks of a model version's ``source`` against the run or logged model it claims (reference §1.9, §9).

``model-versions/create`` is MLflow's worst CVE hot spot (CVE-2023-1177, CVE-2024-1558, #23500): a
source pointing at ``/etc`` or at ``http://169.254.169.254`` that a later download follows. Every source
is decoded repeatedly first, then:

* NUL and other control characters, backslashes, ``#`` fragments and ``..`` segments are refused;
* ``runs:/<run_id>/<path>`` must name an existing run, agree with ``run_id`` when both are given, and
  is stored with ``storage_location`` = the run's artifact URI + path;
* ``models:/m-<id>`` must name an existing logged model, agree with ``model_id``, and is stored with
  ``storage_location`` = the logged model's artifact URI (and ``run_id`` = its source run when
  not given);
* a local path (plain or ``file:``) is allowed only inside the local artifact directory of the run
  (``run_id``) or logged model (``model_id``) given with it, compared after resolving symlinks;
* ``http(s)`` URLs must not name (or resolve to) a private, loopback or link-local address unless
  the ``registry_allow_private_source_hosts`` setting allows it;
* other schemes must be object stores modelyard knows (``s3``, ``gs``, ``mlflow-artifacts`` ...).
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

from modelyard.entities import LoggedModel, RunInfo
from modelyard.errors import InvalidInput, NotFound
from modelyard.store.artifacts.paths import fully_unquote, is_private_host

MAX_SOURCE_LENGTH = 65535
_DRIVE = re.compile(r"^[a-zA-Z]:")
_LOGGED_MODEL_RE = re.compile(r"^m-[0-9a-zA-Z][\w\-]{0,61}$")
_OBJECT_STORE_SCHEMES = frozenset(
    {"s3", "gs", "wasbs", "abfss", "r2", "b2", "mlflow-artifacts", "hdfs", "viewfs"}
)


@dataclass(frozen=True, slots=True)
class CheckedSource:
    """A source that passed: the ids it implies and where its files really are."""

    source: str
    run_id: str | None
    model_id: str | None
    storage_location: str | None


def _refuse(reason: str) -> InvalidInput:
    return InvalidInput(f"Invalid model version source: {reason}", field="source")


def _local_root(uri: str) -> str | None:
    """The directory behind a local artifact URI, or None when the URI is not local."""
    parsed = urlparse(uri)
    if _DRIVE.match(uri) or parsed.scheme == "":
        return os.path.realpath(uri)
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
        return os.path.realpath(parsed.path)
    return None


def _inside(path: str, root: str) -> bool:
    real = os.path.realpath(path)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _resolves_private(host: str) -> bool:
    """True when ``host`` is, or resolves to, a non-public address (``2130706433`` is 127.0.0.1)."""
    if is_private_host(host):
        return True
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return False  # cannot be resolved here; it names no internal address we can reach
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:  # pragma: no cover - getaddrinfo returns numeric addresses
            continue
        if is_private_host(str(ip)):
            return True
    return False


def check_source(
    source: object,
    run_id: str | None,
    model_id: str | None,
    *,
    get_run: Callable[[str], RunInfo],
    get_logged_model: Callable[[str], LoggedModel],
    allow_private_hosts: bool = False,
) -> CheckedSource:
    """Check ``source`` (see the module docstring) or raise :class:`InvalidInput` (400)."""
    if not isinstance(source, str) or not source.strip():
        raise InvalidInput("Missing value for required parameter 'source'.", field="source")
    if len(source) > MAX_SOURCE_LENGTH:
        raise _refuse(f"it is longer than {MAX_SOURCE_LENGTH} characters.")
    decoded = fully_unquote(source)
    for text in (source, decoded):
        if any(ord(c) < 32 or ord(c) == 127 for c in text):
            raise _refuse("control characters (such as NUL) are not allowed.")
        if "\\" in text:
            raise _refuse("backslashes are not allowed.")
        if "#" in text:
            raise _refuse("a '#' fragment is not allowed.")
        if ".." in text.split("/"):
            raise _refuse("'..' segments are not allowed.")
    parsed = urlparse(decoded)
    scheme = "" if _DRIVE.match(decoded) else parsed.scheme.lower()

    run = get_run(run_id) if run_id else None
    model = get_logged_model(model_id) if model_id else None

    if scheme == "runs":
        rest = decoded[len("runs:") :].lstrip("/")
        source_run, _, path = rest.partition("/")
        if not source_run:
            raise _refuse("a runs:/ source must name a run, as runs:/<run_id>/<path>.")
        if run_id and source_run != run_id:
            raise _refuse(f"it names run '{source_run}' but run_id is '{run_id}'.")
        run = run or _existing_run(get_run, source_run)
        location = run.artifact_uri.rstrip("/") + ("/" + path.strip("/") if path.strip("/") else "")
        return CheckedSource(source, source_run, model_id, location)

    if scheme == "models":
        rest = decoded[len("models:") :]
        if rest.startswith("//"):
            raise _refuse("a models:/ source must not name a host.")
        target = rest.strip("/")
        if not _LOGGED_MODEL_RE.match(target):
            raise _refuse(
                "a models:/ source must name a logged model as models:/m-<id>; register an "
                "existing version's files with its download URI instead."
            )
        if model_id and target != model_id:
            raise _refuse(f"it names logged model '{target}' but model_id is '{model_id}'.")
        model = model or _existing_model(get_logged_model, target)
        if run_id and model.source_run_id and model.source_run_id != run_id:
            raise _refuse(f"logged model '{target}' was not produced by run '{run_id}'.")
        return CheckedSource(source, run_id or model.source_run_id, target, model.artifact_uri)

    if scheme in ("", "file"):
        if decoded.startswith("//") or (
            scheme == "file" and parsed.netloc not in ("", "localhost")
        ):
            raise _refuse("a network path or file: URI with a host is not allowed.")
        path = parsed.path if scheme == "file" else decoded
        roots = [
            root
            for owner in (run.artifact_uri if run else None, model.artifact_uri if model else None)
            if owner and (root := _local_root(owner)) is not None
        ]
        if not roots:
            raise _refuse(
                "a local path is only accepted with the run_id (or model_id) whose local artifact "
                "directory holds it."
            )
        if not any(_inside(path, root) for root in roots):
            raise _refuse("the local path is outside the artifact directory of the run or model.")
        return CheckedSource(source, run_id, model_id, None)

    if scheme in ("http", "https"):
        host = parsed.hostname or ""
        if not host:
            raise _refuse("an http(s) source needs a host.")
        if not allow_private_hosts and _resolves_private(host):
            raise _refuse("http(s) sources on private, loopback or link-local hosts are refused.")
        return CheckedSource(source, run_id, model_id, None)

    if scheme in _OBJECT_STORE_SCHEMES:
        return CheckedSource(source, run_id, model_id, None)
    raise _refuse(f"the scheme '{scheme}:' is not supported.")


def _existing_run(get_run: Callable[[str], RunInfo], run_id: str) -> RunInfo:
    try:
        return get_run(run_id)
    except (NotFound, InvalidInput):
        raise _refuse(f"run '{run_id}' does not exist.") from None


def _existing_model(get_logged_model: Callable[[str], LoggedModel], model_id: str) -> LoggedModel:
    try:
        return get_logged_model(model_id)
    except (NotFound, InvalidInput):
        raise _refuse(f"logged model '{model_id}' does not exist.") from None
