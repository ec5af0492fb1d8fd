"""A small declarative field table and a fast request parser with MLflow's JSON conventions.

A :class:`Message` lists its :class:`Field` s; :meth:`Message.parse` reads a decoded JSON object and
:meth:`Message.parse_query` reads GET query pairs. Both return a plain ``dict`` keyed by snake_case
field name with every field present (absent ones get their default, repeated ones an empty tuple), or
the built object when the message has a ``build`` function (nested entities such as metrics).

Conventions (reference §1.1):

* a field may be spelled snake_case or lowerCamel; spelling the same field both ways is an error;
* unknown fields are ignored; JSON ``null`` counts as absent;
* a field may have aliases (``run_uuid`` for ``run_id``), used when the field itself is absent;
* int64 fields take JSON numbers or numeric strings; doubles take numbers or ``"NaN"``,
  ``"Infinity"``, ``"-Infinity"``; enums take names (or proto numbers); booleans ``true``/``false``;
* missing required fields raise "Missing value for required parameter 'run_id'."; mistyped ones
  "Invalid value 31 for parameter 'run_id' supplied." (both :class:`InvalidInput`, HTTP 400).

No pydantic: a request is a loop over its own keys with one dict lookup each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from modelyard.errors import InvalidInput
from modelyard.schemas.tracking import decode_double

STRING = "string"
ID = "id"  # a string that may also arrive as an integer (experiment ids from old clients)
INT64 = "int64"
INT32 = "int32"
DOUBLE = "double"
BOOL = "bool"
ENUM = "enum"
MESSAGE = "message"

_INT_RANGE = {INT64: (-(2**63), 2**63 - 1), INT32: (-(2**31), 2**31 - 1)}


def camel(name: str) -> str:
    """``run_id`` -> ``runId``: proto's JSON name of a snake_case field."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _shown(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 100 else text[:100] + "..."


def invalid(value: object, path: str) -> InvalidInput:
    return InvalidInput(
        f"Invalid value {_shown(value)} for parameter '{path}' supplied.", field=path
    )


