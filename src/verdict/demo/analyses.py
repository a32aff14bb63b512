"""Analyse every running demo experiment, as ``verdict analyze --full`` does, and sum up.

Each analysis is a recorded run (trigger ``demo``) of the same pipeline the API, the
worker and the CLI use (:func:`verdict.server.analysis.runs.execute_run`), over all the
events, and its stored results are what the dashboard shows. :class:`Outcome` keeps, per
experiment, what a newcomer reads first: the primary metric per variant, the
sample-ratio check and the decision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from verdict.demo.catalog import EXPERIMENTS
from verdict.server.analysis import results
from verdict.server.analysis.runs import execute_run, find_experiment, start_run
from verdict.server.db import create_session_factory

__all__ = ["Comparison", "Outcome", "analyse", "read_outcome"]


@dataclass(frozen=True)
class Comparison:
    """A treatment variant's primary metric against the control."""

    variant: str
    units: int
    mean: float | None
    relative_lift: float | None
    p_value: float | None
    significant: bool


@dataclass(frozen=True)
class Outcome:
    experiment: str
    primary_metric: str
    control: str
    control_units: int
    control_mean: float | None
    comparisons: tuple[Comparison, ...]
    srm_p_value: float | None
    srm_mismatch: bool
    decision: str | None
    decision_variant: str | None

    def comparison(self, variant: str) -> Comparison:
        return next(c for c in self.comparisons if c.variant == variant)


def _primary(key: str) -> str:
    spec = next(e for e in EXPERIMENTS if e["key"] == key)
    return str(next(m["metric"] for m in spec["metrics"] if m["role"] == "primary"))


def read_outcome(session: Session, key: str) -> Outcome:
    """What the newest succeeded analysis of ``key`` found (NotFoundError if none)."""
    out = results.latest_results(session, key=key)
    metric = _primary(key)
    # The unadjusted figures when there are both (CUPED adds rows of its own).
    rows = [r for r in out.results if r.metric == metric and not r.cuped]
    rows = rows or [r for r in out.results if r.metric == metric]
    control = next(r for r in rows if r.is_control)
    srm = out.run.srm or {}
    decision = out.run.decision or {}
    return Outcome(
        experiment=key,
        primary_metric=metric,
        control=control.variant,
        control_units=control.sample_size,
        control_mean=control.mean,
        comparisons=tuple(
            Comparison(
                variant=r.variant,
                units=r.sample_size,
                mean=r.mean,
                relative_lift=r.relative_lift,
                p_value=r.p_value,
                significant=bool(r.significant),
            )
            for r in rows
            if not r.is_control
        ),
        srm_p_value=srm.get("p_value"),
        srm_mismatch=bool(srm.get("mismatch")),
        decision=decision.get("verdict"),
        decision_variant=decision.get("variant"),
    )


def analyse(
    engine: Engine, keys: Iterable[str], *, say: Callable[[str], None] | None = None
) -> list[Outcome]:
    """Run a full analysis of each experiment in ``keys`` and read back its results."""
    factory = create_session_factory(engine)
    outcomes = []
    for key in keys:
        with factory() as session:
            experiment = find_experiment(session, key)
            run = start_run(session, experiment=experiment, full=True, trigger="demo", actor=None)
        execute_run(factory, engine, run.id)
        with factory() as session:
            outcomes.append(read_outcome(session, key))
        if say is not None:
            say(f"analysed {key}")
    return outcomes
