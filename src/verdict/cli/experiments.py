"""``verdict experiments list | status``: experiments as the API reads them, and one
experiment's lifecycle, current phase and latest analysis (its exposures per variant,
sample-ratio check and decision), read from stored results, never recomputed."""

from __future__ import annotations

from typing import Annotated

import typer

from verdict.cli import DatabaseUrl, _database, _domain_message, _session, fail
from verdict.cli.output import console, moment, table
from verdict.server.api.pagination import PageRequest, every_item
from verdict.server.errors import DomainError
from verdict.server.experiments.models import ExperimentStatus, ExperimentType
from verdict.server.experiments.schemas import ExperimentOut

__all__ = ["app"]

app: typer.Typer = typer.Typer(
    help="List experiments and show where one stands.", no_args_is_help=True
)


def _variants(out: ExperimentOut) -> str:
    return ", ".join(
        f"{v.key}{' (control)' if v.is_control else ''} {v.weight:.0%}" for v in out.variants
    )


@app.command("list")
def experiments_list(
    status: Annotated[ExperimentStatus | None, typer.Option(help="Only this status.")] = None,
    type_: Annotated[ExperimentType | None, typer.Option("--type", help="Only this type.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List experiments: key, type, status, environment and variants with their weights."""
    from verdict.server.experiments import service
    from verdict.server.experiments.views import experiment_out

    with _database(database_url) as engine, _session(engine) as session:
        found = every_item(
            lambda page: service.list_experiments(session, page=page, status=status, type_=type_),
            sort="key",
        )
        grid = table("key", "type", "status", "environment", "variants")
        for experiment in found:
            out = experiment_out(experiment)
            grid.add_row(
                out.key, out.type.value, out.status.value, out.environment or "all", _variants(out)
            )
        printer = console()
        printer.print(grid)
        printer.print(f"{len(found)} experiment{'' if len(found) == 1 else 's'}")


@app.command("status")
def experiments_status(
    key: Annotated[str, typer.Argument(help="Experiment key.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Show one experiment: status and allowed actions, the current phase, and its
    latest analysis (exposures per variant, sample-ratio check, decision)."""
    from verdict.server.analysis import results
    from verdict.server.experiments import service
    from verdict.server.experiments.views import experiment_out

    with _database(database_url) as engine, _session(engine) as session:
        try:
            out = experiment_out(service.get_experiment(session, key=key))
            runs, _ = results.list_runs(
                session,
                key=key,
                page=PageRequest(limit=1, cursor=None, sort="-created_at"),
                status=None,
            )
            run = results.run_out(session, runs[0]) if runs else None
        except DomainError as exc:
            raise fail(_domain_message(exc), 2) from exc
    printer = console()
    printer.print(f"{out.key}: {out.name}", markup=False)
    printer.print(f"type      {out.type.value}", markup=False)
    status = out.status.value + (f", winner {out.winner}" if out.winner else "")
    printer.print(f"status    {status}", markup=False)
    printer.print(f"actions   {', '.join(out.allowed_actions) or 'none'}", markup=False)
    printer.print(f"started   {moment(out.started_at)}", markup=False)
    if out.completed_at:
        printer.print(f"completed {moment(out.completed_at)}", markup=False)
    open_phases = [p for p in out.phases if p.ended_at is None]
    if out.phases:
        phase = open_phases[-1] if open_phases else out.phases[-1]
        order = [v.key for v in out.variants]  # the stored mapping's order is the database's
        ordered = sorted(
            phase.weights.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99
        )
        weights = ", ".join(f"{k} {w:.0%}" for k, w in ordered)
        state = "open" if phase.ended_at is None else f"ended {moment(phase.ended_at)}"
        printer.print(
            f"phase     {phase.number} ({state}, since {moment(phase.started_at)}, "
            f"coverage {phase.coverage:.0%}: {weights})",
            markup=False,
        )
    else:
        printer.print("phase     none yet (phases open when the experiment starts)")
    printer.print(f"variants  {_variants(out)}", markup=False)
    if run is None:
        printer.print(f"analysis  none yet (run `verdict analyze {out.key}`)", markup=False)
        return
    printer.print(
        f"analysis  {run.status.value} at {moment(run.finished_at or run.created_at)} "
        f"({run.trigger}{', phase ' + str(run.phase) if run.phase else ''})",
        markup=False,
    )
    if run.error:
        printer.print(f"          error: {run.error}", markup=False)
    exposures = (run.summary or {}).get("exposures") or {}
    if exposures:
        grid = table("variant", "exposures")
        for variant, count in exposures.items():
            grid.add_row(str(variant), f"{count:,}")
        printer.print(grid)
    srm = run.srm or {}
    if srm.get("p_value") is not None:
        verdict = "MISMATCH" if srm.get("mismatch") else "ok"
        printer.print(f"sample ratio check: {verdict} (p = {srm['p_value']:.3g})")
    decision = run.decision or {}
    if decision.get("verdict"):
        chosen = f" -> {decision['variant']}" if decision.get("variant") else ""
        printer.print(f"decision: {decision['verdict']}{chosen}", markup=False)
