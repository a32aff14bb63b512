"""``verdict demo``: a database full of realistic experiments, flags and results.

:func:`run` does, in order:

1. upgrades the database to the newest schema;
2. makes sure the administrator ``admin`` exists (:mod:`verdict.demo.accounts`);
3. unless the database already holds the demo (its experiment keys, each running one
   with a stored analysis), seeds it: starts the real app on a free port of 127.0.0.1
   (:mod:`verdict.demo.server`), creates the catalogue through the management API
   (:mod:`verdict.demo.catalog`), dates the experiments' starts two weeks back
   (:mod:`verdict.demo.history`), replays the visitors through the SDK and the API
   (:mod:`verdict.demo.simulate`, :mod:`verdict.demo.traffic`, with the effects of
   :mod:`verdict.demo.effects`) and analyses every running experiment with the
   pipeline ``verdict analyze`` uses (:mod:`verdict.demo.analyses`);
4. answers what it did and what the analyses found; serving the dashboard afterwards is
   the command's job (:mod:`verdict.cli.demo`).

A second run on a seeded database changes nothing (except the administrator's password
when a reset is asked for) and reads back the stored results. A database holding only
part of the demo (an earlier run was interrupted) is refused with a message saying so,
rather than completed with data that would not match the planted effects.

This module imports nothing heavy (the steps live in :mod:`verdict.demo.seeding`), so
the CLI can name the demo's limits without loading the server, the SDK and numpy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from verdict.demo.accounts import Admin
    from verdict.demo.analyses import Outcome
    from verdict.demo.simulate import SimulationReport
    from verdict.server.config import Settings

__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_USERS",
    "MAX_USERS",
    "MIN_USERS",
    "DemoError",
    "DemoResult",
    "run",
]

DEFAULT_USERS = 50_000
DEFAULT_SEED = 2026
MIN_USERS = 1_000
MAX_USERS = 1_000_000


class DemoError(Exception):
    """The demo cannot run on this database, or with these options."""


@dataclass(frozen=True)
class DemoResult:
    seeded: bool  # False: the database already held the demo
    admin: Admin
    sdk_key: str | None  # shown once, when seeded
    simulation: SimulationReport | None
    outcomes: list[Outcome]
    seconds: float


def run(
    engine: Engine,
    settings: Settings,
    *,
    users: int = DEFAULT_USERS,
    seed: int = DEFAULT_SEED,
    reset_password: bool = False,
    say: Callable[[str], None] = print,
    progress: Callable[[int, int], None] | None = None,
) -> DemoResult:
    """Seed the database behind ``engine`` with the demo (see the module docstring);
    ``progress(visitors, day)`` reports the simulation as it goes."""
    if not MIN_USERS <= users <= MAX_USERS:
        raise DemoError(f"users: must be between {MIN_USERS:,} and {MAX_USERS:,}, got {users:,}")
    from verdict.demo.seeding import seed_demo

    return seed_demo(
        engine,
        settings,
        users=users,
        seed=seed,
        reset_password=reset_password,
        say=say,
        progress=progress,
    )
