"""``verdict demo``: seed a database with the demo, show what it found, serve the dashboard.

The work is :func:`verdict.demo.run`; this module adds the progress bar, the summary a
newcomer reads (the planted effects as the analysis found them), the credentials, and
then serves the dashboard as ``verdict serve`` does (``--no-serve`` stops before).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from verdict.demo import DEFAULT_SEED, DEFAULT_USERS, MAX_USERS, MIN_USERS, DemoResult

if TYPE_CHECKING:
    from verdict.demo.analyses import Outcome

__all__ = ["demo"]

_DEFAULT_PORT = 8000


def _lift(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:+.1f}%"


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def _summary(console: Console, outcomes: list[Outcome]) -> None:
    """Per experiment: the primary metric by variant, the sample-ratio check and the
    decision; plain lines, so it reads the same in a narrow terminal or a log."""
    console.print("\n[bold]What the analyses found[/bold] (* significant)")
    for outcome in outcomes:
        srm = "MISMATCH" if outcome.srm_mismatch else "ok"
        decision = (outcome.decision or "—") + (
            f" → {outcome.decision_variant}" if outcome.decision_variant else ""
        )
        console.print(
            f"[bold]{outcome.experiment}[/bold]: {outcome.primary_metric}; "
            f"sample ratio {srm}; decision {decision}",
            highlight=False,
        )
        console.print(
            f"  {outcome.control + ' (control)':<28}{outcome.control_units:>8,}  "
            f"{_number(outcome.control_mean):>7}",
            highlight=False,
        )
        for c in outcome.comparisons:
            mark = " *" if c.significant else ""
            console.print(
                f"  {c.variant:<28}{c.units:>8,}  {_number(c.mean):>7}  "
                f"{_lift(c.relative_lift):>7}  p = {_number(c.p_value)}{mark}",
                highlight=False,
            )


def _credentials(console: Console, result: DemoResult, url: str | None) -> None:
    admin = result.admin
    if admin.password is not None:
        how = "created" if admin.created else "given a new password"
        console.print(
            f"\nadministrator [bold]{admin.username}[/bold] {how}; password (shown once):"
        )
        console.print(f"  [bold]{admin.password}[/bold]")
    else:
        console.print(
            f"\nadministrator [bold]{admin.username}[/bold] already exists; its password was "
            "not changed (`verdict demo --reset-password` sets a new one)"
        )
    if result.sdk_key is not None:
        console.print("server SDK key of production (shown once):")
        console.print(f"  {result.sdk_key}")
    if url is not None:
        console.print(
            f"\ndashboard: [bold]{url}[/bold]  (sign in as {admin.username}; Ctrl-C stops)"
        )


def _port_free(host: str, port: int) -> bool:
    try:
        with socket.create_server((host, port)):
            return True
    except OSError:
        return False


def demo(
    users: Annotated[
        int,
        typer.Option(
            min=MIN_USERS, max=MAX_USERS, help="Simulated visitors (two weeks of traffic)."
        ),
    ] = DEFAULT_USERS,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the simulation.")] = DEFAULT_SEED,
    serve: Annotated[
        bool,
        typer.Option("--serve/--no-serve", help="Serve the dashboard afterwards."),
    ] = True,
    host: Annotated[str, typer.Option(help="Interface the dashboard listens on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port the dashboard listens on.")
    ] = _DEFAULT_PORT,
    reset_password: Annotated[
        bool,
        typer.Option(
            "--reset-password", help="Give the existing demo administrator a new password."
        ),
    ] = False,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="VERDICT_DATABASE_URL",
            help="SQLAlchemy URL (default sqlite:///./verdict.db).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Fill a database with realistic experiments, flags and two weeks of simulated
    traffic sent through the SDK and the API, analyse it, and serve the dashboard.

    Safe to run again: a database that already holds the demo is left as it is."""
    from verdict.cli import _database, _settings, fail
    from verdict.cli import serve as serve_command
    from verdict.demo import DemoError, run
    from verdict.demo.catalog import CatalogError
    from verdict.demo.simulate import SimulationError

    settings = _settings(database_url=database_url)
    if serve and not _port_free(host, port):
        raise fail(f"--port: {host}:{port} is in use; pass another --port (or --no-serve)", 2)
    console = Console()
    with (
        _database(settings.database_url) as engine,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("visitors"),
            TimeElapsedColumn(),
            console=console,
        ) as bar,
    ):
        task = bar.add_task("simulating", total=users, visible=False)

        def progress(visitors: int, day: int) -> None:
            bar.update(task, advance=visitors, visible=True, description=f"day {day + 1:>2} of 14")

        try:
            result = run(
                engine,
                settings,
                users=users,
                seed=seed,
                reset_password=reset_password,
                say=lambda line: bar.console.print(line),
                progress=progress,
            )
        except DemoError as exc:
            raise fail(str(exc)) from exc
        except (SimulationError, CatalogError) as exc:
            raise fail(f"the demo failed: {exc}") from exc
    if result.seeded and result.simulation is not None:
        simulation = result.simulation
        console.print(
            f"simulated {simulation.users:,} visitors in {simulation.seconds:.1f} s: "
            f"{simulation.exposures:,} exposures and {simulation.events:,} events stored; "
            f"demo ready in {result.seconds:.1f} s"
        )
    else:
        console.print("this database already holds the demo: nothing seeded, results as stored")
    _summary(console, result.outcomes)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{shown}:{port}/" if serve else None
    _credentials(console, result, url)
    if serve:
        serve_command(
            host=host,
            port=port,
            database_url=settings.database_url,
            migrate_on_start=False,
            workers=1,
            access_log=False,
        )
