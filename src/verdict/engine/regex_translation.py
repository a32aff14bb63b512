"""How a pattern written for Python's ``re`` becomes an RE2 pattern matching the same strings.

GrowthBook's Python SDK decides ``$regex`` with ``re.search``; Verdict runs patterns on
RE2, whose automata take time linear in the input. The two syntaxes look alike but do
not agree (``\\d`` is Unicode in Python and ASCII in RE2, ``$`` also matches before a
final newline in Python, ``a{,3}`` is a repetition in Python and literal text in RE2,
``\\pL`` is an error in Python ...). So the pattern is parsed by Python's own parser
(``re._parser``, the one ``re.compile`` runs: a pattern means here exactly what it means
to GrowthBook) and every piece is written out for RE2 explicitly:

* a character becomes its code point (``\\x{E9}``); a class, ``.``, ``\\d``, ``\\w``,
  ``\\s`` and their negations become lists of code-point ranges read from Python's own
  tables (by running ``re`` over every code point once, on first use);
* under ``re.IGNORECASE`` a character or class becomes the set of characters ``re``
  matches with it: the few thousand characters that have a case mapping are asked of
  ``re`` itself, and every other character matches exactly when it matches
  case-sensitively (Python lowers both sides, and lowering leaves it alone);
* ``^``, ``$``, ``\\A`` and ``\\Z`` keep Python's meaning, with ``re.MULTILINE`` and
  ``re.DOTALL`` applied where they are set; a ``$`` that ends the pattern becomes
  ``\\n?\\z``: only *whether* a match exists is asked, so consuming the final newline
  instead of stopping before it changes nothing;
* repetitions (greedy or lazy), alternations and groups keep their shape.

Refused with a reason (:class:`UntranslatablePatternError`), because RE2 has no equivalent:
backreferences, lookahead and lookbehind, atomic groups, possessive quantifiers,
conditionals, ``\\B``, Unicode word boundaries (``\\b``; the ASCII one, ``(?a:\\b)``,
is kept), a ``$`` that more pattern follows, repetition counts above 1,000, and groups
nested more than :data:`MAX_NESTING` deep. An empty string is never handed to RE2: the
caller asks ``re`` (which cannot backtrack on nothing) once, when the pattern compiles.
"""

from __future__ import annotations

import array
import importlib
import re
import warnings
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

__all__ = [
    "MAX_NESTING",
    "MAX_REPEAT",
    "UntranslatablePatternError",
    "python_pattern_error",
    "to_re2",
]

MAX_REPEAT = 1000
"""The largest repetition count RE2 accepts (``a{1000}``)."""
MAX_NESTING = 100
"""How deep groups, alternations and repetitions may nest."""

_parser: Any = importlib.import_module("re._parser")

_LAST_CODE_POINT = 0x10FFFF
_IGNORECASE = int(re.IGNORECASE)
_MULTILINE = int(re.MULTILINE)
_DOTALL = int(re.DOTALL)
_ASCII = int(re.ASCII)
_TYPE_FLAGS = int(re.ASCII) | int(re.UNICODE) | int(re.LOCALE)

_Ranges = tuple[tuple[int, int], ...]
"""Sorted, disjoint, inclusive code-point ranges."""

_CATEGORY_SOURCE = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
}
_REFUSED = {
    "GROUPREF": "backreferences (\\1, (?P=name)) are not supported",
    "GROUPREF_EXISTS": "conditionals (?(...)) are not supported",
    "ASSERT": "lookahead and lookbehind are unsupported",
    "ASSERT_NOT": "lookahead and lookbehind are unsupported",
    "ATOMIC_GROUP": "atomic groups (?>...) are not supported",
    "POSSESSIVE_REPEAT": "possessive quantifiers are not supported",
}


class UntranslatablePatternError(ValueError):
    """A valid Python pattern that RE2 cannot run with the same meaning."""


