"""Differential test: Verdict's condition engine against GrowthBook's own evaluator.

Thousands of random conditions (every operator, nested logic, attribute paths, every
JSON type as operand and as attribute, arrays, and GrowthBook's odd corners: ordering
booleans, ``$type: "undefined"``, ``$in`` without an array, ``$exists: 0``, unknown
``$``-keys, operators mixed with plain keys ...) are each decided on several random
attribute documents by ``growthbook.core.evalCondition`` (the oracle) and by
:func:`verdict.engine.compile_condition`; every answer must agree.

A condition the engine refuses must be one Verdict cannot run at all (a regular
expression RE2 cannot express with Python's meaning), and the save-time validation
must refuse it too; everything else GrowthBook answers must compile. One run uses a
fixed seed, the other a fresh one, printed on failure with the failing cases
(``VERDICT_DIFFERENTIAL_SEED=<seed>`` replays it).
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from growthbook.core import evalCondition

from verdict.engine import ConditionError, compile_condition
from verdict.engine.operators import tests_each_element as _tests_each_element

FIXED_SEED = 20261126
CONDITIONS = 2500
DOCUMENTS_PER_CONDITION = 8

OPERATORS = (
    "$eq", "$ne", "$lt", "$lte", "$gt", "$gte", "$veq", "$vne", "$vgt", "$vgte", "$vlt",
    "$vlte", "$in", "$nin", "$ini", "$nini", "$inGroup", "$notInGroup", "$regex", "$regexi",
    "$notRegex", "$notRegexi", "$exists", "$type", "$not", "$size", "$elemMatch", "$all",
    "$alli",
)  # fmt: skip
CONDITION_KEYS = ("$and", "$or", "$nor", "$not", "$savedGroup", "$savedGroups")
VALUE_LEVEL_CONDITION_KEYS = ("$and", "$or", "$nor", "$savedGroup")

STRINGS = (
    "", "a", "A", "ab", "b", "abc", "k", "K", "\u212a", "é", "É", "ß", "SS", "😀", "\uffff",
    "\ue000", "a\n", "\n", "a b", "bot", "a bot!", "x,y,", "10", "9", "٣", "1.2.3", "US",
    "us", "CA", "$eq", "true", "null", "\u000b", "\ud800",
)  # fmt: skip
VERSIONS = (
    "1.2.3", "v1.2.3", "1.10.0", "1.0.0", "1.0.0-rc.1", "1.0.0-rc.10", "2", "1.2",
    "1.2.3+build.7", "1.٩.0", "0", "",
)  # fmt: skip
NUMBERS = (0, 1, -1, 2, 3, 10, 1.5, -2.5, 0.0, 1.0, -0.0, 2**53, 2**53 + 1, 10**30, 1e-7)
KEYS = ("a", "b", "0", "1", "x", "$eq", "length")
PATHS = (
    "a", "b", "c", "n", "s", "v", "tags", "obj.a", "obj.b", "obj.tags", "tags.0", "tags.1",
    "tags.01", "tags.length", "obj.tags.0", "deep.x.y", "a.b", "", "$where", "x.y",
)  # fmt: skip
TYPE_NAMES = ("null", "boolean", "number", "string", "array", "object", "undefined", "unknown")
PATTERNS = (
    "^a", "b$", "A", ".", "😀", "^\\d+$", "\\w", "\\s", "(?i)k", "é", "^$", "a|b", "[^a]",
    "a{,2}b", "^v?1\\.", "(?a:\\b)bot", "(?m)^b", "a\\Z", "[\\d.]+", "(?s)a.b", "ß", "",
    "^[a-z]*$", "\\W", "(?x) a b # comment", "[[:alpha:]]", "(?-i:a)", "^.$", "\\u212a",
    "(a+)+", "(\\w*,)*",  # nested quantifiers: refused when saved, but they run
    "[", "\\pL", "a**", "(?P<x", "\\z",  # Python refuses these: they never match
)  # fmt: skip
UNRUNNABLE_PATTERNS = ("(a)\\1", "a(?=b)", "\\bbot", "a$b", "\\Ba", "(?>a)", "a{1001}")
UNRUNNABLE_REASONS = (
    "backreferences", "lookahead", "(?a:\\b)", "more pattern follows", "\\B is not",
    "atomic groups", "at most 1000",
)  # fmt: skip


class _Generator:
    """Random conditions and attribute documents; cheap, so thousands take a second."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.used: Counter[str] = Counter()

    def pick(self, options: tuple[Any, ...]) -> Any:
        return options[self.random.randrange(len(options))]

    def chance(self, probability: float) -> bool:
        return self.random.random() < probability

    # ------------------------------------------------------------- values
    def scalar(self) -> Any:
        kind = self.random.randrange(7)
        if kind == 0:
            return None
        if kind == 1:
            return self.chance(0.5)
        if kind in (2, 3):
            return self.pick(NUMBERS)
        if kind == 4:
            return self.pick(VERSIONS)
        return self.pick(STRINGS)

    def value(self, depth: int = 0) -> Any:
        roll = self.random.random()
        if depth < 2 and roll < 0.15:
            return [self.value(depth + 1) for _ in range(self.random.randrange(4))]
        if depth < 2 and roll < 0.25:
            return {self.pick(KEYS): self.value(depth + 1) for _ in range(self.random.randrange(3))}
        return self.scalar()

    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for key in ("a", "b", "c", "n", "s", "v", "tags", "obj", "deep", "", "$where", "x.y"):
            if self.chance(0.6):
                document[key] = self.attribute(key)
        return document

    def attribute(self, key: str) -> Any:
        if key == "v" and self.chance(0.7):
            return self.pick(VERSIONS)
        if key == "tags" and self.chance(0.7):
            return [self.value(1) for _ in range(self.random.randrange(5))]
        if key == "obj" and self.chance(0.7):
            return {"a": self.value(1), "b": self.value(1), "tags": [self.scalar(), self.scalar()]}
        if key == "deep" and self.chance(0.5):
            return {"x": {"y": self.value(1)}}
        return self.value()

    # ------------------------------------------------------------- conditions
    def condition(self, depth: int = 0) -> dict[str, Any]:
        condition: dict[str, Any] = {}
        for _ in range(1 + (self.random.randrange(3) == 0)):
            if depth < 3 and self.chance(0.3):
                key = self.pick(CONDITION_KEYS)
                self.used[key] += 1
                condition[key] = self.logical(key, depth)
            else:
                condition[self.pick(PATHS)] = self.value_condition(depth + 1)
        return condition

    def logical(self, key: str, depth: int) -> Any:
        if key == "$not":
            return self.condition(depth + 1)
        if key in ("$savedGroup", "$savedGroups"):
            return self.pick(({"id": "beta"}, {"id": "beta", "attributeKey": "a"}, "beta", None))
        return [self.condition(depth + 1) for _ in range(self.random.randrange(4))]

    def value_condition(self, depth: int) -> Any:
        roll = self.random.random()
        if roll < 0.2 or depth > 4:
            return self.value()
        if roll < 0.25:  # operators mixed with plain keys: a literal object in GrowthBook
            return {"$eq": self.scalar(), self.pick(KEYS[:5]): self.scalar()}
        if roll < 0.27:
            return {}
        operators: dict[str, Any] = {}
        for _ in range(1 + (self.random.randrange(3) == 0)):
            pool = OPERATORS if self.chance(0.97) else VALUE_LEVEL_CONDITION_KEYS
            name = self.pick(pool)
            self.used[name] += 1
            operators[name] = self.operand(name, depth)
        return operators

    def operand(self, name: str, depth: int) -> Any:
        # Often an operand of a type the operator is not meant for; never for $elemMatch,
        # which GrowthBook cannot evaluate without an object (Verdict refuses it).
        odd = name != "$elemMatch" and self.chance(0.15)
        if odd or name in ("$eq", "$ne", "$lt", "$lte", "$gt", "$gte"):
            return self.value()
        if name.startswith("$v"):
            return self.pick(VERSIONS) if self.chance(0.8) else self.pick(NUMBERS)
        if name in ("$in", "$nin", "$ini", "$nini"):
            return [self.value(1) for _ in range(self.random.randrange(5))]
        if name in ("$inGroup", "$notInGroup"):
            return self.pick(("beta", "", "a"))
        if "egex" in name:
            if self.chance(0.03):
                return self.pick(UNRUNNABLE_PATTERNS)
            return self.pick(PATTERNS)
        if name == "$exists":
            return self.chance(0.5)
        if name == "$type":
            return self.pick(TYPE_NAMES)
        if name == "$size":
            return self.pick((0, 1, 2)) if self.chance(0.6) else self.value_condition(depth + 1)
        if name in ("$all", "$alli"):
            return [self.element_condition(depth) for _ in range(self.random.randrange(3))]
        if name == "$elemMatch":
            if self.chance(0.5):
                return self.operator_object(depth)
            return self.element_fields(depth)
        if name == "$not":
            return self.value_condition(depth + 1)
        return self.value()  # $and, $or, $nor, $savedGroup under an attribute

    def element_condition(self, depth: int) -> Any:
        return self.value_condition(depth + 1) if self.chance(0.4) else self.scalar()

    def element_fields(self, depth: int) -> dict[str, Any]:
        """A condition on each element's fields (one of only "$"-keys such as
        {"$not": {...}} would test the element itself)."""
        while True:
            candidate = self.condition(depth + 1)
            if not _tests_each_element(candidate):
                return candidate

    def operator_object(self, depth: int) -> dict[str, Any]:
        while True:
            candidate = self.value_condition(depth + 1)
            if _tests_each_element(candidate):
                return candidate


