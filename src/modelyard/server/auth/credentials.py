"""What a request presents as proof of who it is, and the UI's signed session cookie.

* ``Authorization: Basic base64(user:password)``, as MLflow's client sends it from
  ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` (and ours from the ``MODELYARD_*`` pair);
* ``Authorization: Bearer <token>``: a personal access token (``*_TRACKING_TOKEN``);
* the ``modelyard_session`` cookie the login page sets: ``<payload>.<signature>``, where the payload
  is base64url JSON ``{"u": username, "exp": epoch seconds, "n": nonce}`` and the signature is
  HMAC-SHA256 over the payload with the server's session secret. It carries no password and no
  rights: the user's admin flag and groups are read from the store on every request, so a change
  takes effect at once, and a deleted user's cookie stops working.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

SESSION_COOKIE = "modelyard_session"


@dataclass(frozen=True, slots=True)
class Credentials:
    """What one request presented: ``kind`` is ``basic``, ``token`` or ``session``."""

    kind: str
    username: str = ""
    secret: str = ""


def from_headers(authorization: str) -> Credentials | None:
    """The credentials of an ``Authorization`` header; None without one (or with another scheme).

    A Basic header that does not decode is returned with an empty username, so that it fails as a
    bad password rather than passing as anonymous.
    """
    scheme, _, value = authorization.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "basic":
        try:
            pair = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return Credentials("basic")
        username, _, password = pair.partition(":")
        return Credentials("basic", username, password)
    if scheme == "bearer":
        return Credentials("token", secret=value)
    return None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest())


def make_session(secret: bytes, username: str, max_age_s: int, now: float | None = None) -> str:
    """A signed session cookie value for ``username`` that expires ``max_age_s`` from now."""
    issued = time.time() if now is None else now
    body = {"u": username, "exp": int(issued + max_age_s), "n": secrets.token_urlsafe(8)}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode("utf-8"))
    return f"{payload}.{_sign(secret, payload)}"


def read_session(secret: bytes, value: str, now: float | None = None) -> str | None:
    """The username of a session cookie whose signature holds and that has not expired, else None."""
    payload, dot, signature = value.partition(".")
    if not dot or not payload or not signature:
        return None
    if not hmac.compare_digest(_sign(secret, payload), signature):
        return None
    try:
        body = json.loads(_unb64(payload))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(body, dict):
        return None
    username, expires = body.get("u"), body.get("exp")
    if not isinstance(username, str) or not username or not isinstance(expires, int):
        return None
    if expires <= (time.time() if now is None else now):
        return None
    return username
