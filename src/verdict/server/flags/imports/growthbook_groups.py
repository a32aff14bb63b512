"""GrowthBook saved groups in conditions, turned into Verdict segments.

GrowthBook names a saved group inside a condition in two ways:

- ``{"<attribute>": {"$inGroup": "<group id>"}}`` (and ``$notInGroup``): the
  attribute's value is (not) one of the group's values, GrowthBook's ``$in``;
- ``{"$savedGroup": {"id": "<group id>"}}``: the group itself decides, a list of
  values of its ``attributeKey`` or a whole condition.

Each becomes a segment: a list group used with attribute ``a`` is the segment
``{"a": {"$in": values}}``, a condition group is its condition (itself rewritten), and
the reference becomes ``$inSegment`` / ``$notInSegment``. A segment is named after the
group id; a list group used with several attributes gets one segment per attribute
(``<id>.<attribute>``). Where a group sits next to other operators on the same
attribute (``{"id": {"$inGroup": "g", "$ne": "x"}}``) or deeper inside an operator,
its values are written out as ``$in`` / ``$nin`` instead: same decision, no segment.
A group the file does not define cannot be mapped (GrowthBook would treat it as an
empty list): the rule using it is left out with a note.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from verdict.engine import SegmentTable
from verdict.server.flags.imports.growthbook_source import SavedGroup
from verdict.server.flags.imports.plan import (
    PlannedSegment,
    UnmappableError,
    condition_problem,
    segment_key,
    segment_table,
)

__all__ = ["GroupSegments", "group_uses"]

_LOGICAL = ("$and", "$or", "$nor")
_GROUP_OPERATORS = {"$inGroup": "$in", "$notInGroup": "$nin"}


def _is_operators(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and k.startswith("$") for k in value)


def group_uses(condition: Any) -> Iterator[tuple[str, str]]:
    """``(group id, attribute)`` for every ``{"attr": {"$inGroup": id}}`` in a condition."""
    if isinstance(condition, list):
        for item in condition:
            yield from group_uses(item)
        return
    if not isinstance(condition, dict):
        return
    for key, value in condition.items():
        if key.startswith("$"):
            yield from group_uses(value)
        elif _is_operators(value):
            for operator, operand in value.items():
                if operator in _GROUP_OPERATORS and isinstance(operand, str):
                    yield operand, key


class GroupSegments:
    """Rewrites conditions of one file, collecting the segments they need."""

    def __init__(self, groups: dict[str, SavedGroup], uses: set[tuple[str, str]]) -> None:
        self._groups = groups
        self._attributes: dict[str, set[str]] = {}
        for group_id, attribute in uses:
            self._attributes.setdefault(group_id, set()).add(attribute)
        self._keys: dict[tuple[str, str | None], str] = {}
        self._taken: set[str] = set()
        self._conditions: dict[str, Any] = {}
        self._table: SegmentTable | None = None
        self.segments: list[PlannedSegment] = []
        self._expanding: list[str] = []

    @property
    def table(self) -> SegmentTable:
        """The segments made so far, for compiling the conditions that name them."""
        if self._table is None:
            self._table = segment_table(dict(self._conditions))
        return self._table

    # ------------------------------------------------------------------ segments
    def _group(self, group_id: str) -> SavedGroup:
        group = self._groups.get(group_id)
        if group is None:
            raise UnmappableError(
                f"saved group {group_id!r} is not in the file (add the savedGroups of the "
                "SDK payload, or of GET /api/v1/saved-groups, to it)"
            )
        return group

    def _add(self, key: str, name: str, conditions: dict[str, Any], description: str) -> str:
        problem = condition_problem(conditions, self.table)
        if problem is not None:
            raise UnmappableError(f"{description}: {problem}")
        self._conditions[key] = conditions
        self._table = None
        self.segments.append(PlannedSegment(key, name[:255] or key, conditions, description))
        return key

    def _list_segment(self, group: SavedGroup, attribute: str) -> str:
        known = self._keys.get((group.id, attribute))
        if known is not None:
            return known
        several = len(self._attributes.get(group.id, set()) | {attribute}) > 1
        raw = f"{group.id}.{attribute}" if several else group.id
        key = segment_key(raw, self._taken)
        self._keys[(group.id, attribute)] = key
        name = group.name or group.id
        description = (
            f"GrowthBook saved group {group.id}: {attribute} is one of {len(group.values)} values"
        )
        if several:
            name = f"{name} ({attribute})"
        return self._add(key, name, {attribute: {"$in": group.values}}, description)

    def _condition_segment(self, group: SavedGroup) -> str:
        known = self._keys.get((group.id, None))
        if known is not None:
            return known
        if group.id in self._expanding:
            cycle = " -> ".join([*self._expanding, group.id])
            raise UnmappableError(f"saved groups include each other: {cycle}")
        self._expanding.append(group.id)
        try:
            conditions = self.rewrite(group.condition or {})
        finally:
            self._expanding.pop()
        key = segment_key(group.id, self._taken)
        self._keys[(group.id, None)] = key
        return self._add(
            key, group.name or group.id, conditions, f"GrowthBook saved group {group.id}"
        )

    def _typed_reference(self, reference: Any) -> str:
        if not isinstance(reference, dict) or not isinstance(reference.get("id"), str):
            raise UnmappableError('$savedGroup needs {"id": "<group id>"}')
        group = self._group(reference["id"])
        if group.kind == "condition":
            return self._condition_segment(group)
        attribute = reference.get("attributeKey", group.attribute_key)
        if not isinstance(attribute, str):
            raise UnmappableError(f"saved group {group.id!r} names no attribute")
        return self._list_segment(group, attribute)

    # ------------------------------------------------------------------ conditions
    def rewrite(self, condition: dict[str, Any]) -> dict[str, Any]:
        """``condition`` with every saved group replaced (see the module docstring)."""
        parts: list[tuple[str, Any]] = []
        for key, value in condition.items():
            if key in _LOGICAL and isinstance(value, list):
                parts.append(
                    (
                        key,
                        [self.rewrite(item) if isinstance(item, dict) else item for item in value],
                    )
                )
            elif key == "$not" and isinstance(value, dict):
                parts.append((key, self.rewrite(value)))
            elif key == "$savedGroup":
                parts.append(("$inSegment", self._typed_reference(value)))
            elif key.startswith("$"):
                parts.append((key, value))
            elif _is_operators(value) and len(value) == 1 and next(iter(value)) in _GROUP_OPERATORS:
                ((operator, group_id),) = value.items()
                if not isinstance(group_id, str):
                    raise UnmappableError(f"{operator} needs a saved group id")
                segment = self._list_segment(self._group(group_id), key)
                parts.append(("$inSegment" if operator == "$inGroup" else "$notInSegment", segment))
            else:
                parts.append((key, self._inline(value)))
        keys = [key for key, _ in parts]
        if len(set(keys)) == len(keys):
            return dict(parts)
        # Two references at one level cannot share a key: every part must hold anyway.
        return {"$and": [{key: value} for key, value in parts]}

    def _inline(self, value: Any) -> Any:
        """An attribute's value condition with group operators written out as lists."""
        if isinstance(value, list):
            return [self._inline(item) for item in value]
        if not isinstance(value, dict):
            return value
        if not _is_operators(value):
            return value
        inlined: dict[str, Any] = {}
        for operator, operand in value.items():
            if operator in _GROUP_OPERATORS:
                if not isinstance(operand, str):
                    raise UnmappableError(f"{operator} needs a saved group id")
                group = self._group(operand)
                if group.kind != "list":
                    raise UnmappableError(f"{operator} names condition group {operand!r}")
                inlined[_GROUP_OPERATORS[operator]] = group.values
            elif (
                operator == "$elemMatch"
                and isinstance(operand, dict)
                and not _is_operators(operand)
            ):
                inlined[operator] = self.rewrite(operand)
            else:
                inlined[operator] = self._inline(operand)
        return inlined
