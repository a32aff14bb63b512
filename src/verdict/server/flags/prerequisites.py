"""Prerequisites: which flags must resolve to a value before a flag is evaluated.

A prerequisite names an existing flag that is not archived, once, with a value of that
flag's type. Prerequisites must not form a cycle: the refusal (409) spells the cycle
out from the flag being edited, ``a → b → c → a`` ("a requires b, which requires c,
which requires a"). A flag others depend on cannot be archived or deleted under them.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from verdict.engine import FlagType
from verdict.engine.validation import value_type_problem
from verdict.server.errors import ConflictError
from verdict.server.flags.models import FeatureFlag, FeatureFlagPrerequisite
from verdict.server.flags.schemas import PrerequisiteIn

__all__ = [
    "ResolvedPrerequisite",
    "check_no_cycle",
    "dependents",
    "replace_prerequisites",
    "resolve_prerequisites",
]

FieldProblems = list[tuple[str, str]]


@dataclass(frozen=True)
class ResolvedPrerequisite:
    flag_id: uuid.UUID
    key: str
    value: Any


def resolve_prerequisites(
    session: Session,
    *,
    flag_key: str,
    items: Sequence[PrerequisiteIn],
    problems: FieldProblems,
) -> list[ResolvedPrerequisite]:
    """The prerequisites named by ``items``; each problem is added with its field."""
    keys = {item.flag for item in items}
    found = {
        flag.key: flag
        for flag in session.scalars(select(FeatureFlag).where(FeatureFlag.key.in_(keys)))
    }
    resolved: list[ResolvedPrerequisite] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        field = f"body.prerequisites.{index}"
        if item.flag in seen:
            problems.append((f"{field}.flag", f"flag {item.flag!r} is listed twice"))
            continue
        seen.add(item.flag)
        if item.flag == flag_key:
            continue  # a cycle of one: refused by check_no_cycle with the others
        parent = found.get(item.flag)
        if parent is None:
            problems.append((f"{field}.flag", f"unknown flag {item.flag!r}"))
            continue
        if parent.archived:
            problems.append((f"{field}.flag", f"flag {item.flag!r} is archived"))
            continue
        problem = value_type_problem(item.value, FlagType(parent.value_type.value))
        if problem is not None:
            problems.append((f"{field}.value", f"{problem} (flag {item.flag!r})"))
            continue
        resolved.append(ResolvedPrerequisite(parent.id, parent.key, item.value))
    return resolved


def check_no_cycle(
    session: Session,
    *,
    flag_id: uuid.UUID | None,
    flag_key: str,
    items: Sequence[PrerequisiteIn],
    resolved: Sequence[ResolvedPrerequisite],
) -> None:
    """Raise ConflictError if the flag's new prerequisites close a cycle back to it."""
    if any(item.flag == flag_key for item in items):
        raise ConflictError(
            f"prerequisites would form a cycle: {flag_key} → {flag_key}",
            field="body.prerequisites",
        )
    if flag_id is None or not resolved:
        return  # a new flag: nothing can depend on it yet
    edges: dict[uuid.UUID, list[uuid.UUID]] = {}
    for child, parent in session.execute(
        select(FeatureFlagPrerequisite.flag_id, FeatureFlagPrerequisite.prerequisite_flag_id)
    ):
        if child != flag_id:
            edges.setdefault(child, []).append(parent)
    # Breadth-first from the new prerequisites: the shortest way back to the flag.
    came_from: dict[uuid.UUID, uuid.UUID | None] = {}
    queue: deque[uuid.UUID] = deque()
    for item in resolved:
        if item.flag_id not in came_from:
            came_from[item.flag_id] = None
            queue.append(item.flag_id)
    while queue:
        current = queue.popleft()
        if current == flag_id:
            break
        for parent in edges.get(current, []):
            if parent not in came_from:
                came_from[parent] = current
                queue.append(parent)
    if flag_id not in came_from:
        return
    chain: list[uuid.UUID] = []
    step: uuid.UUID | None = flag_id
    while step is not None:
        chain.append(step)
        step = came_from[step]
    chain.reverse()  # first prerequisite ... back to the flag
    keys = dict(
        session.execute(
            select(FeatureFlag.id, FeatureFlag.key).where(FeatureFlag.id.in_(chain))
        ).all()
    )
    spelled = " → ".join([flag_key, *(keys[step_id] for step_id in chain)])
    raise ConflictError(f"prerequisites would form a cycle: {spelled}", field="body.prerequisites")


def replace_prerequisites(flag: FeatureFlag, resolved: Sequence[ResolvedPrerequisite]) -> None:
    """Make the flag's prerequisite rows match ``resolved`` (kept rows are updated)."""
    wanted = {item.flag_id: item for item in resolved}
    for row in list(flag.prerequisites):
        if row.prerequisite_flag_id not in wanted:
            flag.prerequisites.remove(row)
    existing = {row.prerequisite_flag_id: row for row in flag.prerequisites}
    for flag_id, item in wanted.items():
        kept = existing.get(flag_id)
        if kept is None:
            flag.prerequisites.append(
                FeatureFlagPrerequisite(prerequisite_flag_id=flag_id, required_value=item.value)
            )
        else:
            kept.required_value = item.value


def dependents(session: Session, flag_id: uuid.UUID, *, archived: bool | None = None) -> list[str]:
    """Keys of the flags that require this one (``archived`` filters them)."""
    query = (
        select(FeatureFlag.key)
        .join(FeatureFlagPrerequisite, FeatureFlagPrerequisite.flag_id == FeatureFlag.id)
        .where(FeatureFlagPrerequisite.prerequisite_flag_id == flag_id)
        .order_by(FeatureFlag.key)
    )
    if archived is not None:
        query = query.where(FeatureFlag.archived.is_(archived))
    return list(session.scalars(query).all())
