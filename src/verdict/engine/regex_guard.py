"""Which ``$regex`` patterns are accepted, how they are matched, and the matching budget.

Patterns come from configuration and run on every evaluation against attribute strings
that clients send (with client keys, from browsers), so matching must never depend on
backtracking. Patterns are compiled once with RE2 (``google-re2``), whose automata run
in time linear in the input, whatever the pattern: ``(a|a)*b`` or ``^(.|\\s)*END$``
cost the same few microseconds as ``@acme\\.com$``.

Refused when configuration compiles, each with a reason a person can act on:

- patterns longer than :data:`MAX_PATTERN_LENGTH` characters;
- what RE2 cannot run: backreferences (``\\1``, ``(?P=name)``), lookahead and
  lookbehind, atomic groups and possessive quantifiers, conditionals, ``(?x)``;
- a compiled program larger than :data:`MAX_REGEX_MEMORY` allows;
- nested quantifiers (a repeated group that repeats inside: ``(a+)+``, ``(\\w*,)*``).
  Verdict's matcher runs them in linear time too; they are refused because the same
  configuration reaches SDKs whose engines backtrack (JavaScript, GrowthBook's).

The per-evaluation budget: a match scans at most :data:`MAX_INPUT_LENGTH` characters
(a longer string never matches), in time linear in its length, with at most
:data:`MAX_REGEX_MEMORY` bytes for the pattern's program and automata. Python's ``\\Z``
and ``\\uXXXX`` are rewritten to RE2's ``\\z`` and ``\\x{XXXX}`` so patterns written
for the former matcher keep their meaning; ``\\d``, ``\\w``, ``\\s`` and ``\\b`` are
ASCII, as in JavaScript, and ``$`` matches only at the very end.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import re2  # type: ignore[import-untyped]

__all__ = [
    "MAX_INPUT_LENGTH",
    "MAX_PATTERN_LENGTH",
    "MAX_REGEX_MEMORY",
    "RegexMatcher",
    "compile_guarded_regex",
    "regex_problem",
]

MAX_PATTERN_LENGTH = 1000
MAX_INPUT_LENGTH = 4096
MAX_REGEX_MEMORY = 1 << 20
"""RE2's ``max_mem`` per pattern (bytes): bounds the program size and the DFA cache."""

RegexMatcher = Callable[[str], bool]
"""Whether a pattern is found in a string (unanchored, like ``re.search``)."""

_QUANTIFIER_BRACES = re.compile(r"\{(\d*)(,?)(\d*)\}")

# RE2's parse errors for what Python's ``re`` (or PCRE, or JavaScript) accepts.
_UNSUPPORTED = (
    (re.compile(r"invalid escape sequence: \\[1-9]"), "backreferences (\\1) are not supported"),
    (re.compile(r"invalid perl operator: \(\?P=?$"), "backreferences (?P=name) are not supported"),
    (re.compile(r"invalid escape sequence: \\[gk]"), "backreferences (\\g, \\k) are not supported"),
    (re.compile(r"invalid perl operator: \(\?<?[=!]"), "lookahead and lookbehind are unsupported"),
    (re.compile(r"invalid perl operator: \(\?>"), "atomic groups (?>...) are not supported"),
    (re.compile(r"bad repetition operator: [*+?}]\+"), "possessive quantifiers are not supported"),
    (re.compile(r"invalid perl operator: \(\?\("), "conditionals (?(...)) are not supported"),
    (re.compile(r"pattern too large"), "the pattern is too large for the matcher's memory budget"),
)
_LINEAR = "Verdict matches with RE2 in linear time; see docs/targeting.md"


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


def _nested_quantifier(pattern: str) -> bool:
    """Whether a repeated group repeats inside (the exponential-backtracking shape)."""
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
                return True
            stack[-1].repeats_inside |= repeats
            i += length
            # A lazy '?' or possessive '+' modifies the quantifier; it is not another one.
            if i < len(pattern) and pattern[i] in "?+":
                i += 1
            last_atom_repeats = False
            continue
        last_atom_repeats = False
        i += 1
    return False


def _to_re2_syntax(pattern: str) -> str:
    """Rewrite the escapes Python's ``re`` spells differently: ``\\Z``, ``\\uXXXX``."""
    if "\\" not in pattern:
        return pattern
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char != "\\" or i + 1 == len(pattern):
            out.append(char)
            i += 1
            continue
        escaped = pattern[i + 1]
        width = {"u": 4, "U": 8}.get(escaped, 0)
        digits = pattern[i + 2 : i + 2 + width]
        if escaped == "Z":
            out.append("\\z")
        elif width and len(digits) == width and all(c in "0123456789abcdefABCDEF" for c in digits):
            out.append("\\x{" + digits + "}")
            i += width
        else:
            out.append(pattern[i : i + 2])
        i += 2
    return "".join(out)


def _compile(pattern: str, ignore_case: bool) -> Any:
    options = re2.Options()
    options.max_mem = MAX_REGEX_MEMORY
    options.never_capture = True  # only "found or not" is needed: the DFA answers it
    options.case_sensitive = not ignore_case
    options.log_errors = False
    return re2.compile(_to_re2_syntax(pattern), options)


def _explain(error: Exception) -> str:
    message = error.args[0] if error.args else str(error)
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    for shape, reason in _UNSUPPORTED:
        if shape.search(str(message)):
            return f"{reason}: {_LINEAR}"
    return f"invalid regular expression: {message}"


def regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` is refused, or ``None`` when it is accepted."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"pattern is longer than {MAX_PATTERN_LENGTH} characters"
    try:
        _compile(pattern, ignore_case=False)
    except re2.error as exc:
        return _explain(exc)
    if _nested_quantifier(pattern):
        return (
            "nested quantifier (a repeated group that repeats inside) backtracks "
            "catastrophically in SDKs whose regex engines backtrack; rewrite it "
            "(e.g. [a-z.]+ instead of ([a-z]+\\.)+)"
        )
    return None


def compile_guarded_regex(
    pattern: str, *, ignore_case: bool = False, max_input_length: int = MAX_INPUT_LENGTH
) -> RegexMatcher:
    """The matcher of an accepted ``pattern``; raises ValueError with the reason if refused.

    The matcher answers whether the pattern is found in a string of at most
    ``max_input_length`` characters (longer strings never match); conditions always
    use :data:`MAX_INPUT_LENGTH`, benchmarks may look further.
    """
    problem = regex_problem(pattern)
    if problem is not None:
        raise ValueError(problem)
    search = _compile(pattern, ignore_case).search
    limit = max_input_length
    # The last string seen and its answer: one context's attribute is the same object
    # for every flag that includes a shared segment, so evaluating all flags matches
    # it once. A tuple is replaced whole, so concurrent callers never see a torn pair.
    last: list[tuple[str, bool]] = [("", search(b"") is not None)]

    def found(text: str) -> bool:
        if len(text) > limit:
            return False
        seen, answer = last[0]
        if seen is text:
            return answer
        # Bytes spare the binding its character-offset bookkeeping; a lone surrogate
        # (possible in JSON) passes through as its surrogate-escaped bytes.
        answer = search(text.encode("utf-8", "surrogatepass")) is not None
        last[0] = (text, answer)
        return answer

    return found
