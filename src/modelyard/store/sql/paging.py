"""Opaque page tokens: base64 of a small JSON object. Treat them as opaque outside this module."""

from __future__ import annotations

import base64
import binascii
import json

from modelyard.errors import InvalidInput


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode() + b"==="))
        offset = data["offset"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeError):
        raise InvalidInput(
            f"Invalid page token {token[:64]!r}: it was not returned by a search."
        ) from None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidInput(f"Invalid page token {token[:64]!r}: it was not returned by a search.")
    return offset
