"""``verdict flags import``: read a GrowthBook or Unleash export, map it, write it (or,
with ``--dry-run``, check it) and print what was done and what did not map, flag by
flag. The mapping lives in :mod:`verdict.server.flags.imports`; this module only
reads options and prints."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import orjson
from sqlalchemy import Engine

from verdict.server.flags.imports.apply import Existing, ImportReport, apply_plan
from verdict.server.flags.imports.growthbook import plan_growthbook
from verdict.server.flags.imports.plan import ImportPlan
from verdict.server.flags.imports.reading import read_json
from verdict.server.flags.imports.targets import map_environments
from verdict.server.flags.imports.unleash import plan_unleash

__all__ = ["import_flags", "render_report"]

_PLANNERS: dict[str, Callable[..., ImportPlan]] = {
    "growthbook": plan_growthbook,
    "unleash": plan_unleash,
}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _value(value: object) -> str:
    return orjson.dumps(value).decode()


def render_report(plan: ImportPlan, report: ImportReport, *, dry_run: bool) -> list[str]:
    """The report as lines of text: the source, segments, each flag with its state per
    environment and its notes (what did not map faithfully), then a summary."""
    total = len(plan.flags) + len(plan.skipped)
    lines = [f"{plan.format}: {_plural(total, 'flag')}, {_plural(len(plan.segments), 'segment')}"]
    lines.extend(f"note: {note}" for note in [*plan.notes, *report.notes])
    for key, action in report.segments:
        lines.append(f"segment {key}: {action}")
    for outcome in report.flags:
        lines.append(f"flag {outcome.key}: {outcome.action}")
        for environment, summary in outcome.environments.items():
            lines.append(f"  {environment}: {summary}")
        for item in outcome.prerequisites:
            lines.append(f"  requires {item['flag']} = {_value(item['value'])}")
        for note in outcome.notes:
            lines.append(f"  - {note}")
    for skipped in plan.skipped:
        lines.append(f"flag {skipped.key}: not imported: {skipped.reason}")
    if report.problems:
        lines.append("refused, nothing was written:")
        lines.extend(f"  - {problem}" for problem in report.problems)
        return lines
    created = sum(outcome.action == "create" for outcome in report.flags)
    updated = sum(outcome.action == "update" for outcome in report.flags)
    notes = sum(len(outcome.notes) for outcome in report.flags)
    segments = sum(action == "create" for _, action in report.segments)
    summary = (
        f"{_plural(created, 'flag')} created, {updated} updated, "
        f"{len(report.flags) - created - updated} left as they were, "
        f"{len(plan.skipped)} not imported; {_plural(segments, 'segment')} created; "
        f"{_plural(notes, 'note')}"
    )
    lines.append(f"dry run, nothing was written: {summary}" if dry_run else summary)
    return lines


def import_flags(
    engine: Engine,
    *,
    path: str,
    source: str,
    environments: Sequence[str],
    existing: Existing,
    dry_run: bool,
    say: Callable[[str], None],
) -> bool:
    """Import ``path``; print the report with ``say``; return whether it succeeded.

    Raises :class:`~verdict.server.flags.imports.reading.SourceError` for a file or an
    option that cannot be used and
    :class:`~verdict.server.flags.imports.apply.ImportRefusedError` when the database
    lacks an environment: nothing is written in either case.
    """
    plan = _PLANNERS[source](read_json(path), path)
    targets, left_out = map_environments(plan.environments, environments)
    report = apply_plan(engine, plan, targets=targets, existing=existing, dry_run=dry_run)
    report.notes.extend(left_out)
    for line in render_report(plan, report, dry_run=dry_run):
        say(line)
    return not report.problems
