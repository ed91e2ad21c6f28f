"""Scoping PromQL to one project: a small lexer that finds every vector selector.

The engine is shared by every project, and Prometheus holds every project's
series, so a template's query must never read another project's. Before it
is sent, :func:`scope` rewrites every vector selector of the query (instant
and range selectors, those inside subqueries and function arguments, with or
without a metric name) to carry one more label matcher, ``<label>="<project>"``.
PromQL ANDs the matchers of a selector, so a selector that also names another
project (``project="other"``) then matches nothing, and ``{__name__=~".+"}``
only the project's own series. Selectors are the only way PromQL reads
series, so a query whose selectors all carry the matcher reads only the
project's series whatever functions, operators or modifiers surround them.

The lexer follows Prometheus (2.x) where it matters for that: strings
(double, single and back quotes, escapes), ``#`` comments (dropped from the
query sent), numbers with ``Inf``/``NaN`` and hexadecimal, durations,
identifiers with colons, keywords matched without regard to case. A tiny
state machine knows whether an operand or an operator comes next: in operand
position, an identifier followed by ``(`` is a call (of an aggregation or of a
function on the list below), an aggregation may be followed by ``by``/
``without (labels)``, and every other identifier is a metric name, keywords
included (Prometheus accepts ``sum``, ``offset``, ``and``... as metric names
there), so it is scoped too. Label lists (``by``, ``without``, ``on``,
``ignoring``, ``group_left``, ``group_right``) hold label names only, matcher
blocks ``{...}`` only ``label op "value"`` pairs, brackets only a range or a
subquery's ``duration:step``; ``offset`` takes a duration and ``@`` a time or
``start()``/``end()``.

Whatever the lexer does not understand is refused with the reason and the
position (:class:`PromQLError`), never passed on: an unknown function (which
could read series some other way, as Prometheus 3's ``info()`` reads
``target_info``), a quoted label name, a matcher block that is not one, a
stray character, an unbalanced bracket. Prometheus would refuse most of
those anyway; the point is that nothing the lexer cannot scope is sent.
"""
from __future__ import annotations

import dataclasses
import re

#: longest query accepted (a template's text; Prometheus parses it in every round)
MAX_QUERY_LENGTH = 4096
#: longest range a query may read, ``x[...]`` or a subquery's: a day of raw samples
MAX_RANGE_SECONDS = 86400
#: most evaluation steps the subqueries of one query may take, nested ones multiplied
#: (Prometheus's own bound on a range query's points): a template's query otherwise costs
#: the shared Prometheus what it likes, long after our timeout gave up on it
MAX_SUBQUERY_STEPS = 11000

