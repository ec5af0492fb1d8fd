"""Recursive-descent parser: tokens -> typed syntax tree.

Grammar (keywords case-insensitive; ``AND`` binds tighter than ``OR``)::

    filter     := [or_expr] END
    or_expr    := and_expr ("OR" and_expr)*
    and_expr   := unary ("AND" unary)*
    unary      := "NOT" unary | "(" or_expr ")" | clause
    clause     := identifier comparator value
    identifier := [part "."] key            part, key: NAME | QUOTED | STRING
    comparator := OP | "LIKE" | "ILIKE" | "IN" | "NOT" "IN" | "IS" ["NOT"] "NULL"
    value      := STRING | NUMBER | "(" STRING ("," STRING)* [","] ")"
    order_item := identifier ["ASC" | "DESC"] END

A bare NAME with dots (``params.a.b``) splits at its first dot: prefix ``params``, key ``a.b``.
MLflow tolerates a dangling ``AND`` at the end of a filter, so this parser does too.

Every error is a :class:`~modelyard.errors.MalformedFilter` whose message quotes the filter, names the
token and gives its 0-based character position.
"""

from __future__ import annotations

from collections.abc import Sequence

from modelyard.errors import MalformedFilter
from modelyard.search import fields
from modelyard.search.fields import NumberText, RawValue, RuleError
from modelyard.search.nodes import And, Comparator, Comparison, Expr, Field, Kind, Not, Or, OrderKey
from modelyard.search.tokens import Token, tokenize

#: Limits that keep a hostile filter from exhausting the stack, the database's expression depth or
#: its bound-parameter budget. Far above anything a person or the MLflow client writes.
MAX_DEPTH = 50
MAX_CLAUSES = 200
MAX_LIST_VALUES = 10_000
MAX_LENGTH = 500_000  # characters; room for an IN list of 10,000 run ids
_SHOWN_TEXT = 200

_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL", "ASC", "DESC"})


def _show(text: str) -> str:
    return text if len(text) <= _SHOWN_TEXT else text[: _SHOWN_TEXT - 3] + "..."