def _fresh_seed() -> int:
    configured = os.environ.get("VERDICT_DIFFERENTIAL_SEED")
    return int(configured) if configured else random.SystemRandom().randrange(2**32)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True)


def _disagreements(seed: int) -> tuple[list[str], Counter[str], Counter[bool], int]:
    generator = _Generator(seed)
    problems: list[str] = []
    refused: Counter[str] = Counter()
    answers: Counter[bool] = Counter()
    compiled: Callable[[Any], bool]
    for _ in range(CONDITIONS):
        condition = generator.condition()
        try:
            compiled = compile_condition(condition)
        except ConditionError as exc:
            refused[exc.reason.split(":")[0]] += 1
            if not any(reason in exc.reason for reason in UNRUNNABLE_REASONS):
                problems.append(f"engine refused {_dump(condition)}: {exc}")
            try:
                compile_condition(condition, refuse_mistakes=True)
                problems.append(f"saving accepted what the engine refuses: {_dump(condition)}")
            except ConditionError:
                pass
            continue
        for _ in range(DOCUMENTS_PER_CONDITION):
            attributes = generator.document()
            expected = evalCondition(attributes, condition)
            try:
                actual = compiled(attributes)
            except Exception as exc:  # any raise is a failure to report
                actual = f"raised {exc!r}"
            answers[expected] += 1
            if actual is not expected:
                problems.append(
                    f"condition {_dump(condition)} attributes {_dump(attributes)}: "
                    f"GrowthBook {expected}, Verdict {actual}"
                )
    return problems, generator.used, answers, sum(refused.values())


@pytest.mark.parametrize("which", ["fixed seed", "fresh seed"])
def test_random_conditions_decide_exactly_as_growthbooks_evaluator(which: str) -> None:
    seed = FIXED_SEED if which == "fixed seed" else _fresh_seed()
    problems, used, answers, refused = _disagreements(seed)
    shown = "\n".join(problems[:10])
    assert not problems, (
        f"seed {seed} (replay: VERDICT_DIFFERENTIAL_SEED={seed}): {len(problems)} "
        f"disagreements, first ones:\n{shown}"
    )
    # The generator really exercises everything, and both answers are common.
    missing = [name for name in (*OPERATORS, *CONDITION_KEYS) if used[name] == 0]
    assert not missing, f"seed {seed}: never generated {missing}"
    evaluated = answers[True] + answers[False]
    assert evaluated >= CONDITIONS * DOCUMENTS_PER_CONDITION * 0.9, f"seed {seed}: {refused=}"
    assert min(answers[True], answers[False]) > evaluated * 0.1, f"seed {seed}: {answers}"