#: Prometheus 2.x aggregation operators (keywords, matched without regard to case)
AGGREGATIONS = frozenset({
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile"})

#: functions that read nothing but their arguments (Prometheus 2.x, case-sensitive)
FUNCTIONS = frozenset({
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan",
    "atanh", "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
    "cos", "cosh", "count_over_time", "day_of_month", "day_of_week", "day_of_year",
    "days_in_month", "deg", "delta", "deriv", "exp", "floor", "histogram_count",
    "histogram_fraction", "histogram_quantile", "histogram_sum", "holt_winters", "hour",
    "idelta", "increase", "irate", "label_join", "label_replace", "last_over_time", "ln",
    "log10", "log2", "max_over_time", "min_over_time", "minute", "month", "pi",
    "predict_linear", "present_over_time", "quantile_over_time", "rad", "rate", "resets",
    "round", "scalar", "sgn", "sin", "sinh", "sort", "sort_desc", "sqrt",
    "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh", "time",
    "timestamp", "vector", "year"})

_BINARY_KEYWORDS = frozenset({"and", "or", "unless", "atan2"})
_COMPARISONS = frozenset({"==", "!=", "<", ">", "<=", ">="})
_ARITHMETIC = frozenset({"+", "-", "*", "/", "%", "^"})
_MATCH_OPS = frozenset({"=", "!=", "=~", "!~"})
_LABEL_LISTS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_DURATION = re.compile(r"(?:[0-9]+(?:ms|s|m|h|d|w|y))+")
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800,
                 "y": 31536000}
_OPERATORS = ("==", "!=", "<=", ">=", "=~", "!~", "+", "-", "*", "/", "%", "^", "<", ">",
              "=", "(", ")", "{", "}", "[", "]", ",", ":", "@")

# token kinds
IDENT, NUMBER, DURATION, STRING, OP, END = ("identifier", "number", "duration", "string",
                                            "operator", "end")


class PromQLError(ValueError):
    """A query that cannot be scoped safely; ``reason`` says why (and where)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclasses.dataclass(frozen=True)
class Token:
    kind: str
    text: str
    start: int
    end: int

    @property
    def word(self) -> str:
        """The text as Prometheus matches keywords: without regard to case."""
        return self.text.lower()


def tokenize(query: str) -> tuple[list[Token], list[tuple[int, int]]]:
    """(tokens ending with an END token, the spans of comments)."""
    if not isinstance(query, str):
        raise PromQLError("the query must be text")
    if len(query) > MAX_QUERY_LENGTH:
        raise PromQLError(f"{len(query)} characters is more than the {MAX_QUERY_LENGTH} "
                          "allowed")
    tokens: list[Token] = []
    comments: list[tuple[int, int]] = []
    i, n = 0, len(query)
    in_brackets = False  # inside [...], ':' separates a subquery's range and step
    while i < n:
        char = query[i]
        if char in " \t\r\n":
            i += 1
        elif char == "#":  # to the end of the line, as Prometheus reads a comment
            ends = [e for e in (query.find("\n", i), query.find("\r", i)) if e >= 0]
            end = min(ends) if ends else n
            comments.append((i, end))
            i = end
        elif char in "\"'`":
            end = _string_end(query, i)
            tokens.append(Token(STRING, query[i:end], i, end))
            i = end
        elif "0" <= char <= "9" or (char == "." and i + 1 < n and "0" <= query[i + 1] <= "9"):
            tokens.append(_number_or_duration(query, i))
            i = tokens[-1].end
        elif char.isascii() and (char.isalpha() or char == "_"
                                 or char == ":" and not in_brackets):
            match = _IDENT.match(query, i)
            word = match.group()
            kind = NUMBER if word.lower() in ("inf", "nan") else IDENT
            tokens.append(Token(kind, word, i, match.end()))
            i = match.end()
        else:
            for op in _OPERATORS:
                if query.startswith(op, i):
                    in_brackets = op == "[" or in_brackets and op != "]"
                    tokens.append(Token(OP, op, i, i + len(op)))
                    i += len(op)
                    break
            else:
                raise PromQLError(f"unexpected character {char!r} at position {i}")
    tokens.append(Token(END, "", n, n))
    return tokens, comments


def _string_end(query: str, start: int) -> int:
    quote = query[start]
    i = start + 1
    while i < len(query):
        char = query[i]
        if quote != "`":
            if char == "\\":
                i += 2
                continue
            if char == "\n":
                break
        if char == quote:
            return i + 1
        i += 1
    raise PromQLError(f"unterminated string starting at position {start}")


def _number_or_duration(query: str, start: int) -> Token:
    duration = _DURATION.match(query, start)
    number = _NUMBER.match(query, start)
    if duration and (not number or duration.end() > number.end()):
        match, kind = duration, DURATION
    else:
        match, kind = number, NUMBER
    if match is None:
        raise PromQLError(f"bad number or duration at position {start}")
    end = match.end()
    if end < len(query) and (query[end].isalnum() or query[end] in "_."):
        raise PromQLError(f"bad number or duration at position {start}")
    return Token(kind, match.group(), start, end)


def duration_seconds(text: str) -> float:
    """Seconds of a PromQL duration (``1h30m``)."""
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


class _Scanner:
    """Walks the tokens once, recording where each selector's matcher goes."""

    def __init__(self, tokens: list[Token], matcher: str) -> None:
        self.tokens = tokens
        self.i = 0
        self.matcher = matcher
        self.insertions: list[tuple[int, str]] = []
        self.selectors = 0
        self.subquery_steps = 1.0

    # -- helpers ----------------------------------------------------------------
    @property
    def token(self) -> Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.token
        self.i += 1
        return token

    def fail(self, what: str, token: Token | None = None) -> PromQLError:
        token = token or self.token
        found = "the end of the query" if token.kind == END else repr(token.text)
        return PromQLError(f"{what} at position {token.start}, found {found}")

    def expect(self, text: str) -> Token:
        if self.token.kind != OP or self.token.text != text:
            raise self.fail(f"expected {text!r}")
        return self.take()

    # -- the walk -----------------------------------------------------------------
    def run(self) -> None:
        # stack of open parentheses: "group" (an expression's), "call", "aggregation"
        stack: list[str] = []
        operand = True  # an operand comes next (else an operator, a modifier or a close)
        while True:
            token = self.token
            if operand:
                operand = self._operand(stack)
                continue
            if token.kind == END:
                if stack:
                    raise self.fail("unclosed '('")
                return
            if token.kind == OP and token.text == ")":
                if not stack:
                    raise self.fail("unbalanced ')'")
                self.take()
                if stack.pop() == "aggregation" and self.token.word in ("by", "without") \
                        and self.token.kind == IDENT:
                    self.take()
                    self._label_list()
                continue
            if token.kind == OP and token.text == ",":
                if not stack or stack[-1] == "group":
                    raise self.fail("',' outside a call")
                self.take()
                operand = True
                continue
            if token.kind == OP and token.text == "[":
                self._brackets()
                continue
            if token.kind == IDENT and token.word == "offset":
                self.take()
                if self.token.kind == OP and self.token.text in ("-", "+"):
                    self.take()
                if self.token.kind != DURATION:
                    raise self.fail("offset needs a duration")
                self.take()
                continue
            if token.kind == OP and token.text == "@":
                self._at()
                continue
            if token.kind == OP and (token.text in _ARITHMETIC or token.text in _COMPARISONS):
                self.take()
                if token.text in _COMPARISONS and self.token.kind == IDENT \
                        and self.token.word == "bool":
                    self.take()
                self._vector_matching()
                operand = True
                continue
            if token.kind == IDENT and token.word in _BINARY_KEYWORDS:
                self.take()
                self._vector_matching()
                operand = True
                continue
            raise self.fail("expected an operator")

    def _operand(self, stack: list[str]) -> bool:
        """One operand's start; returns whether an operand still comes next."""
        token = self.token
        if token.kind in (NUMBER, STRING):
            self.take()
            return False
        if token.kind == OP and token.text in ("-", "+"):
            self.take()
            return True
        if token.kind == OP and token.text == "(":
            self.take()
            stack.append("group")
            return True
        if token.kind == OP and token.text == "{":
            self._matchers(None)
            return False
        if token.kind != IDENT:
            raise self.fail("expected an expression")
        after = self.peek()
        if token.word in AGGREGATIONS and after.kind == IDENT \
                and after.word in ("by", "without"):
            self.take()
            self.take()
            self._label_list()
            self.expect("(")
            stack.append("aggregation")
            return True
        if after.kind == OP and after.text == "(":
            if token.word in AGGREGATIONS:
                kind = "aggregation"
            elif token.text in FUNCTIONS:
                kind = "call"
            else:
                raise self.fail("unknown function (only Prometheus's own are allowed)")
            self.take()
            self.take()
            stack.append(kind)
            # a call without arguments: time(), pi(), vector() is refused by Prometheus
            if self.token.kind == OP and self.token.text == ")":
                return False
            return True
        # any other identifier here is a metric name, keywords included
        self.take()
        if self.token.kind == OP and self.token.text == "{":
            self._matchers(token)
        else:
            self.insertions.append((token.end, "{" + self.matcher + "}"))
            self.selectors += 1
        return False

    def _matchers(self, name: Token | None) -> None:
        """A ``{label op "value", ...}`` block; our matcher goes in front of the ``}``."""
        opening = self.expect("{")
        count, trailing_comma = 0, False
        while not (self.token.kind == OP and self.token.text == "}"):
            label = self.token
            if label.kind == STRING:
                raise self.fail("quoted label names are not supported")
            if label.kind != IDENT or not _LABEL_NAME.match(label.text):
                raise self.fail("expected a label name")
            self.take()
            if self.token.kind != OP or self.token.text not in _MATCH_OPS:
                raise self.fail("expected =, !=, =~ or !~")
            self.take()
            if self.token.kind != STRING:
                raise self.fail("expected a quoted label value")
            self.take()
            count += 1
            trailing_comma = False
            if self.token.kind == OP and self.token.text == ",":
                self.take()
                trailing_comma = True
            elif not (self.token.kind == OP and self.token.text == "}"):
                raise self.fail("expected ',' or '}'")
        closing = self.take()
        if name is None and count == 0:
            raise self.fail("a selector needs a metric name or a matcher", opening)
        separator = ", " if count and not trailing_comma else ""
        self.insertions.append((closing.start, separator + self.matcher))
        self.selectors += 1

    def _label_list(self) -> None:
        """``(label, ...)`` after by, without, on, ignoring, group_left, group_right."""
        self.expect("(")
        while not (self.token.kind == OP and self.token.text == ")"):
            if self.token.kind != IDENT or not _LABEL_NAME.match(self.token.text):
                raise self.fail("expected a label name in the label list")
            self.take()
            if self.token.kind == OP and self.token.text == ",":
                self.take()
            elif not (self.token.kind == OP and self.token.text == ")"):
                raise self.fail("expected ',' or ')' in the label list")
        self.take()

    def _vector_matching(self) -> None:
        """``on/ignoring (labels)`` and ``group_left/group_right [(labels)]``."""
        if self.token.kind == IDENT and self.token.word in ("on", "ignoring"):
            self.take()
            self._label_list()
            if self.token.kind == IDENT and self.token.word in ("group_left", "group_right"):
                self.take()
                # as Prometheus: a '(' right after group_x opens its label list
                if self.token.kind == OP and self.token.text == "(":
                    self._label_list()

    def _brackets(self) -> None:
        """``[range]`` or a subquery's ``[range:step]``, within the bounds of a query's
        cost: a range of at most :data:`MAX_RANGE_SECONDS`, and subqueries whose steps,
        all multiplied as if nested, are at most :data:`MAX_SUBQUERY_STEPS` (a
        subquery must give its step: ``[range:]`` takes the server's interval, which
        may be 1 s)."""
        self.expect("[")
        if self.token.kind != DURATION:
            raise self.fail("expected a duration in '[...]'")
        where = self.token
        span = duration_seconds(self.take().text)
        if span > MAX_RANGE_SECONDS:
            raise self.fail(f"a range of at most {MAX_RANGE_SECONDS} s may be read", where)
        if self.token.kind == OP and self.token.text == ":":
            self.take()
            if self.token.kind != DURATION:
                raise self.fail("a subquery needs its step ('[30m:1m]')")
            step = duration_seconds(self.take().text)
            if step <= 0:
                raise self.fail("a subquery's step must be more than 0", where)
            self.subquery_steps *= max(1.0, span / step)
            if self.subquery_steps > MAX_SUBQUERY_STEPS:
                raise self.fail(f"the subqueries take more than {MAX_SUBQUERY_STEPS} "
                                "evaluation steps (their range / step, multiplied)", where)
        self.expect("]")

    def _at(self) -> None:
        """``@ <unix time>`` or ``@ start()`` / ``@ end()``."""
        self.expect("@")
        if self.token.kind == OP and self.token.text in ("-", "+"):
            self.take()
        if self.token.kind == NUMBER:
            self.take()
            return
        if self.token.kind == IDENT and self.token.word in ("start", "end"):
            self.take()
            self.expect("(")
            self.expect(")")
            return
        raise self.fail("@ needs a time, start() or end()")


def label_value(value: str) -> str:
    """``value`` as a double-quoted PromQL string."""
    if not value:
        raise PromQLError("the scoping label value must not be empty (an empty value "
                          "matches every series without the label)")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise PromQLError("the scoping label value holds a control character")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def scope(query: str, label: str, value: str) -> str:
    """``query`` with ``label="value"`` added to every vector selector.

    Comments are dropped (each replaced by a blank); the rest of the text is
    kept as written. Raises :class:`PromQLError` for a query that cannot be
    scoped, an empty query, or a query that reads no series at all would be
    accepted (``vector(1)`` reads nothing, so it reveals nothing).
    """
    if not isinstance(label, str) or not _LABEL_NAME.match(label):
        raise PromQLError(f"{label!r} is not a label name")
    matcher = f"{label}={label_value(value)}"
    tokens, comments = tokenize(query)
    if tokens[0].kind == END:
        raise PromQLError("the query is empty")
    scanner = _Scanner(tokens, matcher)
    scanner.run()
    edits = [(start, end, " ") for start, end in comments]
    edits += [(at, at, text) for at, text in scanner.insertions]
    out, position = [], 0
    for start, end, text in sorted(edits):
        out.append(query[position:start])
        out.append(text)
        position = end
    out.append(query[position:])
    return "".join(out)


def check(query: str) -> None:
    """Raise :class:`PromQLError` unless :func:`scope` can scope ``query``."""
    scope(query, "project", "check")