class _Parser:
    def __init__(self, text: str, kind: Kind, what: str) -> None:
        fields.rules_for(kind)  # an unknown kind is a programming error: ValueError, not 400
        self.text, self.kind, self.what = text, kind, what
        if len(text) > MAX_LENGTH:
            raise self.error(f"longer than {MAX_LENGTH} characters", MAX_LENGTH)
        self.tokens = tokenize(text, self.error)
        self.i = 0
        self.depth = 0
        self.clauses = 0
        self.list_values = 0

    # -- helpers ---------------------------------------------------------------------------------

    def error(self, message: str, pos: int, expected: str | None = None) -> MalformedFilter:
        hint = f"; expected {expected}" if expected else ""
        return MalformedFilter(
            f"Invalid {self.what} '{_show(self.text)}': {message} at position {pos}{hint}",
            filter=self.text,
            position=pos,
        )

    def unexpected(self, tok: Token, expected: str) -> MalformedFilter:
        return self.error(f"unexpected {tok.describe()}", tok.pos, expected)

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "END":
            self.i += 1
        return tok

    def at_end(self) -> bool:
        return self.tok.kind == "END"

    def at_keyword(self, word: str, tok: Token | None = None) -> bool:
        tok = tok or self.tok
        return tok.kind == "NAME" and tok.value.upper() == word

    # -- filters ---------------------------------------------------------------------------------

    def parse_filter(self) -> Expr | None:
        if self.at_end():
            return None
        expr = self.or_expr()
        if not self.at_end():
            expected = "AND, OR or end of input" if self.depth == 0 else "AND, OR or ')'"
            raise self.unexpected(self.tok, expected)
        return expr

    def or_expr(self) -> Expr:
        operands = [self.and_expr()]
        while self.at_keyword("OR"):
            self.advance()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self) -> Expr:
        operands = [self.unary()]
        while self.at_keyword("AND"):
            self.advance()
            if self.at_end() and self.depth == 0:  # MLflow accepts a trailing AND
                break
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else And(tuple(_flatten_and(operands)))

    def unary(self) -> Expr:
        tok = self.tok
        if self.depth >= MAX_DEPTH:
            raise self.error(f"nesting deeper than {MAX_DEPTH} levels", tok.pos)
        if self.at_keyword("NOT") and self.peek().kind != ".":
            self.advance()
            self.depth += 1
            operand = self.unary()
            self.depth -= 1
            return Not(operand)
        if tok.kind == "(":
            self.advance()
            self.depth += 1
            expr = self.or_expr()
            self.depth -= 1
            if self.tok.kind != ")":
                raise self.unexpected(self.tok, "AND, OR or ')'")
            self.advance()
            return expr
        return self.clause()

    def clause(self) -> Comparison:
        start = self.tok
        self.clauses += 1
        if self.clauses > MAX_CLAUSES:
            raise self.error(f"more than {MAX_CLAUSES} clauses", start.pos)
        field = self.identifier(for_order=False)
        comp_tok = self.tok
        comparator = self.comparator()
        try:
            fields.check_comparator(self.kind, field, comparator)
        except RuleError as exc:
            raise self.error(exc.message, comp_tok.pos, exc.hint) from None
        value_tok = self.tok
        raw = self.value(comparator)
        try:
            value = fields.convert_value(self.kind, field, comparator, raw)
        except RuleError as exc:
            raise self.error(exc.message, value_tok.pos, exc.hint) from None
        return Comparison(field, comparator, value)

    def comparator(self) -> Comparator:
        tok = self.tok
        if tok.kind == "OP":
            self.advance()
            return Comparator(tok.value)
        word = tok.value.upper() if tok.kind == "NAME" else ""
        if word in ("LIKE", "ILIKE", "IN"):
            self.advance()
            return Comparator(word)
        if word == "NOT" and self.at_keyword("IN", self.peek()):
            self.advance()
            self.advance()
            return Comparator.NOT_IN
        if word == "IS":
            self.advance()
            negated = self.at_keyword("NOT")
            if negated:
                self.advance()
            if not self.at_keyword("NULL"):
                raise self.unexpected(self.tok, "NULL" if negated else "NULL or NOT NULL")
            self.advance()
            return Comparator.IS_NOT_NULL if negated else Comparator.IS_NULL
        raise self.unexpected(tok, "a comparator (= != < <= > >= LIKE ILIKE IN NOT IN IS NULL)")

    def value(self, comparator: Comparator) -> RawValue:
        if comparator in (Comparator.IS_NULL, Comparator.IS_NOT_NULL):
            return None
        tok = self.tok
        if tok.kind == "STRING":
            self.advance()
            return self.checked_string(tok)
        if tok.kind == "NUMBER":
            self.advance()
            return NumberText(tok.value)
        if tok.kind == "(":
            return self.string_list()
        if tok.kind == "NAME" and tok.value.upper() not in _KEYWORDS:
            raise self.error(
                f"unquoted value {tok.describe()}", tok.pos, "a string in single or double quotes"
            )
        raise self.unexpected(tok, "a number, a quoted string or a list")

    def string_list(self) -> tuple[str, ...]:
        open_tok = self.advance()
        items: list[str] = []
        while True:
            tok = self.tok
            if tok.kind == ")" and items:
                break
            if tok.kind != "STRING":
                if tok.kind == ")":
                    raise self.error(
                        "empty list; IN needs at least one quoted string", open_tok.pos
                    )
                raise self.unexpected(tok, "a quoted string in the list")
            self.advance()
            items.append(self.checked_string(tok))
            self.list_values += 1
            if self.list_values > MAX_LIST_VALUES:
                raise self.error(f"more than {MAX_LIST_VALUES} list values", tok.pos)
            if self.tok.kind == ",":
                self.advance()
            elif self.tok.kind != ")":
                raise self.unexpected(self.tok, "',' or ')'")
        self.advance()
        return tuple(items)

    def checked_string(self, tok: Token) -> str:
        """A string value must be storable text: no NUL character and no lone surrogate."""
        value = tok.value
        if "\x00" in value:
            raise self.error("NUL character in string", tok.pos)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise self.error("string is not valid Unicode text", tok.pos) from None
        return value

    # -- identifiers and order_by ----------------------------------------------------------------

    def identifier(self, *, for_order: bool) -> Field:
        start = self.tok
        prefix, key = self.identifier_parts()
        if "\x00" in key:
            raise self.error("NUL character in key", start.pos)
        try:
            return fields.resolve(self.kind, prefix, key, for_order=for_order)
        except RuleError as exc:
            raise self.error(exc.message, start.pos, exc.hint) from None

    def identifier_parts(self) -> tuple[str | None, str]:
        tok = self.tok
        if tok.kind == "NAME":
            if tok.value.upper() in _KEYWORDS and self.peek().kind != ".":
                raise self.unexpected(tok, "an identifier")
            self.advance()
            prefix, dot, rest = tok.value.partition(".")
            if not dot:
                if self.tok.kind == "." and not self.tok.space_before:
                    self.advance()
                    return prefix, self.key_part()
                return None, prefix
            if rest:
                return prefix, rest
            return prefix, self.key_part(glued=True)
        if tok.kind in ("QUOTED", "STRING"):
            if self.peek().kind == "." and not self.peek().space_before:
                self.advance()
                self.advance()
                return tok.value, self.key_part()
            if tok.kind == "QUOTED":  # `Run name` = 'x': a quoted attribute
                self.advance()
                return None, tok.value
        raise self.unexpected(tok, "an identifier")

    def key_part(self, glued: bool = False) -> str:
        """The key after ``prefix.``: a NAME, a backtick key or a quoted string, directly after the dot."""
        tok = self.tok
        if tok.kind in ("NAME", "QUOTED", "STRING") and not tok.space_before:
            self.advance()
            return tok.value
        raise self.unexpected(tok, "a key after '.'")

    def parse_order_item(self) -> OrderKey:
        if self.at_end():
            raise self.error("empty order_by item", 0, "an identifier")
        field = self.identifier(for_order=True)
        ascending = True
        if self.at_keyword("ASC") or self.at_keyword("DESC"):
            ascending = self.advance().value.upper() == "ASC"
        if not self.at_end():
            raise self.unexpected(self.tok, "ASC, DESC or end of input")
        return OrderKey(field, ascending)


