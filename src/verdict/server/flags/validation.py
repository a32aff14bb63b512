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

A batch writer (the flag importer) may defer these checks with
:func:`deferred_checks`: inside it, every document's baseline is taken once, before
the batch first changes it, :func:`raise_new_issues` checks nothing, and segment writes
skip their check of the segment table (:func:`deferred_segment_check`); the writer
then calls :meth:`DeferredChecks.issues` once, before it commits, and gets the new
issues of every document the batch touched -- the same strict compile, one per
document instead of one per write, so a batch of n writes costs n, not n².
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from verdict.engine import ConfigError, ConfigIssue, compile_config
from verdict.engine.errors import child_path
from verdict.server.environments.models import Environment
from verdict.server.errors import InvalidInputError
from verdict.server.flags.config import build_config
from verdict.server.segments.models import Segment

__all__ = [
    "Baseline",
    "DeferredChecks",
    "DeferredIssue",
    "IssueFields",
    "compile_issues",
    "deferred_checks",
    "deferred_segment_check",
    "engine_field",
    "flag_path",
    "raise_new_issues",
    "take_baseline",
]

_INDEX = re.compile(r"\[(\d+)\]")
_QUOTED = re.compile(r'\["((?:[^"\\]|\\.)*)"\]')
_FIRST = re.compile(r"^\.([A-Za-z_]+)")
_DEFERRED = "verdict.flags.deferred_checks"  # session.info key of the open DeferredChecks


def flag_path(flag_key: str) -> str:
    """The JSON path of a flag in the configuration document."""
    return child_path("$.flags", flag_key)


def compile_issues(document: Mapping[str, Any]) -> list[ConfigIssue]:
    try:
        # Saving refuses condition operands GrowthBook answers but that are almost
        # always mistakes ({"$gt": true} never matches); SDKs still evaluate them.
        compile_config(document, strict=True, refuse_mistakes=True)
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


def _compiled_baseline(session: Session, environment_id: uuid.UUID | None, label: str) -> Baseline:
    issues = compile_issues(build_config(session, environment_id))
    return Baseline(environment_id, label, frozenset(str(issue) for issue in issues))


def take_baseline(session: Session, environment_id: uuid.UUID | None, label: str) -> Baseline:
    checks = _open_checks(session)
    if checks is not None:
        return checks.track(session, environment_id, label)
    return _compiled_baseline(session, environment_id, label)


@dataclass(frozen=True)
class DeferredIssue:
    """A new issue found by :meth:`DeferredChecks.issues`: its document (the
    environment's key, ``None`` for the flag definitions or the segment table), that
    document's label, and the engine's JSON path and reason."""

    environment: str | None
    label: str
    path: str
    reason: str


@dataclass
class DeferredChecks:
    """The documents a batch of writes touched, with their baselines, and the keys of
    the segments it wrote; see :func:`deferred_checks`."""

    baselines: dict[uuid.UUID | None, tuple[str | None, Baseline]] = field(default_factory=dict)
    segments: set[str] = field(default_factory=set)

    def track(self, session: Session, environment_id: uuid.UUID | None, label: str) -> Baseline:
        """The document's baseline, compiled the first time the batch names it (call
        it before the batch changes the document)."""
        known = self.baselines.get(environment_id)
        if known is None:
            environment = (
                session.scalars(
                    select(Environment.key).where(Environment.id == environment_id)
                ).first()
                if environment_id is not None
                else None
            )
            known = (environment, _compiled_baseline(session, environment_id, label))
            self.baselines[environment_id] = known
        return known[1]

    def issues(self, session: Session) -> list[DeferredIssue]:
        """Every issue the batch added: each tracked document compiled once, as
        :func:`raise_new_issues` would after every write, less its baseline; and, if
        the batch wrote segments, every issue of the segment table, as a segment
        write through the API is refused for any (it keeps no baseline)."""
        found: list[DeferredIssue] = []
        seen: set[tuple[str, str]] = set()  # the same issue found in several documents
        if self.segments:
            table: dict[str, Any] = dict(
                session.execute(select(Segment.key, Segment.conditions)).all()
            )
            for issue in compile_issues({"segments": table}):
                seen.add((issue.path, issue.reason))
                found.append(DeferredIssue(None, "segments", issue.path, issue.reason))
        for environment, baseline in self.baselines.values():
            for issue in compile_issues(build_config(session, baseline.environment_id)):
                if str(issue) in baseline.issues or (issue.path, issue.reason) in seen:
                    continue
                seen.add((issue.path, issue.reason))
                found.append(DeferredIssue(environment, baseline.label, issue.path, issue.reason))
        return found


def _open_checks(session: Session) -> DeferredChecks | None:
    checks = session.info.get(_DEFERRED)
    return checks if isinstance(checks, DeferredChecks) else None


@contextmanager
def deferred_checks(session: Session) -> Iterator[DeferredChecks]:
    """Defer the whole-document checks of the flag and segment writes made with
    ``session`` until :meth:`DeferredChecks.issues` is called.

    For a writer that makes many writes in one transaction and commits only if that
    call finds nothing: the per-write checks it skips are exactly what that call runs
    once. Every other check of the services (fields, versions, prerequisites named,
    rule shapes) still runs on each write.
    """
    if _open_checks(session) is not None:
        raise RuntimeError("checks of this session are deferred already")
    checks = DeferredChecks()
    session.info[_DEFERRED] = checks
    try:
        yield checks
    finally:
        session.info.pop(_DEFERRED, None)


def deferred_segment_check(session: Session, key: str) -> bool:
    """Whether the check of segment ``key``'s write is deferred (and noted to be run
    by :meth:`DeferredChecks.issues`)."""
    checks = _open_checks(session)
    if checks is None:
        return False
    checks.segments.add(key)
    return True


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
    """Compile each document again; roll back and raise if the write added issues.

    Checks nothing while the session's checks are deferred (:func:`deferred_checks`).
    """
    if _open_checks(session) is not None:
        return
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
