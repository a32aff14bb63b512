"""Which flag rules serve an experiment: an experiment cannot go while flags use it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from verdict.server.db.json_search import mentions
from verdict.server.environments.models import Environment
from verdict.server.flags.models import FeatureFlag, FeatureFlagEnvironment

__all__ = ["flags_serving_experiment"]


def flags_serving_experiment(session: Session, experiment_key: str) -> list[str]:
    """``"<flag> in <environment>"`` for every state with an experiment rule naming it."""
    rows = session.execute(
        select(FeatureFlag.key, Environment.key, FeatureFlagEnvironment.rules)
        .join(FeatureFlagEnvironment, FeatureFlagEnvironment.flag_id == FeatureFlag.id)
        .join(Environment, Environment.id == FeatureFlagEnvironment.environment_id)
        .where(mentions(FeatureFlagEnvironment.rules, experiment_key))
    )
    return sorted(
        f"{flag} in {environment}"
        for flag, environment, rules in rows
        if any(
            isinstance(rule, dict)
            and rule.get("type") == "experiment"
            and rule.get("experiment") == experiment_key
            for rule in rules
        )
    )