def python_pattern_error(pattern: str, flags: int) -> str | None:
    """Why Python's ``re`` refuses ``pattern`` (GrowthBook then never matches), or ``None``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            re.compile(pattern, flags)
    except Exception as exc:  # GrowthBook treats every failure alike
        return str(exc) or type(exc).__name__
    return None


def to_re2(pattern: str, flags: int, *, ascii_boundaries: bool = False) -> str:
    """The RE2 pattern matching what ``re.search(pattern, text, flags)`` finds.

    ``pattern`` must compile with Python's ``re`` (see :func:`python_pattern_error`).
    Raises :class:`UntranslatablePatternError` with the reason when RE2 has no equivalent.
    ``ascii_boundaries`` runs a Unicode ``\b`` as RE2's ASCII one instead of refusing
    it: the two differ only next to non-ASCII letters and digits (and the ASCII one is
    what JavaScript SDKs decide); a pattern already stored is run that way rather than
    failing, while saving one is refused with the way to say it exactly.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = _parser.parse(pattern, flags)
    writer = _Writer(ascii_boundaries=ascii_boundaries)
    return writer.sequence(list(parsed), int(parsed.state.flags), tail=True)


class _Writer:
    def __init__(self, *, ascii_boundaries: bool) -> None:
        self.depth = 0
        self.ascii_boundaries = ascii_boundaries

    def sequence(self, items: Sequence[tuple[Any, Any]], flags: int, *, tail: bool) -> str:
        self.depth += 1
        if self.depth > MAX_NESTING + 1:  # the pattern itself is the first level
            raise UntranslatablePatternError(f"groups nest deeper than {MAX_NESTING} levels")
        last = len(items) - 1
        written = "".join(
            self.item(str(op), value, flags, tail=tail and index == last)
            for index, (op, value) in enumerate(items)
        )
        self.depth -= 1
        return written

    def item(self, op: str, value: Any, flags: int, *, tail: bool) -> str:
        if op in ("LITERAL", "NOT_LITERAL", "IN", "ANY"):
            return _character_class(op, _freeze(value), flags)
        if op == "BRANCH":
            branches = [self.sequence(list(branch), flags, tail=tail) for branch in value[1]]
            return "(?:" + "|".join(branches) + ")"
        if op == "SUBPATTERN":
            _group, add_flags, del_flags, inner = value
            if add_flags & _TYPE_FLAGS:
                flags &= ~_TYPE_FLAGS
            flags = (flags | add_flags) & ~del_flags
            return "(?:" + self.sequence(list(inner), flags, tail=tail) + ")"
        if op in ("MAX_REPEAT", "MIN_REPEAT"):
            return self.repeat(op, value, flags, tail=tail)
        if op == "AT":
            if str(value) == "AT_BOUNDARY" and self.ascii_boundaries:
                flags |= _ASCII
            return _anchor(str(value), flags, tail=tail)
        if op in _REFUSED:
            raise UntranslatablePatternError(_REFUSED[op])
        raise UntranslatablePatternError(f"the construct {op} has no RE2 equivalent")

    def repeat(self, op: str, value: Any, flags: int, *, tail: bool) -> str:
        low, high, inner = value
        unbounded = high >= _parser.MAXREPEAT
        if low > MAX_REPEAT or (not unbounded and high > MAX_REPEAT):
            raise UntranslatablePatternError(f"a repetition {{n,m}} takes at most {MAX_REPEAT}")
        body = self.sequence(list(inner), flags, tail=tail and not unbounded and high <= 1)
        if unbounded:
            quantifier = {0: "*", 1: "+"}.get(low, f"{{{low},}}")
        elif low == high:
            quantifier = f"{{{low}}}"
        elif (low, high) == (0, 1):
            quantifier = "?"
        else:
            quantifier = f"{{{low},{high}}}"
        lazy = "?" if op == "MIN_REPEAT" else ""
        return f"(?:{body}){quantifier}{lazy}"


