"""Importing flags from GrowthBook and Unleash exports (docs/migrating.md).

Reading and mapping are pure: :func:`read_json` bounds and parses the file,
:func:`plan_growthbook` / :func:`plan_unleash` turn it into an :class:`ImportPlan`
(flags, states per source environment, segments, and a note for everything that did not
map faithfully), :func:`map_environments` says where each source environment goes.
Only :func:`apply_plan` touches the database: through the flag and segment services, in
one transaction, all or nothing.
"""

from verdict.server.flags.imports.apply import (
    Existing,
    FlagOutcome,
    ImportRefusedError,
    ImportReport,
    apply_plan,
)
from verdict.server.flags.imports.growthbook import plan_growthbook
from verdict.server.flags.imports.plan import ImportPlan
from verdict.server.flags.imports.reading import SourceError, read_json
from verdict.server.flags.imports.targets import map_environments
from verdict.server.flags.imports.unleash import plan_unleash

__all__ = [
    "Existing",
    "FlagOutcome",
    "ImportPlan",
    "ImportRefusedError",
    "ImportReport",
    "SourceError",
    "apply_plan",
    "map_environments",
    "plan_growthbook",
    "plan_unleash",
    "read_json",
]
