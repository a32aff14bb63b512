"""Which ``$regex`` patterns are accepted, and how much input they may scan.

Patterns come from configuration and run on every evaluation, so a pattern that can
backtrack catastrophically would let one bad rule stall every request. Patterns are
therefore compiled once, limited to :data:`MAX_PATTERN_LENGTH` characters, and
rejected when a repeated group itself contains a repetition (``(a+)+``, ``(\\w*x)*``,
``(?:a{2,})+``): the classic exponential-backtracking shape. Input longer than
:data:`MAX_INPUT_LENGTH` characters is never scanned and counts as not matching.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "MAX_INPUT_LENGTH",
    "MAX_PATTERN_LENGTH",
    "compile_guarded_regex",
    "regex_problem",
]

MAX_PATTERN_LENGTH = 1000
MAX_INPUT_LENGTH = 4096

_QUANTIFIER_BRACES = re.compile(r"\{(\d*)(,?)(\d*)\}")


@dataclass
class _Group:
    repeats_inside: bool = False


def _skip_class(pattern: str, i: int) -> int:
    """Index just past the character class starting at ``pattern[i] == '['``."""
    i += 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1  # a leading ']' is a literal
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


def _quantifier_at(pattern: str, i: int) -> tuple[int, bool] | None:
    """(length, repeats) of a quantifier at ``i``; repeats means it can match twice+."""
    char = pattern[i]
    if char in "*+":
        return 1, True
    if char == "?":
        return 1, False
    if char == "{":
        found = _QUANTIFIER_BRACES.match(pattern, i)
        if found is None or (not found.group(1) and not found.group(3)):
            return None  # a literal brace
        low, comma, high = found.groups()
        repeats = (bool(comma) and (not high or int(high) > 1)) or (not comma and int(low) > 1)
        return found.end() - i, repeats
    return None


def regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` is refused, or ``None`` when it is safe to compile."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"pattern is longer than {MAX_PATTERN_LENGTH} characters"
    stack: list[_Group] = [_Group()]
    last_atom_repeats = False  # the atom before a quantifier was a group with repeats
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            last_atom_repeats = False
            continue
        if char == "[":
            i = _skip_class(pattern, i)
            last_atom_repeats = False
            continue
        if char == "(":
            if pattern.startswith("(?#", i):
                end = pattern.find(")", i)
                i = len(pattern) if end < 0 else end + 1
                continue
            stack.append(_Group())
            i += 1
            last_atom_repeats = False
            continue
        if char == ")":
            closed = stack.pop() if len(stack) > 1 else _Group()
            stack[-1].repeats_inside |= closed.repeats_inside
            last_atom_repeats = closed.repeats_inside
            i += 1
            continue
        quantifier = _quantifier_at(pattern, i)
        if quantifier is not None:
            length, repeats = quantifier
            if repeats and last_atom_repeats:
                return "nested quantifier (a repeated group that repeats inside) can backtrack"
            stack[-1].repeats_inside |= repeats
            i += length
            # A lazy '?' or possessive '+' modifies the quantifier; it is not another one.
            if i < len(pattern) and pattern[i] in "?+":
                i += 1
            last_atom_repeats = False
            continue
        last_atom_repeats = False
        i += 1
    return None


def compile_guarded_regex(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Compile ``pattern`` after the safety checks; raises ValueError with the reason."""
    problem = regex_problem(pattern)
    if problem is not None:
        raise ValueError(problem)
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from exc