def _anchor(kind: str, flags: int, *, tail: bool) -> str:
    if kind == "AT_BEGINNING":
        return "(?m:^)" if flags & _MULTILINE else r"\A"
    if kind == "AT_BEGINNING_STRING":
        return r"\A"
    if kind == "AT_END_STRING":
        return r"\z"
    if kind == "AT_END":
        if flags & _MULTILINE:
            return "(?m:$)"
        if tail:
            return r"(?:\n?\z)"
        raise UntranslatablePatternError(
            "a $ that more pattern follows is not supported (Python's $ also matches "
            "before a final newline); use \\Z, or (?m) for line ends"
        )
    if kind == "AT_BOUNDARY":
        if flags & _ASCII:
            return r"\b"  # RE2's is ASCII: never between the bytes of one character
        raise UntranslatablePatternError(
            "\\b with Unicode letters is not supported (RE2's word boundaries are "
            "ASCII-only); write (?a:\\b) for ASCII word boundaries"
        )
    if kind == "AT_NON_BOUNDARY":
        # RE2 would also find a \B between the bytes of one multi-byte character.
        raise UntranslatablePatternError(
            "\\B is not supported (RE2 cannot decide it as Python does)"
        )
    raise UntranslatablePatternError(f"the anchor {kind} has no RE2 equivalent")


# ---------------------------------------------------------------- character sets
def _freeze(value: Any) -> Any:
    """A hashable copy of a parse-tree value (class items are lists of pairs)."""
    if isinstance(value, list):
        return tuple((str(op), _freeze(item)) for op, item in value)
    if isinstance(value, tuple):
        return tuple(_freeze(item) for item in value)
    if value is None or (isinstance(value, int) and not hasattr(value, "name")):
        return value
    return str(value)  # a named constant such as CATEGORY_DIGIT


@lru_cache(maxsize=4096)
def _character_class(op: str, value: Any, flags: int) -> str:
    """RE2 syntax for one single-character item (a literal, class or ``.``)."""
    if op == "LITERAL" and not flags & _IGNORECASE:
        return f"\\x{{{value:X}}}"
    return _class_syntax(_character_set(op, value, flags))


def _character_set(op: str, value: Any, flags: int) -> _Ranges:
    """The code points one single-character item (a literal, class or ``.``) matches."""
    exact = _case_sensitive_set(op, value, flags)
    if op == "ANY" or not flags & _IGNORECASE:
        return exact
    cased, text = _cased_characters()
    python_flags = _IGNORECASE | (flags & _ASCII)
    matcher = re.compile(_python_source(op, value), python_flags)
    matched = sorted(ord(character) for character in matcher.findall(text))
    return _union(_minus(exact, cased), _from_points(matched))


def _case_sensitive_set(op: str, value: Any, flags: int) -> _Ranges:
    if op == "LITERAL":
        return ((value, value),)
    if op == "NOT_LITERAL":
        return _complement(((value, value),))
    if op == "ANY":
        return ((0, _LAST_CODE_POINT),) if flags & _DOTALL else _complement(((10, 10),))
    parts: list[_Ranges] = []
    negate = False
    for item_op, item in value:
        if item_op == "NEGATE":
            negate = True
        elif item_op == "LITERAL":
            parts.append(((item, item),))
        elif item_op == "RANGE":
            parts.append(((item[0], item[1]),))
        elif item_op == "CATEGORY":
            parts.append(_category(item, bool(flags & _ASCII)))
        else:
            raise UntranslatablePatternError(f"the class item {item_op} has no RE2 equivalent")
    members = _union(*parts)
    return _complement(members) if negate else members


