"""How large targeting configuration may be, so evaluation cost stays bounded.

Every limit is checked when configuration compiles (so the management API refuses a
write that exceeds one with a 422 naming the field) and again by every SDK that
compiles the configuration. What is counted:

- **nodes** of one condition: every key of a condition object (an attribute test or a
  logical operator) and every operator of an operator object, including those nested
  under ``$not``, ``$size``, ``$all`` and ``$elemMatch``. Values are not nodes: the
  members of an ``$in`` list are one set lookup, not one test each.
- **depth**: each condition object and each operator object is one level;
  ``{"x": {"$gt": 1}}`` is 2 deep, ``{"$or": [{"x": 1}]}`` is 2 deep.
- **segments**: distinct keys named by ``$inSegment`` / ``$notInSegment`` in one
  condition.
- **expanded nodes**: a condition's nodes plus, for each segment reference, the
  expanded nodes of that segment (counted every time it is referenced). This is what
  one evaluation may visit, and it stops chains of segments that include each other
  twice from doubling the work at every link.
- **rules** of one flag in one environment.
- **prerequisite depth**: the links of the longest chain of prerequisites a flag
  starts (``a`` requires ``b``, which requires ``c``: 2). Each link is one more nested
  evaluation, so a deeper chain is refused when configuration compiles rather than
  left to fail every evaluation.

The walk is iterative where it matters and stops at the first limit exceeded, so a
100,000-term ``$or`` is refused after 1,001 nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from verdict.engine.errors import ConditionError, child_path, index_path
from verdict.engine.operators import tests_each_element

__all__ = [
    "MAX_CONDITION_DEPTH",
    "MAX_CONDITION_NODES",
    "MAX_EXPANDED_NODES",
    "MAX_PREREQUISITE_DEPTH",
    "MAX_RULES_PER_FLAG",
    "MAX_SEGMENT_REFERENCES",
    "ConditionShape",
    "expanded_problem",
    "measure_condition",
]

MAX_CONDITION_NODES = 1_000
MAX_CONDITION_DEPTH = 16
MAX_SEGMENT_REFERENCES = 50
MAX_EXPANDED_NODES = 10_000
MAX_RULES_PER_FLAG = 100
MAX_PREREQUISITE_DEPTH = 32

_LISTS = frozenset({"$and", "$or", "$nor"})
_SEGMENT_KEYS = frozenset({"$inSegment", "$notInSegment"})
_CONDITION_KEYS = _LISTS | _SEGMENT_KEYS | {"$not", "$savedGroup", "$savedGroups"}


@dataclass(frozen=True, slots=True)
class ConditionShape:
    """The size of one condition: its nodes, depth and segment references (repeated)."""

    nodes: int
    depth: int
    segments: tuple[str, ...]


class _Walk:
    def __init__(self, root: str) -> None:
        self.root = root
        self.nodes = 0
        self.depth = 0
        self.segments: list[str] = []

    def count(self, amount: int = 1) -> None:
        self.nodes += amount
        if self.nodes > MAX_CONDITION_NODES:
            raise ConditionError(
                self.root,
                f"is too large: more than {MAX_CONDITION_NODES} nodes (attribute tests and "
                "operators); split it into segments, or list values with $in",
            )

    def enter(self, level: int, path: str) -> None:
        self.depth = max(self.depth, level)
        if level > MAX_CONDITION_DEPTH:
            raise ConditionError(
                path,
                f"nests deeper than {MAX_CONDITION_DEPTH} levels "
                "(condition objects and operator objects)",
            )

    def document(self, condition: Any, path: str, level: int) -> None:
        if not isinstance(condition, dict):
            return  # compilation reports the wrong type
        self.enter(level, path)
        for key, value in condition.items():
            self.count()
            if key in _LISTS and isinstance(value, list):
                key_path = child_path(path, key)
                for index, item in enumerate(value):
                    if isinstance(item, dict):
                        self.document(item, index_path(key_path, index), level + 1)
                    else:
                        self.count()
            elif key == "$not":
                self.document(value, child_path(path, key), level + 1)
            elif key in _SEGMENT_KEYS:
                if isinstance(value, str):
                    self.segments.append(value)
            elif isinstance(key, str) and key not in _CONDITION_KEYS:
                # Any other key is an attribute path, "$where" too (as in GrowthBook).
                self.value(value, child_path(path, key), level + 1)

    def value(self, condition: Any, path: str, level: int) -> None:
        if not (isinstance(condition, dict) and condition):
            return  # a literal: one node, already counted by its key
        if not all(isinstance(key, str) and key.startswith("$") for key in condition):
            return  # a literal object (or an invalid mix compilation reports)
        self.enter(level, path)
        for name, operand in condition.items():
            self.count()
            operand_path = child_path(path, name)
            if name in ("$not", "$size") or (name == "$elemMatch" and tests_each_element(operand)):
                self.value(operand, operand_path, level + 1)
            elif name == "$elemMatch":
                self.document(operand, operand_path, level + 1)
            elif name in ("$all", "$alli") and isinstance(operand, list):
                for index, item in enumerate(operand):
                    self.count()
                    self.value(item, index_path(operand_path, index), level + 1)


def measure_condition(condition: Any, path: str) -> ConditionShape:
    """The shape of ``condition``; raises ConditionError at the first limit exceeded."""
    walk = _Walk(path)
    walk.document(condition, path, 1)
    distinct = set(walk.segments)
    if len(distinct) > MAX_SEGMENT_REFERENCES:
        raise ConditionError(
            path,
            f"references {len(distinct)} segments; at most {MAX_SEGMENT_REFERENCES} are allowed",
        )
    return ConditionShape(walk.nodes, walk.depth, tuple(walk.segments))


def expanded_problem(nodes: int) -> str | None:
    """Why a condition whose segments expand to ``nodes`` nodes is refused, or ``None``."""
    if nodes <= MAX_EXPANDED_NODES:
        return None
    return (
        f"with the segments it includes (each time it includes them) it has {nodes} nodes; "
        f"at most {MAX_EXPANDED_NODES} are allowed"
    )
