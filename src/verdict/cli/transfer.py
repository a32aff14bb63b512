"""``verdict export`` and ``verdict import``: flags and experiments (with the environments,
segments and metrics they name) as one versioned JSON document. What the document holds
and how an import proceeds is :mod:`verdict.server.transfer`; this module reads options,
shows progress and prints the report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from verdict.cli import DatabaseUrl, _database, _session, fail
from verdict.cli.output import console, progress_bar

__all__ = ["app"]

app: typer.Typer = typer.Typer()


@app.command("export")
def export(
    file: Annotated[
        str, typer.Argument(help="Where to write the document (- writes standard output).")
    ] = "-",
    database_url: DatabaseUrl = None,
) -> None:
    """Export flags and experiments as a JSON document.

    The document (format verdict.export, version 1; docs/cli.md) also holds the
    environments, segments and metrics they name; `verdict import` reads it."""
    from verdict.server.transfer.schemas import TransferDocument
    from verdict.server.transfer.service import export_document, section_sizes

    with (
        _database(database_url) as engine,
        _session(engine) as session,
        progress_bar(console(stderr=True)) as bar,
    ):
        task = bar.add_task("reading", total=None)
        document: TransferDocument = export_document(
            session, progress=lambda what: bar.update(task, description=what, advance=1)
        )
    # Unset fields stay out: a rule carries only the fields of its type, as stored.
    body = orjson.dumps(
        document.model_dump(mode="json", exclude_unset=True),
        option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE,
    )
    summary = ", ".join(_count(count, name) for name, count in section_sizes(document).items())
    if file == "-":
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
        typer.echo(f"exported {summary}", err=True)
        return
    try:
        Path(file).write_bytes(body)
    except OSError as exc:
        raise fail(f"file: cannot write {file}: {exc.strerror or exc}", 2) from exc
    typer.echo(f"exported {summary} to {file}")


def _count(count: int, section: str) -> str:
    """``2 flags``, ``1 flag`` (sections are named in the plural)."""
    return f"{count} {section if count != 1 else section.removesuffix('s')}"


def _read(file: str) -> Any:
    try:
        raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise fail(f"file: cannot read {file}: {exc.strerror or exc}", 2) from exc
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise fail(f"file: {file} is not JSON ({exc})", 2) from exc


@app.command("import")
def import_(
    file: Annotated[str, typer.Argument(help="A document `verdict export` wrote (- reads stdin).")],
    skip_existing: Annotated[
        bool,
        typer.Option(
            "--skip-existing",
            help="Leave items whose key exists here as they are (default: refuse the import).",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Check everything, print what would happen, write nothing."),
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Import flags and experiments from a document `verdict export` wrote.

    Environments, segments, metrics, experiments and flags are created through the same
    services as the API. All or nothing: if any item is refused (each problem is named by
    its place in the document), nothing is written."""
    from verdict.server.identity.service import SYSTEM
    from verdict.server.transfer.service import (
        DocumentError,
        import_document,
        read_document,
        total_steps,
    )

    raw = _read(file)
    try:
        document = read_document(raw)
    except DocumentError as exc:
        problems = exc.errors or [("document", exc.detail)]
        for field, reason in problems[1:]:
            typer.secho(f"  {field}: {reason}", err=True, fg=typer.colors.RED)
        first_field, first_reason = problems[0]
        more = f" (and {len(problems) - 1} more above)" if len(problems) > 1 else ""
        raise fail(f"{first_field}: {first_reason}{more}", 2) from exc
    with _database(database_url) as engine:
        import verdict.server.models  # noqa: F401  (relationships between domains resolve)

        with progress_bar(console(stderr=True)) as bar:
            task = bar.add_task("importing", total=total_steps(document))
            report = import_document(
                engine,
                document,
                actor=SYSTEM,
                skip_existing=skip_existing,
                dry_run=dry_run,
                progress=lambda what: bar.update(task, description=what, advance=1),
            )
    for note in report.notes:
        typer.echo(f"note: {note}")
    if report.errors:
        for line in report.errors[1:]:
            typer.secho(f"  {line}", err=True, fg=typer.colors.RED)
        more = f" (and {len(report.errors) - 1} more above)" if len(report.errors) > 1 else ""
        raise fail(f"{report.errors[0]}{more}; nothing was written", 1)
    created = ", ".join(_count(count, name) for name, count in report.created.items() if count)
    kept = ", ".join(_count(count, name) for name, count in report.existing.items() if count)
    summary = f"created {created or 'nothing'}" + (f"; already here: {kept}" if kept else "")
    typer.echo(f"dry run, nothing was written: would have {summary}" if dry_run else summary)