def _python_source(op: str, value: Any) -> str:
    """Python ``re`` syntax for one single-character item, to ask ``re`` what it matches."""
    if op == "LITERAL":
        return _escape(value)
    if op == "NOT_LITERAL":
        return f"[^{_escape(value)}]"
    items: list[str] = []
    for item_op, item in value:
        if item_op == "NEGATE":
            items.insert(0, "^")
        elif item_op == "LITERAL":
            items.append(_escape(item))
        elif item_op == "RANGE":
            items.append(f"{_escape(item[0])}-{_escape(item[1])}")
        else:
            items.append(_CATEGORY_SOURCE[item])
    return "[" + "".join(items) + "]"


def _escape(code_point: int) -> str:
    return f"\\U{code_point:08x}"


@lru_cache(maxsize=1)
def _every_character() -> str:
    """Every code point, in order, as one string (surrogates included, as Python allows)."""
    return (
        array.array("I", range(_LAST_CODE_POINT + 1)).tobytes().decode("utf-32-le", "surrogatepass")
    )


@lru_cache(maxsize=12)
def _category(name: str, ascii_only: bool) -> _Ranges:
    """The code points of ``\\d``, ``\\w``, ``\\s`` or a negation, as Python's ``re`` has them."""
    if name not in _CATEGORY_SOURCE:
        raise UntranslatablePatternError(f"the class {name} has no RE2 equivalent")
    runs = re.compile(f"(?:{_CATEGORY_SOURCE[name]})+", re.ASCII if ascii_only else 0)
    return tuple((run.start(), run.end() - 1) for run in runs.finditer(_every_character()))


@lru_cache(maxsize=1)
def _cased_characters() -> tuple[_Ranges, str]:
    """Every character that has a case mapping or is one: only these can match another
    character under ``re.IGNORECASE`` (a superset is harmless: ``re`` is asked about each)."""
    found: set[str] = set()
    everything = _every_character()
    for start in range(0, len(everything), 256):
        chunk = everything[start : start + 256]
        if chunk.lower() == chunk and chunk.upper() == chunk and chunk.casefold() == chunk:
            continue
        for character in chunk:
            mapped = character.lower() + character.upper() + character.casefold()
            if mapped != character * 3:
                found.add(character)
                found.update(mapped)
    points = sorted(ord(character) for character in found)
    return _from_points(points), "".join(map(chr, points))


def _from_points(points: Iterable[int]) -> _Ranges:
    ranges: list[tuple[int, int]] = []
    for point in points:
        if ranges and point <= ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], max(point, ranges[-1][1]))
        else:
            ranges.append((point, point))
    return tuple(ranges)


def _union(*sets: _Ranges) -> _Ranges:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(pair for ranges in sets for pair in ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return tuple(merged)


def _complement(ranges: _Ranges) -> _Ranges:
    gaps: list[tuple[int, int]] = []
    next_point = 0
    for low, high in ranges:
        if low > next_point:
            gaps.append((next_point, low - 1))
        next_point = high + 1
    if next_point <= _LAST_CODE_POINT:
        gaps.append((next_point, _LAST_CODE_POINT))
    return tuple(gaps)


def _minus(ranges: _Ranges, removed: _Ranges) -> _Ranges:
    """The code points of ``ranges`` that are not in ``removed``."""
    kept = _complement(removed)
    result: list[tuple[int, int]] = []
    i = j = 0
    while i < len(ranges) and j < len(kept):
        low = max(ranges[i][0], kept[j][0])
        high = min(ranges[i][1], kept[j][1])
        if low <= high:
            result.append((low, high))
        if ranges[i][1] < kept[j][1]:
            i += 1
        else:
            j += 1
    return tuple(result)


def _class_syntax(ranges: _Ranges) -> str:
    if not ranges:
        return r"[^\x00-\x{10FFFF}]"  # matches nothing
    if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
        return f"\\x{{{ranges[0][0]:X}}}"
    body = "".join(
        f"\\x{{{low:X}}}" if low == high else f"\\x{{{low:X}}}-\\x{{{high:X}}}"
        for low, high in ranges
    )
    return f"[{body}]"
