"""``verdict analyze``: run an analysis with a progress bar and print the results table."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine

from verdict.server.analysis import results
from verdict.server.analysis.result_schemas import MetricResultOut, ResultsOut
from verdict.server.analysis.runs import execute_run, find_experiment, start_run
from verdict.server.db import create_session_factory

__all__ = ["analyze_with_progress", "render_results"]


def _number(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:+.1f}%"


def _interval(row: MetricResultOut) -> str:
    if row.lift_ci_lower is None or row.lift_ci_upper is None:
        return "—"
    return f"[{_percent(row.lift_ci_lower)}, {_percent(row.lift_ci_upper)}]"


def render_results(console: Console, out: ResultsOut) -> None:
    """The results table, then the SRM check and the decision, as a person reads them."""
    run = out.run
    bayesian = run.method is not None and run.method.value == "bayesian"
    table = Table(
        title=f"{out.experiment}: results at {out.computed_at:%Y-%m-%d %H:%M} UTC "
        f"({run.method.value if run.method else 'frequentist'}, "
        f"{out.confidence_level:.0%} confidence)",
        title_justify="left",
    )
    for column in ("metric", "variant", "units", "value", "lift", "interval"):
        table.add_column(column, justify="right" if column == "units" else "left")
    table.add_column("chance to win" if bayesian else "p-value", justify="right")
    table.add_column("", justify="left")
    for row in out.results:
        if row.dimension is not None:
            continue
        verdict = ""
        if row.significant:
            verdict = "significant"
        elif row.note:
            verdict = row.note
        name = row.metric + (" (CUPED)" if row.cuped else "")
        table.add_row(
            name,
            row.variant + (" (control)" if row.is_control else ""),
            f"{row.sample_size:,}",
            _number(row.mean),
            "" if row.is_control else _percent(row.relative_lift),
            "" if row.is_control else _interval(row),
            "" if row.is_control else _number(row.chance_to_win if bayesian else row.p_value, 3),
            verdict,
        )
    console.print(table)
    srm = run.srm or {}
    if srm.get("p_value") is not None:
        flag = "MISMATCH" if srm.get("mismatch") else "ok"
        console.print(f"sample ratio check: {flag} (p = {srm['p_value']:.3g})")
    decision = run.decision or {}
    if decision:
        chosen = f" → {decision['variant']}" if decision.get("variant") else ""
        console.print(f"decision: {decision.get('verdict')}{chosen}")
        for reason in decision.get("reasons", []):
            console.print(f"  {reason}")


def analyze_with_progress(
    engine: Engine,
    *,
    key: str,
    full: bool,
    phase: int | None,
    console: Console | None = None,
) -> ResultsOut:
    """Run the analysis of ``key`` now (recorded as a CLI run) and print its results."""
    console = console or Console()
    factory = create_session_factory(engine)
    with factory() as session:
        experiment = find_experiment(session, key)
        run = start_run(session, experiment=experiment, full=full, trigger="cli", actor=None)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=1.0)

        def progress(fraction: float, stage: str) -> None:
            bar.update(task, completed=fraction, description=stage)

        execute_run(factory, engine, run.id, phase_number=phase, progress=progress)
    with factory() as session:
        out = results.latest_results(session, key=key)
    render_results(console, out)
    return out
