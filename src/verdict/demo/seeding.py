"""The demo's steps, in order (see :func:`verdict.demo.run`, which calls :func:`seed_demo`).

Kept apart from the package's ``__init__`` so that importing the CLI, which names the
demo's options, does not load the server, the SDK and numpy.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import httpx
import numpy as np
from sqlalchemy import Engine, select

import verdict.server.models  # noqa: F401  (relationships between domains resolve)
from verdict.demo import DemoError, DemoResult
from verdict.demo.accounts import create_keys, ensure_admin, revoke_key
from verdict.demo.analyses import Outcome, analyse, read_outcome
from verdict.demo.catalog import EXPERIMENT_KEYS, RUNNING, create_catalog
from verdict.demo.history import backdate_starts
from verdict.demo.server import local_server
from verdict.demo.simulate import SimulationReport, simulate
from verdict.demo.traffic import DAYS, draw_population
from verdict.server.config import Settings
from verdict.server.db import create_session_factory, migrate
from verdict.server.errors import NotFoundError
from verdict.server.experiments.models import Experiment

__all__ = ["seed_demo"]

# The newest simulated activity ends this long before now, so that no event is dated
# in the future and the last day is complete.
_MARGIN = dt.timedelta(hours=3)

Say = Callable[[str], None]
Progress = Callable[[int, int], None]


def _present(engine: Engine) -> set[str]:
    with create_session_factory(engine)() as session:
        return set(
            session.scalars(select(Experiment.key).where(Experiment.key.in_(EXPERIMENT_KEYS)))
        )


def _stored_outcomes(engine: Engine) -> list[Outcome] | None:
    """The stored results of every running demo experiment, or None if one has none."""
    with create_session_factory(engine)() as session:
        try:
            return [read_outcome(session, key) for key in RUNNING]
        except NotFoundError:
            return None


def _seed(
    engine: Engine,
    settings: Settings,
    *,
    users: int,
    seed: int,
    say: Say,
    progress: Progress | None,
) -> tuple[str, SimulationReport]:
    factory = create_session_factory(engine)
    with factory() as session:
        keys = create_keys(session)
    end = (dt.datetime.now(dt.UTC) - _MARGIN).replace(second=0, microsecond=0)
    start = end - dt.timedelta(days=DAYS)
    try:
        with local_server(settings) as base_url:
            say(f"API started at {base_url} for the simulation")
            with httpx.Client(
                base_url=base_url,
                headers={"Authorization": f"Bearer {keys.admin_secret}"},
                timeout=60,
            ) as api:
                create_catalog(api, say=say)
            with factory() as session:
                backdate_starts(session, RUNNING, start - dt.timedelta(hours=1))
            rng = np.random.default_rng(seed)
            population = draw_population(rng, users, start)
            report = simulate(
                base_url=base_url,
                sdk_key=keys.sdk_secret,
                admin_key=keys.admin_secret,
                session_factory=factory,
                population=population,
                start=start,
                rng=rng,
                progress=progress,
            )
    finally:
        with factory() as session:
            revoke_key(session, keys.admin_id)
    return keys.sdk_secret, report


def seed_demo(
    engine: Engine,
    settings: Settings,
    *,
    users: int,
    seed: int,
    reset_password: bool,
    say: Say,
    progress: Progress | None,
) -> DemoResult:
    """Seed the database behind ``engine`` with the demo, or read back what it holds."""
    began = time.perf_counter()
    migrate.upgrade(engine)
    present = _present(engine)
    stored = _stored_outcomes(engine) if present == set(EXPERIMENT_KEYS) else None
    if present and stored is None:
        raise DemoError(
            f"this database holds part of the demo ({', '.join(sorted(present))}) without "
            "its results: an earlier `verdict demo` was interrupted. Run the demo on a new "
            "database (remove the file, or pass another --database-url)"
        )
    with create_session_factory(engine)() as session:
        admin = ensure_admin(session, reset_password=reset_password)
    if stored is not None:
        return DemoResult(
            seeded=False,
            admin=admin,
            sdk_key=None,
            simulation=None,
            outcomes=stored,
            seconds=time.perf_counter() - began,
        )
    sdk_key, report = _seed(engine, settings, users=users, seed=seed, say=say, progress=progress)
    outcomes = analyse(engine, RUNNING, say=say)
    return DemoResult(
        seeded=True,
        admin=admin,
        sdk_key=sdk_key,
        simulation=report,
        outcomes=outcomes,
        seconds=time.perf_counter() - began,
    )