def _flatten_and(operands: list[Expr]) -> list[Expr]:
    out: list[Expr] = []
    for op in operands:
        out.extend(op.operands if isinstance(op, And) else (op,))
    return out


def parse_filter(text: str | None, kind: Kind) -> Expr | None:
    """Parse a filter string; None or an empty/whitespace-only string means "no filter"."""
    fields.rules_for(kind)
    if text is None:
        return None
    if not isinstance(text, str):
        raise MalformedFilter(f"Invalid filter: expected a string, got {type(text).__name__}")
    if not text.strip():
        return None
    return _Parser(text, kind, "filter").parse_filter()


def parse_order_by(items: Sequence[str], kind: Kind) -> list[OrderKey]:
    """Parse ``order_by`` items ("<identifier> [ASC|DESC]"); a field may appear only once."""
    fields.rules_for(kind)
    if items is None:
        return []
    if isinstance(items, str):
        items = [items]
    keys: list[OrderKey] = []
    seen: set[Field] = set()
    for item in items:
        if not isinstance(item, str):
            raise MalformedFilter(
                f"Invalid order_by clause: expected a string, got {type(item).__name__}"
            )
        key = _Parser(item, kind, "order_by clause").parse_order_item()
        if key.field in seen:
            raise MalformedFilter(
                f"Invalid order_by clause '{_show(item)}': {key.field} appears more than once in order_by"
            )
        seen.add(key.field)
        keys.append(key)
    return keys
