"""What an import will write: flags, their states per source environment, segments, and
everything of the source that did not map.

A mapper (:mod:`.growthbook`, :mod:`.unleash`) reads a source document and builds an
:class:`ImportPlan` without touching the database; :mod:`.apply` writes a plan through
the same services the API uses. Every rule a plan holds has been checked against the
engine already (its condition compiles with the API's save-time rules, its value has
the flag's type), so a source rule Verdict cannot express becomes a *note* of its flag
("not mapped: …") instead of a refusal of the whole file. Notes are the contract with
the user: whatever the source said and Verdict will not do is listed, flag by flag,
never dropped in silence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from verdict.engine import ConditionError, FlagType, SegmentTable, compile_condition
from verdict.engine.limits import MAX_RULES_PER_FLAG
from verdict.engine.validation import value_type_problem
from verdict.server.db.keys import KEY_MAX_LENGTH, KEY_PATTERN

__all__ = [
    "MAX_FLAGS",
    "MAX_SEGMENTS",
    "ImportPlan",
    "PlannedFlag",
    "PlannedRule",
    "PlannedSegment",
    "PlannedState",
    "SkippedFlag",
    "UnmappableError",
    "condition_problem",
    "is_key",
    "order_by_prerequisites",
    "percentage_of",
    "segment_key",
    "segment_table",
    "tags_of",
]

MAX_FLAGS = 1_000
"""Flags one file may hold: an import is one transaction, holding the database's write
lock (on SQLite) until it ends; split larger exports (by project or tag) and import
them one after another."""

MAX_SEGMENTS = 1_000
"""Segments (saved groups) one file may define."""

_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/ -]*$")
_TAG_MAX = 64
_MAX_TAGS = 20
_NOT_KEY = re.compile(r"[^A-Za-z0-9_.-]+")


class UnmappableError(Exception):
    """A part of the source that Verdict cannot express faithfully; the message says why."""


@dataclass
class PlannedRule:
    """One Verdict rule (the engine's shape) and the source part it came from.

    ``segments`` names segments the rule needs that the file does not define (they
    must exist in Verdict already; :mod:`.apply` drops the rule with a note if not).
    """

    rule: dict[str, Any]
    source: str
    segments: frozenset[str] = frozenset()


@dataclass
class PlannedState:
    """A flag's state in one source environment."""

    enabled: bool
    rules: list[PlannedRule] = field(default_factory=list)


@dataclass
class PlannedFlag:
    key: str
    name: str
    value_type: FlagType
    default: Any
    description: str | None = None
    variants: list[dict[str, Any]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    prerequisites: list[dict[str, Any]] = field(default_factory=list)
    # Source environment name (None: the file's one unnamed environment) -> state.
    states: dict[str | None, PlannedState] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def note(self, environment: str | None, text: str) -> None:
        self.notes.append(f"{environment}: {text}" if environment else text)


@dataclass
class PlannedSegment:
    key: str
    name: str
    conditions: dict[str, Any]
    description: str | None = None


@dataclass
class SkippedFlag:
    key: str
    reason: str


@dataclass
class ImportPlan:
    """Everything one source file maps to, in the order it must be written."""

    source: str
    format: str
    environments: list[str | None]
    flags: list[PlannedFlag] = field(default_factory=list)
    segments: list[PlannedSegment] = field(default_factory=list)
    skipped: list[SkippedFlag] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def is_key(text: str) -> bool:
    """Whether ``text`` can be a Verdict flag or segment key as it is."""
    return len(text) <= KEY_MAX_LENGTH and KEY_PATTERN.match(text) is not None


def segment_key(raw: str, taken: set[str]) -> str:
    """A Verdict segment key for a source group id or name, unique among ``taken``."""
    key = raw if is_key(raw) else _NOT_KEY.sub("-", raw).strip("-.") or "segment"
    if not key[0].isalpha():
        key = "s-" + key
    key = key[:KEY_MAX_LENGTH]
    candidate, number = key, 2
    while candidate in taken:
        suffix = f"-{number}"
        candidate = key[: KEY_MAX_LENGTH - len(suffix)] + suffix
        number += 1
    taken.add(candidate)
    return candidate


def tags_of(flag: PlannedFlag, raw_tags: Iterable[str]) -> None:
    """Add the source tags that are valid Verdict tags; note the others."""
    for tag in raw_tags:
        if tag in flag.tags:
            continue
        if len(flag.tags) >= _MAX_TAGS:
            flag.note(None, f"tag {tag!r} not imported: at most {_MAX_TAGS} tags per flag")
        elif len(tag) <= _TAG_MAX and _TAG.match(tag):
            flag.tags.append(tag)
        else:
            flag.note(
                None,
                f"tag {tag!r} not imported: tags are letters, digits, _ . : / - and "
                f"spaces, at most {_TAG_MAX} characters",
            )


def percentage_of(fraction: float) -> float:
    """A fraction (0..1) as a Verdict percentage, in its 0.01 steps."""
    return round(min(max(fraction, 0.0), 1.0) * 100, 2)


def segment_table(conditions: Mapping[str, Any]) -> SegmentTable:
    """Segment conditions by key, compiled as the management API saves them."""
    return SegmentTable(conditions, refuse_mistakes=True)


def condition_problem(condition: Mapping[str, Any], segments: SegmentTable) -> str | None:
    """Why the engine refuses ``condition``, or ``None`` when it compiles.

    The rules are those of the management API when it saves (``refuse_mistakes``):
    an operand GrowthBook evaluates but that is almost surely a mistake (ordering a
    boolean, ``$in`` without an array, an unknown ``$type``) is refused too, since the
    import writes through the same services and they would refuse it. ``segments``
    should come from :func:`segment_table`, so the segments it includes meet the same
    rules.
    """
    try:
        compile_condition(condition, segments, refuse_mistakes=True)
    except ConditionError as exc:
        issue = exc.issues[0]
        where = issue.path.removeprefix("$").lstrip(".")
        return f"{where}: {issue.reason}" if where else issue.reason
    except (RecursionError, TypeError, ValueError) as exc:
        return f"the condition cannot be compiled: {exc}"
    return None


def check_value(value: Any, value_type: FlagType) -> None:
    """Raise :class:`UnmappableError` unless ``value`` is a value of the flag's type."""
    problem = value_type_problem(value, value_type)
    if problem is not None:
        raise UnmappableError(f"value {problem}")


def check_rule_count(flag: PlannedFlag, environment: str | None, state: PlannedState) -> None:
    """Verdict allows :data:`MAX_RULES_PER_FLAG` rules per flag and environment: a state
    with more is imported off, without rules, and noted."""
    if len(state.rules) > MAX_RULES_PER_FLAG:
        flag.note(
            environment,
            f"{len(state.rules)} rules, more than Verdict's {MAX_RULES_PER_FLAG} per flag "
            "and environment: imported off, without rules",
        )
        state.enabled = False
        state.rules = []


def order_by_prerequisites(flags: list[PlannedFlag]) -> list[PlannedFlag]:
    """Flags ordered so that a prerequisite in the file is written before the flags
    that require it; a prerequisite that closes a cycle is dropped with a note."""
    by_key = {flag.key: flag for flag in flags}
    ordered: list[PlannedFlag] = []
    visiting: set[str] = set()
    done: set[str] = set()
    for root in flags:
        if root.key in done:
            continue
        # Depth-first without recursion: (flag, index of the next prerequisite to visit).
        stack: list[tuple[PlannedFlag, int]] = [(root, 0)]
        visiting.add(root.key)
        while stack:
            flag, index = stack[-1]
            if index == len(flag.prerequisites):
                stack.pop()
                visiting.discard(flag.key)
                done.add(flag.key)
                ordered.append(flag)
                continue
            stack[-1] = (flag, index + 1)
            parent = by_key.get(flag.prerequisites[index]["flag"])
            if parent is None or parent.key in done:
                continue
            if parent.key in visiting:
                flag.note(None, f"prerequisite {parent.key!r} not mapped: it closes a cycle")
                flag.prerequisites[index] = {}
                continue
            visiting.add(parent.key)
            stack.append((parent, 0))
    for flag in flags:
        flag.prerequisites = [item for item in flag.prerequisites if item]
    return ordered
