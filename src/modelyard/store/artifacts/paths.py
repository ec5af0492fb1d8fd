"""Checks for every artifact path and location that a request carries (reference §1.6, §9).

A path is decoded repeatedly (``%252e%252e`` is ``..`` after two rounds) and then refused when it holds a
``..`` segment, is absolute, has a backslash, a drive letter, a ``#`` fragment, a ``?`` query, a NUL
byte or another control character. Checks that need the filesystem (symlinks leaving the root) live in
the local store, which resolves the final path and compares it with its root.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
import socket
from urllib.parse import unquote, urlparse

from modelyard.errors import InvalidInput

_DRIVE = re.compile(r"^[a-zA-Z]:")
#: Anything one of the checks of ``_refuse`` refuses (control characters, a backslash, ``#``, ``?``,
#: a leading slash or drive letter, a ``..`` segment); a path it does not match passes them all.
_SUSPECT = re.compile(r"[\x00-\x1f\x7f\\#?]|^/|^[a-zA-Z]:|(?:^|/)\.\.(?:/|$)")
_MAX_DECODE_ROUNDS = 10


def fully_unquote(text: str) -> str:
    """URL-decode until the text stops changing (bounded), so double-encoding cannot hide ``..``."""
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = unquote(text)
        if decoded == text:
            return text
        text = decoded
    raise InvalidInput("Invalid path: it is URL-encoded too many times.")


def _refuse(candidate: str, what: str) -> None:
    """Raise the :class:`InvalidInput` that ``candidate`` deserves (checked in this order)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in candidate):
        raise InvalidInput(f"Invalid {what}: control characters are not allowed.")
    if "\\" in candidate:
        raise InvalidInput(f"Invalid {what}: backslashes are not allowed.")
    if "#" in candidate or "?" in candidate:
        raise InvalidInput(f"Invalid {what}: '#' and '?' are not allowed.")
    if candidate.startswith("/") or _DRIVE.match(candidate):
        raise InvalidInput(f"Invalid {what}: it must be relative.")
    if ".." in candidate.split("/"):
        raise InvalidInput(f"Invalid {what}: '..' segments are not allowed.")


def safe_relative_path(path: str | None, *, what: str = "path", allow_empty: bool = True) -> str:
    """Return ``path`` normalised as a relative POSIX path, or raise :class:`InvalidInput`.

    An empty path (the root) is allowed unless ``allow_empty`` is false.
    """
    if path is None:
        path = ""
    if not isinstance(path, str):
        raise InvalidInput(f"Invalid {what}: a string is required.")
    decoded = fully_unquote(path)
    for candidate in (path,) if decoded == path else (path, decoded):
        if _SUSPECT.search(candidate):  # one scan for the common, clean path
            _refuse(candidate, what)
    # Checked in both forms, but the name stays as given: a file may be called "100%.txt".
    normalised = posixpath.normpath(path) if path else ""
    if normalised in (".", ""):
        normalised = ""
    if normalised.startswith(("..", "/")):
        raise InvalidInput(f"Invalid {what}: it leaves the artifact root.")
    if not normalised and not allow_empty:
        raise InvalidInput(f"Invalid {what}: a file path is required.")
    return normalised


def is_private_host(host: str) -> bool:
    """True for loopback, private, link-local, reserved and unspecified addresses and ``localhost``."""
    host = host.strip("[]").lower()
    if host in (
        "localhost",
        "localhost.localdomain",
        "ip6-localhost",
        "ip6-loopback",
    ) or host.endswith(".localhost"):
        return True
    ip = _parse_ip(host)
    if ip is None:
        return False
    return any(
        candidate.is_private
        or candidate.is_loopback
        or candidate.is_link_local
        or candidate.is_reserved
        or candidate.is_unspecified
        or candidate.is_multicast
        for candidate in (ip, *_embedded_ipv4(ip))
    )


_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_V4_COMPATIBLE = ipaddress.ip_network("::/96")


def _parse_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP literal, including the legacy IPv4 spellings that resolvers and browsers accept
    (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``: all 127.0.0.1), without any DNS."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if not _NUMERIC_HOST.match(host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _embedded_ipv4(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> list[ipaddress.IPv4Address]:
    """The IPv4 address an IPv6 one carries (mapped ``::ffff:a.b.c.d``, 6to4, NAT64, compatible)."""
    if ip.version != 6:
        return []
    assert isinstance(ip, ipaddress.IPv6Address)
    found = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    if ip in _NAT64 or ip in _V4_COMPATIBLE:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


#: Schemes an experiment's artifact location may use.
ALLOWED_LOCATION_SCHEMES = frozenset(
    {"", "file", "s3", "mlflow-artifacts", "http", "https", "gs", "wasbs", "abfss"}
)


def validate_artifact_location(location: str, *, allow_private_http: bool = False) -> str:
    """Refuse artifact locations that would let the server read or fetch what it should not.

    ``runs:`` and ``models:`` are resolvers, not locations; a query or fragment is refused (they have
    hidden traversal before); HTTP locations must not point at private, loopback or link-local hosts
    unless ``allow_private_http`` (a test or an internal deployment) says so.
    """
    if not isinstance(location, str) or not location.strip():
        raise InvalidInput("Invalid artifact location: a non-empty string is required.")
    decoded = fully_unquote(location)
    if any(ord(c) < 32 for c in decoded):
        raise InvalidInput("Invalid artifact location: control characters are not allowed.")
    if "#" in decoded or "?" in decoded:
        raise InvalidInput("Invalid artifact location: a query or fragment is not allowed.")
    parsed = urlparse(decoded)
    scheme = parsed.scheme.lower()
    if _DRIVE.match(decoded):
        scheme = ""
    if scheme not in ALLOWED_LOCATION_SCHEMES:
        raise InvalidInput(
            f"Invalid artifact location: the scheme '{scheme}:' is not supported here."
        )
    if ".." in decoded.replace("\\", "/").split("/"):
        raise InvalidInput("Invalid artifact location: '..' segments are not allowed.")
    if scheme in ("http", "https"):
        host = parsed.hostname or ""
        if not host:
            raise InvalidInput("Invalid artifact location: an HTTP location needs a host.")
        if not allow_private_http and is_private_host(host):
            raise InvalidInput(
                "Invalid artifact location: HTTP locations on private, loopback or link-local "
                "addresses are not allowed."
            )
    return location
