"""Seeds an environment the size seed 004 describes: 1,000 running experiments and
200 flags in production, written straight through the ORM (seconds, not minutes)."""

from __future__ import annotations

import random

from sqlalchemy import select
from sqlalchemy.orm import Session

from verdict.server.analysis.models import Metric, MetricType
from verdict.server.environments.models import Environment
from verdict.server.experiments.models import (
    Experiment,
    ExperimentMetric,
    ExperimentPhase,
    ExperimentStatus,
    MetricRole,
    Variant,
)
from verdict.server.flags.models import FeatureFlag, FeatureFlagEnvironment, FlagValueType

COUNTRIES = ["US", "CA", "GB", "DE", "FR", "BR", "IN", "JP"]
PLANS = ["free", "pro", "team"]


def seed(session: Session, *, experiments: int = 1000, flags: int = 200) -> dict[str, list[str]]:
    rng = random.Random(42)
    production = session.scalars(select(Environment).where(Environment.key == "production")).one()
    metric = Metric(
        key="bench-orders", name="Orders", event_name="order", type=MetricType.CONVERSION
    )
    session.add(metric)
    session.flush()
    experiment_keys = []
    for i in range(experiments):
        key = f"exp-{i:04d}"
        arms = 2 if i % 3 else 3
        experiment = Experiment(
            key=key,
            name=f"Experiment {i}",
            status=ExperimentStatus.RUNNING,
            environment_id=production.id,
            coverage=rng.choice([1.0, 0.5, 0.2]),
            targeting={"country": {"$in": rng.sample(COUNTRIES, 4)}} if i % 4 == 0 else {},
        )
        experiment.variants = [
            Variant(
                key=f"v{j}",
                is_control=j == 0,
                weight=1 / arms,
                position=j,
                configuration={"copy": f"variant {j}"},
            )
            for j in range(arms)
        ]
        experiment.metric_links = [ExperimentMetric(metric_id=metric.id, role=MetricRole.PRIMARY)]
        experiment.phases = [
            ExperimentPhase(
                number=1,
                coverage=experiment.coverage,
                weights={f"v{j}": 1 / arms for j in range(arms)},
            )
        ]
        session.add(experiment)
        experiment_keys.append(key)
    flag_keys = []
    for i in range(flags):
        key = f"flag-{i:03d}"
        kind = i % 4
        if kind == 0:  # boolean with targeting and a rollout
            flag = FeatureFlag(
                key=key, name=key, value_type=FlagValueType.BOOLEAN, default_value=False
            )
            rules = [
                {
                    "type": "rollout",
                    "percentage": 50,
                    "value": True,
                    "condition": {"country": {"$in": ["US", "CA"]}, "plan": "pro"},
                }
            ]
        elif kind == 1:  # string split
            flag = FeatureFlag(
                key=key,
                name=key,
                value_type=FlagValueType.STRING,
                default_value="A",
                variants=[{"key": v, "value": v} for v in ("A", "B", "C")],
            )
            rules = [
                {
                    "type": "split",
                    "weights": [
                        {"variant": "A", "weight": 0.34},
                        {"variant": "B", "weight": 0.33},
                        {"variant": "C", "weight": 0.33},
                    ],
                }
            ]
        elif kind == 2:  # number forced for a condition
            flag = FeatureFlag(key=key, name=key, value_type=FlagValueType.NUMBER, default_value=10)
            rules = [{"type": "force", "value": 20, "condition": {"plan": {"$ne": "free"}}}]
        else:  # boolean on for everyone
            flag = FeatureFlag(
                key=key, name=key, value_type=FlagValueType.BOOLEAN, default_value=False
            )
            rules = [{"type": "force", "value": True}]
        flag.environments = [
            FeatureFlagEnvironment(environment_id=production.id, enabled=True, rules=rules)
        ]
        session.add(flag)
        flag_keys.append(key)
    session.commit()
    return {"experiments": experiment_keys, "flags": flag_keys}
