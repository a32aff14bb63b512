"""Validating a write with the engine: the environment's whole document must compile.

A write is checked by compiling the configuration document it changes (every segment,
flag and experiment of the environment, see :mod:`.config`) with
``compile_config(document, strict=True)``, so prerequisites, segment references,
experiment references and cycles are checked together with everything else.

Only the problems the write *introduces* are refused: the document is compiled before
the change (the baseline) and after it, and an issue already present before (say an
experiment edited elsewhere into an invalid state) does not block an unrelated flag
edit. Each new issue's JSON path becomes the request field it concerns
(``$.flags.checkout.rules[2].condition.country.$in`` ->
``body.rules.2.condition.country.$in``).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from verdict.engine import ConfigError, ConfigIssue, compile_config
from verdict.engine.errors import child_path
from verdict.server.errors import InvalidInputError
from verdict.server.flags.config import build_config

__all__ = [
    "Baseline",
    "IssueFields",
    "compile_issues",
    "engine_field",
    "flag_path",
    "raise_new_issues",
    "take_baseline",
]

_INDEX = re.compile(r"\[(\d+)\]")
_QUOTED = re.compile(r'\["((?:[^"\\]|\\.)*)"\]')
_FIRST = re.compile(r"^\.([A-Za-z_]+)")


def flag_path(flag_key: str) -> str:
    """The JSON path of a flag in the configuration document."""
    return child_path("$.flags", flag_key)


def compile_issues(document: Mapping[str, Any]) -> list[ConfigIssue]:
    try:
        compile_config(document, strict=True)
    except ConfigError as exc:
        return list(exc.issues)
    except (ArithmeticError, RecursionError, TypeError, ValueError) as exc:
        # Stored data the engine cannot even read is a problem like any other: it is
        # compared with the baseline, so it blocks only the write that introduced it.
        return [ConfigIssue("$", f"the engine could not compile this: {exc!r}")]
    return []


@dataclass(frozen=True)
class Baseline:
    """The issues of one environment's document before a write (``None``: definitions)."""

    environment_id: uuid.UUID | None
    label: str
    issues: frozenset[str]


def take_baseline(session: Session, environment_id: uuid.UUID | None, label: str) -> Baseline:
    issues = compile_issues(build_config(session, environment_id))
    return Baseline(environment_id, label, frozenset(str(issue) for issue in issues))


def _dotted(rest: str) -> str:
    rest = _QUOTED.sub(lambda match: "." + json.loads(f'"{match.group(1)}"'), rest)
    return _INDEX.sub(r".\1", rest)


def engine_field(path: str, prefix: str, fields: Mapping[str, str]) -> str | None:
    """The request field of an engine issue at ``path``, or ``None`` if it has none.

    ``prefix`` is the JSON path of the object the request wrote; ``fields`` maps that
    object's top-level members to request fields (``""``: the object itself; ``"*"``:
    the object is the field, and the rest of the path follows it).
    """
    if path != prefix and not path.startswith((prefix + ".", prefix + "[")):
        return None
    rest = path[len(prefix) :]
    if "*" in fields:
        return fields["*"] + _dotted(rest)
    if not rest:
        return fields.get("")
    first = _FIRST.match(rest)
    if first is None or first.group(1) not in fields:
        return None
    return fields[first.group(1)] + _dotted(rest[first.end() :])


@dataclass(frozen=True)
class IssueFields:
    """How the issues of a write are named: the object it wrote and its field map."""

    prefix: str
    fields: Mapping[str, str]


def raise_new_issues(session: Session, baselines: Sequence[Baseline], names: IssueFields) -> None:
    """Compile each document again; roll back and raise if the write added issues."""
    errors: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()  # the same issue found in several documents
    for baseline in baselines:
        for issue in compile_issues(build_config(session, baseline.environment_id)):
            if str(issue) in baseline.issues or (issue.path, issue.reason) in seen:
                continue
            seen.add((issue.path, issue.reason))
            field = engine_field(issue.path, names.prefix, names.fields)
            # Name the environment when the request itself did not (a definition edit).
            several = len(baselines) > 1 and baseline.environment_id is not None
            where = f"in {baseline.label}: " if several else ""
            if field is None:
                errors.append(("body", f"{where}{issue.path}: {issue.reason}"))
            else:
                errors.append((field, f"{where}{issue.reason}"))
    if errors:
        session.rollback()
        raise InvalidInputError(
            "; ".join(f"{field}: {reason}" for field, reason in errors), errors=errors
        )