def missing(path: str) -> InvalidInput:
    return InvalidInput(f"Missing value for required parameter '{path}'.", field=path)


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a request message.

    ``required`` fields must be present and, for strings, non-empty unless ``allow_empty``.
    ``choices`` lists an enum's names in proto number order (the first name is number 1).
    """

    name: str
    kind: str = STRING
    required: bool = False
    repeated: bool = False
    default: Any = None
    allow_empty: bool = False
    choices: tuple[str, ...] = ()
    message: Message | None = None
    aliases: tuple[str, ...] = ()


class Message:
    """A request (or nested) message: its fields, and optionally how to build an entity from them."""

    __slots__ = ("_aliases", "_defaults", "_lookup", "_required", "build", "fields", "name")

    def __init__(
        self,
        name: str,
        fields: Sequence[Field],
        build: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        self.name = name
        self.fields = tuple(fields)
        self.build = build
        self._lookup: dict[str, Field] = {}
        self._aliases: list[tuple[str, str]] = []
        for f in self.fields:
            for spelling in (f.name, camel(f.name)):
                self._lookup[spelling] = f
            for alias in f.aliases:
                shadow = Field(
                    alias, f.kind, repeated=f.repeated, choices=f.choices, message=f.message
                )
                self._lookup[alias] = shadow
                self._lookup[camel(alias)] = shadow
                self._aliases.append((alias, f.name))
        self._defaults = {f.name: (() if f.repeated else f.default) for f in self.fields}
        self._required = tuple(f for f in self.fields if f.required)

    # ------------------------------------------------------------------ JSON
    def parse(self, data: object, path: str = "") -> Any:
        """Read a decoded JSON object; ``path`` prefixes field names in error messages."""
        if type(data) is not dict:
            raise invalid(data, path or self.name)
        out: dict[str, Any] = {}
        lookup = self._lookup
        for key, raw in data.items():
            f = lookup.get(key)
            if f is None or raw is None:
                continue
            name = f.name
            if name in out:
                raise InvalidInput(
                    f"Field '{path}{name}' is given more than once (as snake_case and lowerCamel).",
                    field=path + name,
                )
            out[name] = (
                _convert_repeated(f, raw, path) if f.repeated else _convert(f, raw, path + name)
            )
        return self._finish(out, path)

    # ------------------------------------------------------------------ query string
    def parse_query(self, pairs: Iterable[tuple[str, str]]) -> Any:
        """Read GET query pairs: repeated keys for repeated fields, ``true``/``false`` booleans."""
        out: dict[str, Any] = {}
        spelled: dict[str, str] = {}
        for key, raw in pairs:
            f = self._lookup.get(key)
            if f is None:
                continue
            name = f.name
            first = spelled.setdefault(name, key)
            if first != key:
                raise InvalidInput(
                    f"Field '{name}' is given more than once (as snake_case and lowerCamel).",
                    field=name,
                )
            if f.kind == MESSAGE:
                raise invalid(raw, name)
            if raw == "" and f.kind != STRING and f.kind != ID:
                continue
            value = _from_text(f, raw, name)
            if f.repeated:
                out.setdefault(name, []).append(value)
            elif name not in out:
                out[name] = value
        return self._finish(out, "")

    # ------------------------------------------------------------------ shared tail
    def _finish(self, out: dict[str, Any], path: str) -> Any:
        for alias, target in self._aliases:
            if alias in out:
                value = out.pop(alias)
                if out.get(target) in (None, ""):
                    out[target] = value
        for f in self._required:
            value = out.get(f.name)
            if value is None or (value == "" and not f.allow_empty) or (f.repeated and not value):
                raise missing(path + f.name)
        result = {**self._defaults, **out}
        return result if self.build is None else self.build(result)


# ---------------------------------------------------------------------- value conversion
def _convert_repeated(f: Field, raw: object, path: str) -> list[Any]:
    if type(raw) is not list:
        raise invalid(raw, path + f.name)
    name = f.name
    if f.kind == STRING:
        for i, item in enumerate(raw):
            if type(item) is not str:
                raise invalid(item, f"{path}{name}[{i}]")
        return raw
    return [_convert(f, item, f"{path}{name}[{i}]") for i, item in enumerate(raw)]


def _convert(f: Field, raw: object, path: str) -> Any:
    kind = f.kind
    if kind == STRING:
        if type(raw) is str:
            return raw
        raise invalid(raw, path)
    if kind in (INT64, INT32):
        return _to_int(kind, raw, path)
    if kind == DOUBLE:
        return decode_double(raw, path)
    if kind == MESSAGE:
        assert f.message is not None
        return f.message.parse(raw, path + ".")
    if kind == ID:
        if type(raw) is str:
            return raw
        if type(raw) is int:
            return str(raw)
        raise invalid(raw, path)
    if kind == ENUM:
        return _to_enum(f, raw, path)
    if kind == BOOL:
        if raw is True or raw is False:
            return raw
        raise invalid(raw, path)
    raise AssertionError(f"unknown field kind {kind!r}")  # pragma: no cover


def _to_int(kind: str, raw: object, path: str) -> int:
    if type(raw) is int:
        value = raw
    elif type(raw) is float and raw.is_integer():
        value = int(raw)
    elif type(raw) is str:
        text = raw.strip()
        if not (text.lstrip("+-").isdigit() and text.isascii()):
            raise invalid(raw, path)
        value = int(text)
    else:
        raise invalid(raw, path)
    low, high = _INT_RANGE[kind]
    if not low <= value <= high:
        raise invalid(raw, path)
    return value


def _to_enum(f: Field, raw: object, path: str) -> str:
    if type(raw) is str:
        if raw in f.choices:
            return raw
        upper = raw.upper()
        if upper in f.choices:
            return upper
    elif type(raw) is int and 1 <= raw <= len(f.choices):
        return f.choices[raw - 1]
    raise invalid(raw, path)


def _from_text(f: Field, raw: str, path: str) -> Any:
    kind = f.kind
    if kind in (STRING, ID):
        return raw
    if kind in (INT64, INT32):
        return _to_int(kind, raw, path)
    if kind == DOUBLE:
        return decode_double(raw, path)
    if kind == BOOL:
        lowered = raw.lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
        raise invalid(raw, path)
    if kind == ENUM:
        if raw.isdigit():
            return _to_enum(f, int(raw), path)
        return _to_enum(f, raw, path)
    raise invalid(raw, path)  # pragma: no cover


__all__ = [
    "BOOL",
    "DOUBLE",
    "ENUM",
    "ID",
    "INT32",
    "INT64",
    "MESSAGE",
    "STRING",
    "Field",
    "Message",
    "camel",
    "invalid",
    "missing",
]
