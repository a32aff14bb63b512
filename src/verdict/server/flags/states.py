"""A flag's state in one environment: the kill switch, ordered rules, the rollout gate.

The state row is created by the first write (PUT or enable/disable); until then the
flag is off there, without rules, at version 0, so the first write sends
``If-Match: "0"``. Rules are stored exactly in the engine's shape and every write is
validated by compiling the environment's whole document (:mod:`.validation`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from verdict.server.api.versioning import check_version, check_version_if_sent, stale_edit
from verdict.server.audit.service import record
from verdict.server.db.conflicts import conflict_on_integrity_error
from verdict.server.environments.models import Environment
from verdict.server.errors import ConflictError, InvalidInputError, NotFoundError
from verdict.server.experiments.models import Experiment
from verdict.server.flags.models import FeatureFlag, FeatureFlagEnvironment
from verdict.server.flags.schemas import RULE_FIELDS, FlagStateIn, FlagStateOut, RuleIn
from verdict.server.flags.service import RESOURCE_TYPE, load_flag
from verdict.server.flags.validation import IssueFields, flag_path, raise_new_issues, take_baseline
from verdict.server.flags.views import state_out, state_snapshot
from verdict.server.identity.auth import Principal

__all__ = ["get_state", "load_environment", "load_state", "put_state", "set_enabled", "writable"]

_STATE_FIELDS = {
    "rules": "body.rules",
    "rollout": "body.rollout_percentage",
    "enabled": "body.enabled",
}
_COMMON_RULE_FIELDS = frozenset({"id", "type", "description", "condition", "segment"})
FieldProblems = list[tuple[str, str]]


def load_environment(session: Session, key: str) -> Environment:
    environment = session.scalars(select(Environment).where(Environment.key == key)).first()
    if environment is None:
        raise NotFoundError(f"no environment {key!r}")
    return environment


def load_state(
    session: Session, flag: FeatureFlag, environment: Environment
) -> FeatureFlagEnvironment | None:
    return session.scalars(
        select(FeatureFlagEnvironment).where(
            FeatureFlagEnvironment.flag_id == flag.id,
            FeatureFlagEnvironment.environment_id == environment.id,
        )
    ).first()


def writable(flag: FeatureFlag) -> None:
    if flag.archived:
        raise ConflictError(
            f"flag {flag.key!r} is archived; unarchive it before configuring it",
            field="path.key",
        )


def get_state(session: Session, *, flag_key: str, environment_key: str) -> FlagStateOut:
    flag = load_flag(session, flag_key)
    environment = load_environment(session, environment_key)
    return state_out(session, flag, environment, load_state(session, flag, environment))


def _rule_problems(
    session: Session, environment: Environment, rules: list[RuleIn]
) -> FieldProblems:
    """What the engine cannot say with a request's words: fields of another rule type,
    a value and a variant at once, duplicate ids, experiments of another environment."""
    problems: FieldProblems = []
    ids: set[str] = set()
    for index, rule in enumerate(rules):
        field = f"body.rules.{index}"
        allowed = RULE_FIELDS[rule.type] | _COMMON_RULE_FIELDS
        for name in sorted(rule.model_fields_set - allowed):
            if name == "value" or getattr(rule, name) is not None:
                problems.append((f"{field}.{name}", f"a {rule.type} rule takes no {name}"))
        if "value" in rule.model_fields_set and rule.variant is not None and "value" in allowed:
            problems.append((f"{field}.variant", "send a value or a variant, not both"))
        if rule.id is not None:
            if rule.id in ids:
                problems.append((f"{field}.id", f"rule id {rule.id!r} is used twice"))
            ids.add(rule.id)
        if rule.type == "experiment" and rule.experiment is not None:
            problem = _experiment_problem(session, environment, rule.experiment)
            if problem is not None:
                problems.append((f"{field}.experiment", problem))
    return problems


def _experiment_problem(session: Session, environment: Environment, key: str) -> str | None:
    experiment = session.scalars(select(Experiment).where(Experiment.key == key)).first()
    if experiment is None:
        return f"unknown experiment {key!r}"
    if experiment.environment_id is not None and experiment.environment_id != environment.id:
        scope = experiment.environment.key if experiment.environment else "another environment"
        return f"experiment {key!r} runs only in {scope}, not in {environment.key}"
    return None


def _stored(rule: RuleIn) -> dict[str, Any]:
    """The rule in the engine's shape: only the fields sent, nulls left out (but a JSON
    null ``value`` is kept: it is a value of a json flag)."""
    raw = rule.model_dump(mode="json", exclude_unset=True)
    return {name: item for name, item in raw.items() if item is not None or name == "value"}


def _commit_state(
    session: Session,
    *,
    actor: Principal,
    action: str,
    flag: FeatureFlag,
    environment: Environment,
    state: FeatureFlagEnvironment,
    before: dict[str, Any] | None,
) -> FlagStateOut:
    out = state_out(session, flag, environment, state)
    record(
        session,
        actor=actor,
        action=action,
        resource_type=RESOURCE_TYPE,
        resource_id=flag.id,
        before=before,
        after=state_snapshot(out),
        environment_id=environment.id,
    )
    session.commit()
    return out


def _flush(session: Session, flag: FeatureFlag, environment: Environment) -> None:
    with (
        stale_edit(
            session,
            f"the state of {flag.key!r} in {environment.key} changed meanwhile; read it again",
        ),
        conflict_on_integrity_error(
            session,
            f"flag {flag.key!r} was configured in {environment.key} meanwhile; read it again",
            field="header.If-Match",
        ),
    ):
        session.flush()


def put_state(
    session: Session,
    *,
    actor: Principal,
    flag_key: str,
    environment_key: str,
    data: FlagStateIn,
    if_match: str | None,
) -> FlagStateOut:
    """Replace the flag's state in the environment (creating it on the first write)."""
    flag = load_flag(session, flag_key)
    environment = load_environment(session, environment_key)
    state = load_state(session, flag, environment)
    check_version(if_match, state.version if state else 0)
    writable(flag)
    problems = _rule_problems(session, environment, data.rules)
    if problems:
        raise InvalidInputError(
            "; ".join(f"{field}: {reason}" for field, reason in problems), errors=problems
        )
    baseline = take_baseline(session, environment.id, f"environment {environment.key!r}")
    before = state_snapshot(state_out(session, flag, environment, state)) if state else None
    if state is None:
        state = FeatureFlagEnvironment(flag_id=flag.id, environment_id=environment.id)
        session.add(state)
    state.enabled = data.enabled
    state.rules = [_stored(rule) for rule in data.rules]
    state.rollout_percentage = data.rollout_percentage
    state.updated_by_id = actor.user_id
    _flush(session, flag, environment)
    raise_new_issues(session, [baseline], IssueFields(flag_path(flag.key), _STATE_FIELDS))
    return _commit_state(
        session,
        actor=actor,
        action="update",
        flag=flag,
        environment=environment,
        state=state,
        before=before,
    )


def set_enabled(
    session: Session,
    *,
    actor: Principal,
    flag_key: str,
    environment_key: str,
    enabled: bool,
    if_match: str | None,
) -> FlagStateOut:
    """Flip the kill switch; asking for the current position changes nothing. The
    If-Match is optional: the switch is one field, so flipping it blind (from a shell,
    in an incident) overwrites no one's edit; when sent, it is checked."""
    flag = load_flag(session, flag_key)
    environment = load_environment(session, environment_key)
    state = load_state(session, flag, environment)
    check_version_if_sent(if_match, state.version if state else 0)
    writable(flag)
    current = state.enabled if state else False
    if current is enabled:
        return state_out(session, flag, environment, state)
    before = state_snapshot(state_out(session, flag, environment, state)) if state else None
    if state is None:
        state = FeatureFlagEnvironment(flag_id=flag.id, environment_id=environment.id, rules=[])
        session.add(state)
    state.enabled = enabled
    state.updated_by_id = actor.user_id
    _flush(session, flag, environment)
    return _commit_state(
        session,
        actor=actor,
        action="enable" if enabled else "disable",
        flag=flag,
        environment=environment,
        state=state,
        before=before,
    )
