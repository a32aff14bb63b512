"""Whether an attribute document satisfies a targeting condition.

Conditions are MongoDB-style documents with GrowthBook's syntax and semantics:
``{"country": {"$in": ["US", "CA"]}, "plan": "pro"}``. Every top-level key must hold
(logical AND, in order). Keys are the logical operators ``$and``, ``$or``, ``$nor``,
``$not``, Verdict's ``$inSegment`` / ``$notInSegment`` (which include a reusable
segment's condition by key), GrowthBook's ``$savedGroup`` (Verdict has no saved groups:
it never matches, as in GrowthBook without the group), or dotted attribute paths -- any
other key, ``$where`` included, as GrowthBook reads it.

:func:`compile_condition` validates a condition once and returns a closure over the
attribute document; hot shapes (string equality, ``$in`` over strings, boolean
equality on a top-level attribute) become one-line closures with GrowthBook's
fallbacks kept only where the attribute's type demands them. Conditions GrowthBook
cannot evaluate either raise :class:`ConditionError` with the JSON path of the bad part;
with ``refuse_mistakes`` (the mode the management API saves in) so do those it answers
but that are almost always mistakes (see :mod:`verdict.engine.operators`). Segments
reference each other freely; a cycle is rejected with the cycle spelled out. Size,
depth and segment limits (:mod:`verdict.engine.limits`) are checked before anything is
compiled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from verdict.engine.errors import ConditionError, child_path, index_path
from verdict.engine.jsonvalues import MembershipSet
from verdict.engine.limits import ConditionShape, expanded_problem, measure_condition
from verdict.engine.operators import (
    ValuePredicate,
    all_of,
    always,
    compile_value_condition,
    never,
)
from verdict.engine.types import Attributes

__all__ = [
    "CompiledCondition",
    "SegmentTable",
    "compile_condition",
    "evaluate_condition",
    "get_path",
]

CompiledCondition = Callable[[Attributes], bool]
"""A compiled condition: call it with the attribute document."""

_EVALUATION_ERRORS = (TypeError, ValueError, AttributeError, IndexError, RecursionError)

_PathPart = tuple[str, int | None]  # (key, array index when the key is a canonical index)


def _path_parts(path: str) -> tuple[_PathPart, ...]:
    parts: list[_PathPart] = []
    for part in path.split("."):
        is_index = part.isascii() and part.isdigit() and (part == "0" or part[0] != "0")
        parts.append((part, int(part) if is_index and len(part) <= 10 else None))
    return tuple(parts)


def get_path(document: Any, path: str) -> Any:
    """The value at dotted ``path`` in ``document``, or ``None`` when it is missing.

    Like GrowthBook (and JavaScript property access), arrays expose their canonical
    indices (``"0"``, ``"1"`` ... but not ``"01"``) and ``"length"``.
    """
    return _walk(document, _path_parts(path))


def _walk(document: Any, parts: tuple[_PathPart, ...]) -> Any:
    current = document
    for key, index in parts:
        if isinstance(current, (dict, Mapping)):
            if key not in current:
                return None
            current = current[key]
        elif isinstance(current, list):
            if key == "length":
                current = len(current)
            elif index is not None and index < len(current):
                current = current[index]
            else:
                return None
        else:
            return None
    return current


def _any_of(predicates: Sequence[ValuePredicate]) -> ValuePredicate:
    if not predicates:
        return never
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        first, second = predicates
        return lambda value: first(value) or second(value)
    chain = tuple(predicates)

    def some(value: Any) -> bool:
        # An explicit loop: any() over a generator costs a frame per call.
        for predicate in chain:  # noqa: SIM110
            if predicate(value):
                return True
        return False

    return some


class SegmentTable:
    """Reusable segment conditions by key, each compiled once on first use.

    ``refuse_mistakes`` is the mode segments (and, by default, the conditions compiled
    with this table) are compiled in: see :func:`compile_condition`.
    """

    def __init__(
        self,
        segments: Mapping[str, Any] | None,
        path: str = "$.segments",
        *,
        refuse_mistakes: bool = False,
    ) -> None:
        self._segments: Mapping[str, Any] = segments or {}
        self._path = path
        self.refuse_mistakes = refuse_mistakes
        self._compiled: dict[tuple[str, bool], ValuePredicate] = {}
        self._compiling: list[str] = []
        self._expanded: dict[str, int] = {}

    def __contains__(self, key: object) -> bool:
        return key in self._segments

    def keys(self) -> list[str]:
        return list(self._segments)

    def resolve(self, key: str, path: str, on_mapping: bool) -> ValuePredicate:
        """The compiled condition of segment ``key``, referenced at ``path``."""
        if key not in self._segments:
            raise ConditionError(path, f"unknown segment {key!r}")
        cached = self._compiled.get((key, on_mapping))
        if cached is not None:
            return cached
        if key in self._compiling:
            cycle = [*self._compiling[self._compiling.index(key) :], key]
            raise ConditionError(path, "segment cycle: " + " -> ".join(cycle))
        self._compiling.append(key)
        segment_path = child_path(self._path, key)
        try:
            shape = measure_condition(self._segments[key], segment_path)
            compiled = _Compiler(self, self.refuse_mistakes).document(
                self._segments[key], segment_path, on_mapping
            )
            self._expanded[key] = self.expanded_nodes(shape, segment_path)
        finally:
            self._compiling.pop()
        self._compiled[(key, on_mapping)] = compiled
        return compiled

    def expanded_nodes(self, shape: ConditionShape, path: str) -> int:
        """The nodes of a compiled condition with every segment it includes expanded."""
        nodes = shape.nodes + sum(self._expanded.get(key, 0) for key in shape.segments)
        problem = expanded_problem(nodes)
        if problem is not None:
            raise ConditionError(path, problem)
        return nodes


class _Compiler:
    def __init__(self, segments: SegmentTable, refuse_mistakes: bool) -> None:
        self._segments = segments
        self._refuse_mistakes = refuse_mistakes

    @property
    def refuse_mistakes(self) -> bool:
        return self._refuse_mistakes

    def nested_document(self, condition: Any, path: str) -> ValuePredicate:
        # $elemMatch elements may be arrays or scalars, not only objects.
        return self.document(condition, path, on_mapping=False)

    def document(self, condition: Any, path: str, on_mapping: bool) -> ValuePredicate:
        if not isinstance(condition, dict):
            raise ConditionError(path, "a condition must be an object")
        parts: list[ValuePredicate] = []
        for key, value in condition.items():
            if not isinstance(key, str):
                raise ConditionError(path, f"condition key {key!r} is not a string")
            key_path = child_path(path, key)
            if key in ("$and", "$or", "$nor"):
                members = self._condition_list(value, key_path, on_mapping)
                if key == "$and":
                    parts.append(all_of(members))
                elif key == "$or":
                    # An empty $or matches, as in GrowthBook.
                    parts.append(_any_of(members) if members else always)
                else:
                    parts.append(_negated(_any_of(members) if members else always))
            elif key == "$not":
                parts.append(_negated(self.document(value, key_path, on_mapping)))
            elif key in ("$inSegment", "$notInSegment"):
                if not isinstance(value, str):
                    raise ConditionError(key_path, f"{key} needs a segment key string")
                segment = self._segments.resolve(value, key_path, on_mapping)
                parts.append(segment if key == "$inSegment" else _negated(segment))
            elif key in ("$savedGroup", "$savedGroups"):
                if self._refuse_mistakes:
                    raise ConditionError(
                        key_path,
                        "GrowthBook saved groups do not exist in Verdict, so GrowthBook's rule "
                        "for a group it was not given applies (never matches); use $inSegment",
                    )
                parts.append(never)
            else:
                if key.startswith("$") and self._refuse_mistakes:
                    raise ConditionError(
                        key_path,
                        f"unknown condition operator {key} (GrowthBook would read it as an "
                        "attribute name)",
                    )
                parts.append(self._field(key, value, key_path, on_mapping))
        return all_of(parts)

    def _condition_list(self, value: Any, path: str, on_mapping: bool) -> list[ValuePredicate]:
        if not isinstance(value, list):
            raise ConditionError(path, "needs an array of conditions")
        return [
            self.document(item, index_path(path, index), on_mapping)
            for index, item in enumerate(value)
        ]

    def _field(self, key: str, value: Any, path: str, on_mapping: bool) -> ValuePredicate:
        matches = compile_value_condition(value, path, self)
        if on_mapping and "." not in key:
            return _top_level_field(key, value, matches)
        parts = _path_parts(key)
        return lambda document: matches(_walk(document, parts))


def _negated(predicate: ValuePredicate) -> ValuePredicate:
    return lambda value: not predicate(value)


def _only_strings(operand: Any) -> frozenset[str] | None:
    if isinstance(operand, list) and all(isinstance(item, str) for item in operand):
        return MembershipSet(operand).strings
    return None


def _top_level_field(key: str, value: Any, matches: ValuePredicate) -> ValuePredicate:
    """A closure reading ``key`` straight from the attribute mapping.

    Specialised shapes reproduce ``matches`` exactly: a non-string value never
    equals a string; an unhashable value (array, object) falls back to ``matches``
    for the array-intersection rule of ``$in``.
    """
    if isinstance(value, str):
        return lambda attributes: attributes.get(key) == value
    if isinstance(value, bool):
        return lambda attributes: attributes.get(key) is value
    if isinstance(value, dict) and len(value) == 1:
        ((name, operand),) = value.items()
        if name == "$eq" and isinstance(operand, str):
            return lambda attributes: attributes.get(key) == operand
        if name == "$ne" and isinstance(operand, str):
            return lambda attributes: attributes.get(key) != operand
        members = _only_strings(operand)
        if name == "$in" and members is not None:

            def in_strings(attributes: Attributes) -> bool:
                found = attributes.get(key)
                try:
                    return found in members
                except TypeError:
                    return matches(found)

            return in_strings
        if name == "$nin" and members is not None:

            def not_in_strings(attributes: Attributes) -> bool:
                found = attributes.get(key)
                try:
                    return found not in members
                except TypeError:
                    return matches(found)

            return not_in_strings
    return lambda attributes: matches(attributes.get(key))


def compile_condition(
    condition: Mapping[str, Any],
    segments: Mapping[str, Any] | SegmentTable | None = None,
    *,
    path: str = "$",
    refuse_mistakes: bool | None = None,
) -> CompiledCondition:
    """Validate ``condition`` and compile it into a predicate over attribute documents.

    ``segments`` maps segment keys to their conditions, for ``$inSegment``; pass a
    :class:`SegmentTable` to share compiled segments between many conditions.
    ``path`` is the JSON path the condition sits at, used in error messages.
    Raises :class:`ConditionError` for a condition GrowthBook cannot evaluate either,
    or that Verdict cannot run (limits, regular expressions RE2 cannot express);
    with ``refuse_mistakes`` (default: the segment table's mode, else false) also for
    operands GrowthBook answers but that are almost always mistakes, such as
    ``{"$gt": true}`` (which never matches). Otherwise those evaluate as in GrowthBook.
    """
    table = (
        segments
        if isinstance(segments, SegmentTable)
        else SegmentTable(segments, refuse_mistakes=bool(refuse_mistakes))
    )
    strict = table.refuse_mistakes if refuse_mistakes is None else refuse_mistakes
    shape = measure_condition(condition, path)
    compiled = _Compiler(table, strict).document(condition, path, on_mapping=True)
    table.expanded_nodes(shape, path)
    return compiled


def evaluate_condition(
    condition: Mapping[str, Any],
    attributes: Attributes,
    segments: Mapping[str, Any] | None = None,
) -> bool:
    """Whether ``attributes`` satisfies ``condition``.

    Compiles on every call: compile once with :func:`compile_condition` to evaluate
    the same condition repeatedly. Raises :class:`ConditionError` for a condition
    GrowthBook cannot evaluate either (see :func:`compile_condition`). As in
    GrowthBook, a value that breaks evaluation (a non-JSON type that cannot be
    compared) fails the condition instead of raising.
    """
    compiled = compile_condition(condition, segments)
    try:
        return bool(compiled(attributes))
    except _EVALUATION_ERRORS:
        return False
