"""Issue 12, finding 1: every ``$regex`` matches in linear time (RE2), patterns RE2
cannot run are refused with a reason, and a match scans a bounded input.

No test here measures time: ``benchmarks/regex_bench.py`` prints the figures. The
hang test bounds a whole process instead (Python's backtracking ``re`` holds the GIL
while it matches, so a thread running it could not even be timed out).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from verdict.engine import ConditionError, compile_condition, evaluate_condition
from verdict.engine.regex_guard import (
    MAX_INPUT_LENGTH,
    compile_guarded_regex,
    regex_problem,
)

# The audit's patterns, each with an input that makes a backtracking engine explode.
PATHOLOGICAL = {
    "(a|a)*b": "a" * 30,
    "(a|aa)+$": "a" * 30 + "!",
    "a*a*a*a*b": "a" * 30,
    "^(.|\\s)*END$": " " * 30,
    "^\\w+\\s?\\w+\\s?\\w+$": "a" * 30 + "!",
}
LONG = MAX_INPUT_LENGTH  # the longest string a match scans


@pytest.mark.parametrize("pattern", list(PATHOLOGICAL))
def test_the_audits_pathological_patterns_are_accepted(pattern: str) -> None:
    assert regex_problem(pattern) is None
    compile_condition({"x": {"$regex": pattern}})


@pytest.mark.parametrize(
    ("pattern", "matching", "not_matching"),
    [
        ("(a|a)*b", "a" * (LONG - 1) + "b", "a" * LONG),
        ("(a|aa)+$", "a" * LONG, "a" * (LONG - 1) + "b"),
        ("a*a*a*a*b", "a" * (LONG - 1) + "b", "a" * LONG),
        ("^(.|\\s)*END$", "x\n" * ((LONG - 3) // 2) + "END", "x" * LONG),
        ("^\\w+\\s?\\w+\\s?\\w+$", "a" * LONG, "a" * (LONG - 1) + "!"),
    ],
)
def test_pathological_patterns_decide_correctly_on_the_longest_scanned_input(
    pattern: str, matching: str, not_matching: str
) -> None:
    assert len(matching) <= LONG
    assert len(not_matching) <= LONG
    assert evaluate_condition({"x": {"$regex": pattern}}, {"x": matching}) is True
    assert evaluate_condition({"x": {"$regex": pattern}}, {"x": not_matching}) is False
    assert evaluate_condition({"x": {"$notRegex": pattern}}, {"x": not_matching}) is True


def test_pathological_patterns_on_adversarial_input_never_hang() -> None:
    # Before RE2, the first case alone took 2**30 steps (minutes); the whole process
    # must now finish well inside the timeout, however slow the machine.
    cases = [[p, text] for p, text in PATHOLOGICAL.items()]
    cases += [[p, "a" * 10_000] for p in PATHOLOGICAL]
    probe = (
        "import json, sys\n"
        "from verdict.engine import evaluate_condition\n"
        "cases = json.loads(sys.argv[1])\n"
        "print(json.dumps([evaluate_condition({'x': {'$regex': p}}, {'x': t}) "
        "for p, t in cases]))\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    results = json.loads(finished.stdout)
    assert results[:5] == [False, False, False, False, False]
    assert results[5:] == [False] * 5  # longer than MAX_INPUT_LENGTH: never scanned


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(a)\\1", "backreferences"),
        ("(?P<x>a)(?P=x)", "backreferences"),
        ("foo(?=bar)", "lookahead and lookbehind"),
        ("foo(?!bar)", "lookahead and lookbehind"),
        ("(?<=@)acme", "lookahead and lookbehind"),
        ("(?<!x)y", "lookahead and lookbehind"),
        ("(?>ab|a)c", "atomic groups"),
        ("a++b", "possessive quantifiers"),
        ("(a)?(?(1)b|c)", "conditionals"),
        ("\\w{1000}x", "too large"),
        ("\\Bx", "\\B is not supported"),
        ("a$b", "a $ that more pattern follows"),
        ("a{1001}", "at most 1000"),
    ],
)
def test_patterns_re2_cannot_run_are_refused_with_the_reason(pattern: str, reason: str) -> None:
    problem = regex_problem(pattern)
    assert problem is not None
    assert reason in problem
    with pytest.raises(ConditionError) as raised:
        compile_condition({"email": {"$regexi": pattern}})
    assert raised.value.path == "$.email.$regexi"
    assert reason in raised.value.reason


def test_a_unicode_word_boundary_is_refused_when_saved_and_runs_as_ascii_when_stored() -> None:
    pattern = "\\bbot\\b"
    problem = regex_problem(pattern)
    assert problem is not None
    assert "(?a:\\b)" in problem
    with pytest.raises(ConditionError) as raised:
        compile_condition({"ua": {"$regex": pattern}}, refuse_mistakes=True)
    assert raised.value.path == "$.ua.$regex"
    # A pattern stored before the rule (or sent to an SDK) still decides: as the ASCII
    # boundary, which agrees with Python's re wherever no non-ASCII letter is next to it.
    stored = compile_condition({"ua": {"$regex": pattern}})
    for text in ("a bot here", "bot", "robots", "bots", "my-bot!", "", "ébot"):
        ascii_answer = re.search(pattern, text, re.ASCII) is not None
        assert stored({"ua": text}) is ascii_answer, text
    assert stored({"ua": "a bot here"}) is True
    assert stored({"ua": "robots"}) is False


def test_case_insensitive_variants_ignore_case_including_non_ascii_letters() -> None:
    assert evaluate_condition({"ua": {"$regexi": "chrome"}}, {"ua": "Mozilla Chrome/120"})
    assert not evaluate_condition({"ua": {"$regex": "chrome"}}, {"ua": "Mozilla Chrome/120"})
    assert evaluate_condition({"city": {"$regexi": "^élan$"}}, {"city": "ÉLAN"})
    assert not evaluate_condition({"ua": {"$notRegexi": "BOT"}}, {"ua": "googlebot"})
    assert evaluate_condition({"ua": {"$notRegex": "BOT"}}, {"ua": "googlebot"})


def test_python_spellings_of_end_of_text_and_unicode_escapes_keep_their_meaning() -> None:
    assert evaluate_condition({"x": {"$regex": "abc\\Z"}}, {"x": "xabc"})
    assert not evaluate_condition({"x": {"$regex": "abc\\Z"}}, {"x": "abc\n"})
    assert evaluate_condition({"x": {"$regex": "caf\\u00e9"}}, {"x": "un café"})
    assert evaluate_condition({"x": {"$regex": "[\\u00e0-\\u00ff]"}}, {"x": "é"})
    assert evaluate_condition({"x": {"$regex": "\\\\Z"}}, {"x": "a\\Z"})  # a literal \Z


def test_a_lone_surrogate_in_an_attribute_is_one_character_and_never_raises() -> None:
    # JSON lets "\ud800" through; Python's re saw it as one character too.
    assert compile_guarded_regex("a")("\ud800a") is True
    assert compile_guarded_regex("^.a$")("\ud800a") is True
    assert compile_guarded_regex("^a$")("\ud800a") is False


def test_a_matcher_refuses_input_past_the_budget_without_scanning_it() -> None:
    matches = compile_guarded_regex("b")
    assert matches("a" * (MAX_INPUT_LENGTH - 1) + "b") is True
    assert matches("a" * MAX_INPUT_LENGTH + "b") is False


def test_a_refused_pattern_raises_value_error_with_the_reason() -> None:
    with pytest.raises(ValueError, match="backreferences"):
        compile_guarded_regex("(a)\\1")


def test_a_matcher_remembers_only_the_very_string_it_last_answered_for() -> None:
    matches = compile_guarded_regex("^b")
    first = "b" * 10
    assert matches(first) is True
    assert matches(first) is True  # the same object: answered from memory
    assert matches("a" + first[1:]) is False  # another string is matched afresh
    assert matches("".join(["b", "x"])) is True  # equal text, new object
    assert matches("") is False
