"""Split a filter or ``order_by`` item into tokens, each with its character position.

Token kinds:

========  ===========================================================================================
NAME      a bare word: a letter or ``_`` then letters, digits, ``_ - : / .`` (``metrics.val-loss``,
          ``params.a.b``, ``AND``). Keywords are NAMEs; the parser recognises them case-insensitively.
STRING    ``'...'`` or ``"..."``. Inside, the quote is written twice (``'it''s'``) or escaped with a
          backslash (``'it\\'s'``); ``\\\\`` is one backslash; any other backslash is kept as is.
QUOTED    a backtick-quoted key: ```avg score```; a backtick inside is written twice.
NUMBER    ``1``, ``-2``, ``+3``, ``1.5``, ``.5``, ``1.``, ``-1.5e-3``
OP        ``= != < <= > >=`` (``==`` and ``<>`` are accepted for ``=`` and ``!=``)
``(`` ``)`` ``,`` ``.``   punctuation
END       the end of the text
========  ===========================================================================================

Anything else is a :class:`~modelyard.errors.MalformedFilter` that names the character and position.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias

TokenKind: TypeAlias = Literal[
    "NAME", "STRING", "QUOTED", "NUMBER", "OP", "(", ")", ",", ".", "END"
]


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str  # the source text of the token, as written
    value: str  # STRING/QUOTED: the unquoted content; OP: the canonical operator; else: text
    pos: int  # 0-based character offset in the source
    space_before: bool = False  # whitespace separates this token from the previous one

    def describe(self) -> str:
        """How an error message names this token."""
        if self.kind == "END":
            return "end of input"
        shown = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        return shown if self.kind in ("STRING", "QUOTED") else f"'{shown}'"


_SPACE = re.compile(r"\s+")
_NAME = re.compile(r"[^\W\d][\w\-:/.]*")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_AFTER_NUMBER = re.compile(r"[\w.]")  # a number glued to letters (``0x10``, ``1abc``) is an error
_OPS = {"!=": "!=", "<>": "!=", "<=": "<=", ">=": ">=", "==": "=", "=": "=", "<": "<", ">": ">"}
_PUNCT = frozenset("(),.")

ErrorFactory: TypeAlias = Callable[[str, int], Exception]


def tokenize(text: str, error: ErrorFactory) -> list[Token]:
    """The tokens of ``text``, ending with an END token; ``error(message, pos)`` builds the exception."""
    out: list[Token] = []
    pos, n = 0, len(text)
    spaced = False
    while True:
        m = _SPACE.match(text, pos)
        if m:
            pos, spaced = m.end(), True
        if pos >= n:
            out.append(Token("END", "", "", n, spaced))
            return out
        ch = text[pos]
        start = pos
        if ch in "'\"`":
            value, pos = _scan_quoted(text, pos, error)
            kind: TokenKind = "QUOTED" if ch == "`" else "STRING"
            out.append(Token(kind, text[start:pos], value, start, spaced))
        elif (m := _NUMBER.match(text, pos)) and _number_allowed(out, ch):
            pos = m.end()
            if pos < n and _AFTER_NUMBER.match(text, pos):
                end = pos
                while end < n and _AFTER_NUMBER.match(text, end):
                    end += 1
                raise error(f"invalid number '{text[start:end]}'", start)
            out.append(Token("NUMBER", text[start:pos], text[start:pos], start, spaced))
        elif m := _NAME.match(text, pos):
            pos = m.end()
            out.append(Token("NAME", m.group(), m.group(), start, spaced))
        elif (op := text[pos : pos + 2]) in _OPS or (op := ch) in _OPS:
            pos += len(op)
            out.append(Token("OP", op, _OPS[op], start, spaced))
        elif ch in _PUNCT:
            pos += 1
            out.append(Token(ch, ch, ch, start, spaced))  # type: ignore[arg-type]
        else:
            raise error(f"unexpected character {ch!r}", start)
        spaced = False


def _number_allowed(previous: list[Token], ch: str) -> bool:
    """``.5`` is a number, but the ``.`` in ```params`.a`` is punctuation: a number never follows a key."""
    if ch != "." or not previous:
        return True
    return previous[-1].kind not in ("NAME", "QUOTED", "STRING")


#: Runs of characters with no special meaning inside each kind of quote (a backslash is plain in
#: backticks).
_PLAIN = {"'": re.compile(r"[^'\\]+"), '"': re.compile(r'[^"\\]+'), "`": re.compile(r"[^`]+")}


def _scan_quoted(text: str, pos: int, error: ErrorFactory) -> tuple[str, int]:
    """Read a quoted string or backtick key starting at ``pos``; return (content, position after it)."""
    quote = text[pos]
    plain = _PLAIN[quote]
    parts: list[str] = []
    i, n = pos + 1, len(text)
    while i < n:
        m = plain.match(text, i)
        if m:
            parts.append(m.group())
            i = m.end()
            if i >= n:
                break
        ch = text[i]
        if ch == quote:
            if i + 1 < n and text[i + 1] == quote:  # doubled quote: one literal quote
                parts.append(quote)
                i += 2
                continue
            return "".join(parts), i + 1
        # a backslash (never in backticks): escapes the quote or a backslash, else is kept
        if i + 1 < n and text[i + 1] in (quote, "\\"):
            parts.append(text[i + 1])
            i += 2
        else:
            parts.append(ch)
            i += 1
    what = "backtick" if quote == "`" else "quote"
    raise error(f"unterminated {what} {quote} opened", pos)
