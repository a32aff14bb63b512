"""Writing an import plan through the services the API uses, all or nothing.

The whole run is one database transaction. Each service call (``create_segment``,
``create_flag``, ``update_flag``, ``put_state``) validates, audits and "commits" as it
does for an API request, but its commit only releases a savepoint of that
transaction (SQLAlchemy's ``join_transaction_mode="create_savepoint"``): a call that
is refused rolls back its own savepoint, the run goes on so every problem is reported
at once, and at the end the transaction is committed only if nothing was refused and
it is not a dry run. A dry run therefore checks exactly what a real run would, with
the engine, and writes nothing. On PostgreSQL the commit also notifies running
servers (``pg_notify`` on the channel their listeners use), so SDKs see the new flags
without waiting for a poll.

The one check deferred is the engine's compile of the whole configuration document
that an API write runs before and after every change (``flags.validation``): run
after each of a thousand writes it made an import's time grow with the square of its
size. Inside :func:`~verdict.server.flags.validation.deferred_checks` the services
skip it, and once every write is made the run compiles each document it touched (the
flag definitions, each target environment, the segment table) once, strictly and in
the API's save mode; each new issue is reported with the flag (or segment) it belongs
to, and any issue refuses the whole import.

On SQLite the transaction starts with ``BEGIN IMMEDIATE``: the import holds the write
lock from the start instead of meeting a server's write halfway.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from verdict.engine import FlagType
from verdict.engine.errors import child_path
from verdict.engine.jsonvalues import deep_equal
from verdict.engine.validation import value_type_problem
from verdict.server.api.versioning import etag
from verdict.server.delivery.changes import ALL, CHANNEL
from verdict.server.environments.models import Environment
from verdict.server.errors import DomainError
from verdict.server.flags import service as flags
from verdict.server.flags import states
from verdict.server.flags.imports.plan import ImportPlan, PlannedFlag, PlannedSegment
from verdict.server.flags.imports.targets import EnvironmentMap
from verdict.server.flags.models import FeatureFlag, FeatureFlagEnvironment, FlagValueType
from verdict.server.flags.schemas import FlagCreate, FlagStateIn, FlagUpdate
from verdict.server.flags.validation import (
    DeferredChecks,
    DeferredIssue,
    deferred_checks,
    engine_field,
    flag_path,
)
from verdict.server.identity.auth import Principal
from verdict.server.identity.service import SYSTEM
from verdict.server.segments import service as segments
from verdict.server.segments.models import Segment
from verdict.server.segments.schemas import SegmentCreate, SegmentUpdate

__all__ = ["Existing", "FlagOutcome", "ImportRefusedError", "ImportReport", "apply_plan"]


class Existing(StrEnum):
    """What to do with a flag or segment whose key Verdict already has."""

    FAIL = "fail"
    SKIP = "skip"
    UPDATE = "update"


class ImportRefusedError(Exception):
    """The import cannot start (an environment is missing); nothing was written."""


@dataclass
class FlagOutcome:
    key: str
    action: str
    environments: dict[str, str] = field(default_factory=dict)
    prerequisites: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    flags: list[FlagOutcome] = field(default_factory=list)
    segments: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    written: bool = False


def _message(exc: Exception) -> str:
    if isinstance(exc, DomainError):
        errors = getattr(exc, "errors", None)
        if errors:
            return "; ".join(f"{name.removeprefix('body.')}: {reason}" for name, reason in errors)
        name = exc.field.removeprefix("body.") if exc.field else None
        return f"{name}: {exc.detail}" if name else exc.detail
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
    return str(exc)


class _Run:
    def __init__(
        self,
        session: Session,
        plan: ImportPlan,
        targets: EnvironmentMap,
        existing: Existing,
        actor: Principal,
    ) -> None:
        self.session = session
        self.plan = plan
        self.targets = targets
        self.existing = existing
        self.actor = actor
        self.report = ImportReport()
        self.planned = {flag.key for flag in plan.flags}
        self.written_segments: set[str] = set()

    def refuse(self, what: str, exc: Exception) -> None:
        self.session.rollback()  # the failed call's savepoint
        self.report.problems.append(f"{what}: {_message(exc)}")

    # ----------------------------------------------------------------- checks
    def check_environments(self) -> None:
        wanted = set(self.targets.values())
        found = set(
            self.session.scalars(select(Environment.key).where(Environment.key.in_(wanted)))
        )
        missing = sorted(wanted - found)
        if missing:
            raise ImportRefusedError(
                f"--environment: Verdict has no environment {', '.join(missing)}; create it "
                "first (POST /api/v1/environments) or map to another with SOURCE=TARGET"
            )

    def existing_keys(self) -> set[str]:
        keys = [flag.key for flag in self.plan.flags]
        found = set(self.session.scalars(select(FeatureFlag.key).where(FeatureFlag.key.in_(keys))))
        if found and self.existing is Existing.FAIL:
            self.report.problems.append(
                f"flags already in Verdict: {', '.join(sorted(found))} (import with "
                "--skip-existing to leave them as they are, or --update to replace them)"
            )
        return found

    # ----------------------------------------------------------------- segments
    def segments(self) -> None:
        stored = {
            segment.key: segment
            for segment in self.session.scalars(
                select(Segment).where(Segment.key.in_([s.key for s in self.plan.segments]))
            )
        }
        for planned in self.plan.segments:
            current = stored.get(planned.key)
            if current is None:
                self.create_segment(planned)
            elif deep_equal(current.conditions, planned.conditions):
                self.report.segments.append((planned.key, "exists with the same condition"))
            elif self.existing is Existing.UPDATE:
                self.update_segment(planned, current)
            elif self.existing is Existing.SKIP:
                self.report.segments.append(
                    (planned.key, "exists with another condition: left as it is")
                )
            else:
                self.report.problems.append(
                    f"segment {planned.key!r} already in Verdict with another condition "
                    "(--skip-existing keeps it, --update replaces it)"
                )

    def create_segment(self, planned: PlannedSegment) -> None:
        try:
            data = SegmentCreate(
                key=planned.key,
                name=planned.name,
                description=planned.description,
                conditions=planned.conditions,
            )
            segments.create_segment(self.session, actor=self.actor, data=data)
        except (DomainError, ValidationError) as exc:
            self.refuse(f"segment {planned.key!r}", exc)
            return
        self.written_segments.add(planned.key)
        self.report.segments.append((planned.key, "create"))

    def update_segment(self, planned: PlannedSegment, current: Segment) -> None:
        try:
            data = SegmentUpdate(conditions=planned.conditions)
            segments.update_segment(
                self.session,
                actor=self.actor,
                key=planned.key,
                data=data,
                if_match=etag(current.version),
            )
        except (DomainError, ValidationError) as exc:
            self.refuse(f"segment {planned.key!r}", exc)
            return
        self.written_segments.add(planned.key)
        self.report.segments.append((planned.key, "update (condition replaced)"))

    # ----------------------------------------------------------------- flags
    def resolve_prerequisites(self, flag: PlannedFlag, outcome: FlagOutcome) -> list[Any]:
        kept: list[dict[str, Any]] = []
        for item in flag.prerequisites:
            if item["flag"] in self.planned:
                kept.append(item)
                continue
            stored = self.session.scalars(
                select(FeatureFlag).where(FeatureFlag.key == item["flag"])
            ).first()
            if stored is None or stored.archived:
                outcome.notes.append(
                    f"prerequisite {item['flag']!r} not mapped: it is neither in the file nor "
                    "a live Verdict flag (the flag is evaluated without it)"
                )
                continue
            problem = value_type_problem(item["value"], FlagType(stored.value_type.value))
            if problem is not None:
                outcome.notes.append(f"prerequisite {item['flag']!r} not mapped: {problem}")
                continue
            kept.append(item)
        return kept

    def write_flag(self, flag: PlannedFlag, exists: bool) -> None:
        outcome = FlagOutcome(flag.key, "update" if exists else "create")
        self.report.flags.append(outcome)
        if exists and self.existing is Existing.SKIP:
            outcome.action = "already in Verdict: left as it is"
            return
        if exists and self.existing is Existing.FAIL:
            outcome.action = "already in Verdict: refused"
            return
        outcome.notes.extend(flag.notes)
        prerequisites = self.resolve_prerequisites(flag, outcome)
        outcome.prerequisites = prerequisites
        definition: dict[str, Any] = {
            "name": flag.name,
            "description": flag.description,
            "value_type": FlagValueType(flag.value_type.value),
            "default_value": flag.default,
            "variants": flag.variants,
            "tags": flag.tags,
            "prerequisites": prerequisites,
        }
        try:
            if exists:
                version = self.session.scalars(
                    select(FeatureFlag.version).where(FeatureFlag.key == flag.key)
                ).one()
                flags.update_flag(
                    self.session,
                    actor=self.actor,
                    key=flag.key,
                    data=FlagUpdate(**definition),
                    if_match=etag(version),
                )
            else:
                flags.create_flag(
                    self.session, actor=self.actor, data=FlagCreate(key=flag.key, **definition)
                )
        except (DomainError, ValidationError) as exc:
            self.refuse(f"flag {flag.key!r}", exc)
            return
        for source, planned_state in flag.states.items():
            if source not in self.targets:
                continue
            target = self.targets[source]
            rules = []
            for planned_rule in planned_state.rules:
                missing = sorted(
                    key for key in planned_rule.segments if not self.segment_exists(key)
                )
                if missing:
                    outcome.notes.append(
                        f"{target}: {planned_rule.source} not mapped: segment "
                        f"{', '.join(missing)} is not in Verdict (the file names it without "
                        "its constraints; create it, then import again)"
                    )
                    continue
                rules.append(planned_rule.rule)
            self.write_state(flag.key, target, planned_state.enabled, rules, outcome, exists)

    def segment_exists(self, key: str) -> bool:
        return (
            self.session.scalars(select(Segment.id).where(Segment.key == key)).first() is not None
        )

    def write_state(
        self,
        key: str,
        target: str,
        enabled: bool,
        rules: list[Any],
        outcome: FlagOutcome,
        exists: bool,
    ) -> None:
        # A flag created by this run has no state yet: its first write sends version 0.
        version = (
            self.session.scalars(
                select(FeatureFlagEnvironment.version)
                .join(FeatureFlag, FeatureFlag.id == FeatureFlagEnvironment.flag_id)
                .join(Environment, Environment.id == FeatureFlagEnvironment.environment_id)
                .where(FeatureFlag.key == key, Environment.key == target)
            ).first()
            if exists
            else None
        )
        try:
            data = FlagStateIn.model_validate({"enabled": enabled, "rules": rules})
            states.put_state(
                self.session,
                actor=self.actor,
                flag_key=key,
                environment_key=target,
                data=data,
                if_match=etag(version or 0),
            )
        except (DomainError, ValidationError) as exc:
            self.refuse(f"flag {key!r} in {target}", exc)
            return
        count = len(rules)
        outcome.environments[target] = (
            f"{'on' if enabled else 'off'}, {count} rule{'' if count == 1 else 's'}"
        )

    def run(self, checks: DeferredChecks) -> None:
        self.check_environments()
        # Baselines before the first write: issues the configuration has already are
        # not the import's (as an API write is refused only for the issues it adds).
        checks.track(self.session, None, "flag definitions")
        for environment in self.session.scalars(
            select(Environment).where(Environment.key.in_(set(self.targets.values())))
        ):
            checks.track(self.session, environment.id, f"environment {environment.key!r}")
        found = self.existing_keys()
        self.segments()
        for flag in self.plan.flags:
            self.write_flag(flag, flag.key in found)
        for issue in checks.issues(self.session):
            self.report.problems.append(self.describe(issue))

    def describe(self, issue: DeferredIssue) -> str:
        """An issue of the final check, named by the flag or segment it belongs to."""
        where = f" in {issue.environment}" if issue.environment else ""
        owners = [
            (outcome.key, f"flag {outcome.key!r}{where}", flag_path(outcome.key))
            for outcome in self.report.flags
        ] + [
            (key, f"segment {key!r}", child_path("$.segments", key))
            for key in self.written_segments
        ]
        found = [
            (len(key), name, field)
            for key, name, prefix in owners
            if (field := engine_field(issue.path, prefix, {"*": ""})) is not None
        ]
        if not found:
            return f"{issue.label}: {issue.path}: {issue.reason}"
        # Keys may contain dots ("a" and "a.b"): the longest key that fits is the owner.
        _, name, field = max(found)
        field = field.lstrip(".")
        return f"{name}: {field}: {issue.reason}" if field else f"{name}: {issue.reason}"


def _begin(engine: Engine) -> Any:
    connection = engine.connect()
    transaction = connection.begin()
    if connection.dialect.name == "sqlite":
        # pysqlite starts no transaction before a SAVEPOINT, so the first RELEASE would
        # commit; an explicit BEGIN keeps every savepoint inside this one transaction.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    return connection, transaction


def apply_plan(
    engine: Engine,
    plan: ImportPlan,
    *,
    targets: EnvironmentMap,
    existing: Existing,
    dry_run: bool,
) -> ImportReport:
    """Write ``plan`` (or, with ``dry_run``, check it) and report what was done."""
    import verdict.server.models  # noqa: F401  (relationships between domains resolve)

    actor = dataclasses.replace(SYSTEM, name=f"import:{plan.source}")
    connection, transaction = _begin(engine)
    try:
        session = Session(
            bind=connection,
            join_transaction_mode="create_savepoint",
            expire_on_commit=False,
            autoflush=False,
        )
        with session, deferred_checks(session) as checks:
            run = _Run(session, plan, targets, existing, actor)
            run.run(checks)
        report = run.report
        if report.problems or dry_run:
            transaction.rollback()
            return report
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": ALL}
            )
        transaction.commit()
        report.written = True
        return report
    except BaseException:
        if transaction.is_active:
            transaction.rollback()
        raise
    finally:
        connection.close()
