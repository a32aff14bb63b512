"""Patterns mean what they mean to Python's ``re`` (GrowthBook's matcher), run on RE2.

The reference is ``re.search`` itself: random patterns (classes, Unicode categories,
case-insensitive matching of letters with unusual case mappings, anchors, newlines,
repetitions, scoped flags) are matched against random strings by Python's ``re`` and by
Verdict's translated RE2 matcher, and must agree. One run uses a fixed seed, the other
a fresh one, printed on failure (``VERDICT_REGEX_SEED=<seed>`` replays it).
"""

from __future__ import annotations

import os
import random
import re
import warnings

import pytest

from verdict.engine.regex_guard import compile_guarded_regex, regex_problem

FIXED_SEED = 20261126
PATTERNS = 1500
TEXTS_PER_PATTERN = 8

ALPHABET = (
    "a", "b", "A", "B", "k", "K", "\u212a", "s", "S", "\u017f", "ß", "\u1e9e", "\u0130", "i",
    "I", "\u0131", "\u03c3", "\u03a3", "\u03c2", "é", "É", "0", "9", "٣", "²", "_", " ",
    "\n", "\r", "\x0b", "\x1c", "\u2028", "\xa0", "-", ".", "\U0001d400", "\U00010400",
    "\U00010428", "\ud800", "😀", "\uffff", "\x00",
)  # fmt: skip
CLASS_ITEMS = (
    "a", "b", "A-Z", "a-c", "\\d", "\\w", "\\s", "\\D", "\\W", "\\S", "é", "\u0130-\u0131",
    "K", "\\n", "\\-", "\u017f", "0-9", "\\x00-\\x7f", "\U00010400-\U0001044f",
)  # fmt: skip
ANCHORS = ("^", "\\A", "\\Z", "(?a:\\b)", "(?m:^)", "(?m:$)")
GROUPS = ("(", "(?:", "(?i:", "(?s:", "(?a:", "(?-i:", "(?m:", "(?P<g>")
QUANTIFIERS = ("", "", "", "*", "+", "?", "{2}", "{1,3}", "{,2}", "{2,}", "*?", "+?", "??")
GLOBAL_FLAGS = ("(?i)", "(?m)", "(?s)", "(?a)", "(?x)", "(?u)")


class _Patterns:
    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def pick(self, options: tuple[str, ...]) -> str:
        return options[self.random.randrange(len(options))]

    def atom(self, depth: int) -> str:
        roll = self.random.random()
        if roll < 0.35:
            return re.escape(self.pick(ALPHABET))
        if roll < 0.5:
            items = "".join(self.pick(CLASS_ITEMS) for _ in range(1 + self.random.randrange(3)))
            return "[" + ("^" if self.random.random() < 0.3 else "") + items + "]"
        if roll < 0.6:
            return self.pick(("\\d", "\\w", "\\s", "\\D", "\\W", "\\S", "."))
        if roll < 0.7:
            return self.pick(ANCHORS)
        if roll < 0.85 and depth < 3:
            inner = self.sequence(depth + 1)
            if self.random.random() < 0.3:
                inner += "|" + self.sequence(depth + 1)
            return self.pick(GROUPS) + inner + ")"
        return self.pick(ALPHABET[:6])

    def sequence(self, depth: int = 0) -> str:
        return "".join(
            self.atom(depth) + self.pick(QUANTIFIERS) for _ in range(self.random.randrange(5))
        )

    def pattern(self) -> str:
        pattern = self.sequence()
        if self.random.random() < 0.3:
            pattern += "$"
        if self.random.random() < 0.25:
            pattern = self.pick(GLOBAL_FLAGS) + pattern
        return pattern

    def text(self) -> str:
        return "".join(self.pick(ALPHABET) for _ in range(self.random.randrange(7)))


def _fresh_seed() -> int:
    configured = os.environ.get("VERDICT_REGEX_SEED")
    return int(configured) if configured else random.SystemRandom().randrange(2**32)


@pytest.mark.parametrize("which", ["fixed seed", "fresh seed"])
def test_random_patterns_find_what_pythons_re_finds(which: str) -> None:
    seed = FIXED_SEED if which == "fixed seed" else _fresh_seed()
    patterns = _Patterns(seed)
    problems: list[str] = []
    compared = refused = 0
    for _ in range(PATTERNS):
        pattern = patterns.pattern()
        ignore_case = patterns.random.random() < 0.3
        flags = re.IGNORECASE if ignore_case else 0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                reference = re.compile(pattern, flags)
        except re.error:
            continue
        try:
            matcher = compile_guarded_regex(pattern, ignore_case=ignore_case)
        except ValueError:
            refused += 1
            continue
        for _ in range(TEXTS_PER_PATTERN):
            text = patterns.text()
            expected = reference.search(text) is not None
            compared += 1
            if matcher(text) is not expected:
                problems.append(f"{pattern!r} (ignore case: {ignore_case}) on {text!r}: {expected}")
    assert not problems, (
        f"seed {seed} (replay: VERDICT_REGEX_SEED={seed}): {len(problems)} disagreements:\n"
        + "\n".join(problems[:10])
    )
    assert compared > PATTERNS * TEXTS_PER_PATTERN * 0.7, f"seed {seed}: {refused} refused"


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("^\\d$", "٣"),  # Python's \d is Unicode
        ("^\\w+$", "été"),
        ("\\s", "a\x0bb"),  # Python's \s has \v; RE2's does not
        ("\\s", "a\x1cb"),
        ("a$", "a\n"),  # Python's $ also matches before a final newline
        ("^a{,2}b$", "aab"),  # Python's {,n} is a repetition; RE2's is text
        ("[[:alpha:]]", ":]"),  # Python's is a class of '[', ':', 'a', ... then ']'
        ("(?x) a b ", "ab"),  # verbose mode
        ("\\u00e9", "é"),
        ("\\U0001F600", "😀"),
        ("^.$", "\ud800"),  # a lone surrogate is one character
    ],
)
def test_pythons_spellings_and_meanings_are_kept(pattern: str, text: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # [[ is a "possible nested set" to Python
        assert re.search(pattern, text) is not None
    assert compile_guarded_regex(pattern)(text) is True


@pytest.mark.parametrize(("pattern", "text"), [("(?i)^k$", "\u212a"), ("(?i)^\u017f$", "S")])
def test_ignore_case_matches_pythons_unusual_case_pairs(pattern: str, text: str) -> None:
    assert re.search(pattern, text) is not None
    assert compile_guarded_regex(pattern)(text) is True
    assert compile_guarded_regex(pattern[4:], ignore_case=True)(text) is True


@pytest.mark.parametrize("pattern", ["[", "\\pL", "\\z", "a**", "(?P<x", "\\Q.\\E"])
def test_a_pattern_pythons_re_refuses_never_matches_and_is_refused_when_saved(
    pattern: str,
) -> None:
    with pytest.raises(re.error):
        re.compile(pattern)
    matcher = compile_guarded_regex(pattern)
    assert [matcher(text) for text in ("", "a", pattern, "\\pL")] == [False] * 4
    problem = regex_problem(pattern)
    assert problem is not None
    assert problem.startswith("invalid regular expression")


def test_the_empty_string_is_answered_as_python_answers_it() -> None:
    assert compile_guarded_regex("^$")("") is True
    assert compile_guarded_regex("a*")("") is True
    assert compile_guarded_regex("(?a:\\b)")("") is False
    assert compile_guarded_regex("(?m:$)")("") is True
