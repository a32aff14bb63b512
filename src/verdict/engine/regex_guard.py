"""Which ``$regex`` patterns are accepted, how they are matched, and the matching budget.

Patterns come from configuration and run on every evaluation against attribute strings
that clients send (with client keys, from browsers), so matching must never depend on
backtracking. A pattern means what it means to GrowthBook's Python SDK (``re.search``);
it is translated to an RE2 pattern with the same matches
(:mod:`verdict.engine.regex_translation`) and compiled once with RE2 (``google-re2``),
whose automata run in time linear in the input, whatever the pattern: ``(a|a)*b`` or
``^(.|\\s)*END$`` cost the same few microseconds as ``@acme\\.com$``.

What the engine cannot run (:func:`compile_guarded_regex` raises ``ValueError``):

- patterns longer than :data:`MAX_PATTERN_LENGTH` characters;
- what RE2 cannot express with Python's meaning: backreferences, lookahead and
  lookbehind, atomic groups, possessive quantifiers, conditionals, Unicode word
  boundaries, a ``$`` that more pattern follows, repetitions above 1,000;
- a compiled program larger than :data:`MAX_REGEX_MEMORY` allows.

A pattern Python's ``re`` refuses (``[``, ``\\pL``) never matches, as in GrowthBook
(its ``$notRegex`` always holds). When a pattern is *saved* (:func:`regex_problem`) it
is refused for those reasons too, and for nested quantifiers (a repeated group that
repeats inside: ``(a+)+``, ``(\\w*,)*``): Verdict's matcher runs them in linear time,
but the same configuration reaches SDKs whose engines backtrack (JavaScript,
GrowthBook's).

The per-evaluation budget: a match scans at most :data:`MAX_INPUT_LENGTH` characters
(a longer string never matches), in time linear in its length, with at most
:data:`MAX_REGEX_MEMORY` bytes for the pattern's program and automata.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import re2  # type: ignore[import-untyped]

from verdict.engine.regex_translation import (
    UntranslatablePatternError,
    python_pattern_error,
    to_re2,
)

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
MAX_REGEX_MEMORY = 4 << 20
"""RE2's ``max_mem`` per pattern (bytes): bounds the program size and the DFA cache."""

RegexMatcher = Callable[[str], bool]
"""Whether a pattern is found in a string (unanchored, like ``re.search``)."""

_QUANTIFIER_BRACES = re.compile(r"\{(\d*)(,?)(\d*)\}")

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


def _flags(ignore_case: bool) -> int:
    return int(re.IGNORECASE) if ignore_case else 0


@lru_cache(maxsize=1024)
def _translated(
    pattern: str, ignore_case: bool, saving: bool = True
) -> tuple[str | None, str | None]:
    """(RE2 pattern, None), or (None, why the engine cannot run it); ``(None, None)``
    when Python's ``re`` refuses the pattern (it then never matches). Translations are
    cached (the same pattern recurs across flags); compiled programs are not, so
    memory follows the configuration in use. A stored pattern (``saving=False``) runs
    a Unicode ``\b`` as the ASCII one (see :func:`to_re2`)."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return None, f"pattern is longer than {MAX_PATTERN_LENGTH} characters"
    if python_pattern_error(pattern, _flags(ignore_case)) is not None:
        return None, None
    try:
        translated = to_re2(pattern, _flags(ignore_case), ascii_boundaries=not saving)
    except UntranslatablePatternError as exc:
        return None, f"{exc}: {_LINEAR}"
    try:
        _compile(translated)
    except re2.error as exc:
        return None, _explain(exc)
    return translated, None


def _compile(translated: str) -> Any:
    options = re2.Options()
    options.max_mem = MAX_REGEX_MEMORY
    options.never_capture = True  # only "found or not" is needed: the DFA answers it
    options.log_errors = False
    return re2.compile(translated, options)


def _explain(error: Exception) -> str:
    message = error.args[0] if error.args else str(error)
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    if "pattern too large" in str(message):
        return f"the pattern is too large for the matcher's memory budget: {_LINEAR}"
    return f"RE2 cannot run this pattern ({message}): {_LINEAR}"


def regex_problem(pattern: str, *, ignore_case: bool = False) -> str | None:
    """Why saving ``pattern`` is refused, or ``None`` when it is accepted."""
    _translation, problem = _translated(pattern, ignore_case)
    if problem is not None:
        return problem
    python_error = python_pattern_error(pattern, _flags(ignore_case))
    if python_error is not None:
        return f"invalid regular expression: {python_error} (GrowthBook's SDK would never match it)"
    if _nested_quantifier(pattern):
        return (
            "nested quantifier (a repeated group that repeats inside) backtracks "
            "catastrophically in SDKs whose regex engines backtrack; rewrite it "
            "(e.g. [a-z.]+ instead of ([a-z]+\\.)+)"
        )
    return None


def _never(_text: str) -> bool:
    return False


def compile_guarded_regex(
    pattern: str, *, ignore_case: bool = False, max_input_length: int = MAX_INPUT_LENGTH
) -> RegexMatcher:
    """Whether ``re.search(pattern, text)`` finds a match, decided in linear time.

    Raises ValueError with the reason when the engine cannot run ``pattern`` (see the
    module docstring); a pattern Python's ``re`` refuses gives a matcher that never
    matches, as GrowthBook's SDK decides. The matcher answers for strings of at most
    ``max_input_length`` characters (longer strings never match); conditions always
    use :data:`MAX_INPUT_LENGTH`, benchmarks may look further.
    """
    translated, problem = _translated(pattern, ignore_case, saving=False)
    if problem is not None:
        raise ValueError(problem)
    if translated is None:
        return _never
    search = _compile(translated).search
    limit = max_input_length
    # RE2 and Python disagree only on the empty string (Python's \B never matches
    # there): ask Python, which has nothing to backtrack over.
    on_empty = re.search(pattern, "", _flags(ignore_case)) is not None
    # The last string seen and its answer: one context's attribute is the same object
    # for every flag that includes a shared segment, so evaluating all flags matches
    # it once. A tuple is replaced whole, so concurrent callers never see a torn pair.
    last: list[tuple[str, bool]] = [("", on_empty)]  # "" is answered before the lookup

    def found(text: str) -> bool:
        if len(text) > limit:
            return False
        if not text:
            return on_empty
        seen, answer = last[0]
        if seen is text:
            return answer
        # Bytes spare the binding its character-offset bookkeeping; a lone surrogate
        # (possible in JSON) passes through as its surrogate-escaped bytes, which RE2
        # reads as that one code point.
        answer = search(text.encode("utf-8", "surrogatepass")) is not None
        last[0] = (text, answer)
        return answer

    return found
