"""The ``verdict`` command: serve the API and manage the database schema."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from alembic.util.exc import CommandError
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from verdict import __version__
from verdict.server.config import Settings, get_settings
from verdict.server.db import create_db_engine, create_session_factory, migrate
from verdict.server.errors import DomainError
from verdict.server.identity.models import ApiKeyKind

__all__ = ["app", "main"]

app = typer.Typer(
    name="verdict",
    help="Verdict: self-hosted experimentation platform.",
    no_args_is_help=True,
    add_completion=False,
    # Markdown joins a docstring's lines into paragraphs that wrap at the terminal's
    # width (rich markup would keep each source line break); plain click help, if rich
    # is ever turned off, is not capped at 80 columns either.
    rich_markup_mode="markdown",
    context_settings={"max_content_width": 1000},
)
db_app = typer.Typer(help="Manage the database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
app.add_typer(users_app, name="users")
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
retention_app = typer.Typer(help="Delete data past its retention period.", no_args_is_help=True)
app.add_typer(retention_app, name="retention")
flags_app = typer.Typer(help="Manage feature flags.", no_args_is_help=True)
app.add_typer(flags_app, name="flags")

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="VERDICT_DATABASE_URL",
        help="Database URL: sqlite:///./verdict.db (the default), or PostgreSQL as "
        "postgres://user@host/db (also postgresql:// or postgresql+psycopg://).",
        show_default=False,
    ),
]


Username = Annotated[str, typer.Option(help="Login name.")]
Email = Annotated[str, typer.Option(help="E-mail address.")]


def password_option(envvar: str, what: str = "At least") -> Any:
    """A password option: prompted (twice, hidden) unless given or in ``envvar``."""
    return typer.Option(
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar=envvar,
        help=f"{what} 8 characters (prompted if omitted).",
    )


class FlagSource(enum.StrEnum):
    """Where ``verdict flags import`` reads flags from (docs/migrating.md)."""

    GROWTHBOOK = "growthbook"
    UNLEASH = "unleash"


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _settings(**overrides: Any) -> Settings:
    try:
        return get_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise fail(f"invalid settings: {_validation_message(exc)}", 2) from exc


@contextmanager
def _database(database_url: str | None) -> Iterator[Engine]:
    """An engine for the command, with database errors turned into CLI messages."""
    settings = _settings(database_url=database_url)
    try:
        engine = create_db_engine(settings)
    except ArgumentError as exc:
        raise fail(
            f"database-url {settings.database_url!r} is not a database URL: {exc}", 2
        ) from exc
    except ModuleNotFoundError as exc:
        raise fail(f"database-url {settings.database_url!r} needs a driver: {exc}", 2) from exc
    try:
        yield engine
    except OperationalError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise fail(f"cannot reach database {engine.url!r}: {reason}") from exc
    except CommandError as exc:
        raise fail(str(exc), 2) from exc
    except SQLAlchemyError as exc:
        raise fail(f"database error: {exc}") from exc
    finally:
        engine.dispose()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8000).")] = None,
    database_url: DatabaseUrl = None,
    migrate_on_start: Annotated[
        bool | None,
        typer.Option(
            "--migrate/--no-migrate",
            help="Upgrade the database first (default: VERDICT_MIGRATE_ON_START, true).",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="Worker processes (each with its own snapshot; PostgreSQL only)."
        ),
    ] = 1,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = True,
) -> None:
    """Start the API server (upgrading the database to the newest schema first)."""
    import os

    import uvicorn

    from verdict.server.app import create_app

    settings = _settings(
        host=host, port=port, database_url=database_url, migrate_on_start=migrate_on_start
    )
    if workers > 1 and settings.database_url.startswith("sqlite"):
        # Each worker caches configuration and API keys; only PostgreSQL notifications
        # tell one worker about a change made through another (a revoked key included).
        raise fail(
            "--workers: several worker processes need PostgreSQL (on SQLite a change made "
            "through one worker would not reach the others for up to a minute); use "
            "--database-url postgresql+psycopg://… or one worker",
            2,
        )
    if settings.migrate_on_start:
        with _database(settings.database_url) as engine:
            migrate.upgrade(engine)
            typer.echo(f"database {engine.url!r} at revision {migrate.current_revision(engine)}")
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": access_log,
    }
    if workers == 1:
        uvicorn.run(create_app(settings), **common)
        return
    # Each worker process builds its own app from the environment's settings.
    os.environ["VERDICT_DATABASE_URL"] = settings.database_url
    uvicorn.run("verdict.server.asgi:app_factory", factory=True, workers=workers, **common)


def _db_command(action: Callable[[Engine], None], database_url: str | None) -> None:
    with _database(database_url) as engine:
        action(engine)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    database_url: DatabaseUrl = None,
) -> None:
    """Upgrade the schema to REVISION (default: the newest)."""

    def run(engine: Engine) -> None:
        migrate.upgrade(engine, revision)
        typer.echo(f"at revision {migrate.current_revision(engine)}")

    _db_command(run, database_url)


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, or 'base' to remove all.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Downgrade the schema to REVISION."""

    def run(engine: Engine) -> None:
        migrate.downgrade(engine, revision)
        typer.echo(f"at revision {migrate.current_revision(engine) or 'base'}")

    _db_command(run, database_url)


@db_app.command("current")
def db_current(database_url: DatabaseUrl = None) -> None:
    """Print the revision the database is at."""

    def run(engine: Engine) -> None:
        current = migrate.current_revision(engine)
        head = migrate.head_revision(engine)
        suffix = " (head)" if current == head else f" (head is {head})"
        typer.echo(f"{current or 'base'}{suffix}")

    _db_command(run, database_url)


@db_app.command("history")
def db_history(database_url: DatabaseUrl = None) -> None:
    """List every revision, newest first."""
    _db_command(lambda engine: typer.echo("\n".join(migrate.history(engine))), database_url)


@db_app.command("check")
def db_check(database_url: DatabaseUrl = None) -> None:
    """Exit non-zero when the models and the migrated schema differ."""

    def run(engine: Engine) -> None:
        current, head = migrate.current_revision(engine), migrate.head_revision(engine)
        if current != head:
            raise fail(
                f"database is at {current or 'base'}, not head {head}: run `verdict db upgrade`"
            )
        try:
            migrate.check(engine)
        except migrate.SchemaDriftError as exc:
            raise fail(f"models and migrations differ: {exc}") from exc
        typer.echo("no drift: the models match the migrations")

    _db_command(run, database_url)


def _session(engine: Engine) -> Session:
    # Every model must be imported before the first query, so that relationships
    # between domains (an API key's environment, …) resolve.
    import verdict.server.models  # noqa: F401
    from verdict.server.delivery.changes import ChangeTracker
    from verdict.server.delivery.snapshots import SnapshotCache

    factory = create_session_factory(engine)
    # What a command commits is announced as the API's changes are (PostgreSQL NOTIFY),
    # so running servers apply a toggled flag or a revoked key at once.
    ChangeTracker(factory, SnapshotCache(factory)).install()
    session: Session = factory()
    return session


@users_app.command("create-admin")
def users_create_admin(
    username: Username,
    email: Email,
    password: Annotated[str, password_option("VERDICT_ADMIN_PASSWORD")],
    full_name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a superuser with the built-in admin role."""
    from verdict.cli.users import create_user

    created = create_user(
        database_url,
        username=username,
        email=email,
        password=password,
        full_name=full_name,
        is_superuser=True,
        roles=["admin"],
    )
    typer.echo(f"created admin {created.username} ({created.id})")


@users_app.command("reset-password")
def users_reset_password(
    username: Annotated[str, typer.Option(help="Login name of the user.")],
    password: Annotated[str, password_option("VERDICT_NEW_PASSWORD", "The new password, at least")],
    database_url: DatabaseUrl = None,
) -> None:
    """Set a user's password and end all their sessions (signed-in browsers and tokens)."""
    from verdict.server.identity import service, sessions
    from verdict.server.identity.schemas import Password

    try:
        TypeAdapter(Password).validate_python(password)
    except ValidationError as exc:
        raise fail(f"password: {exc.errors()[0]['msg']}", 2) from exc
    with _database(database_url) as engine, _session(engine) as session:
        try:
            user = sessions.reset_password(
                session, actor=service.SYSTEM, username=username, password=password
            )
        except DomainError as exc:
            raise fail(_domain_message(exc), 2) from exc
        typer.echo(f"password of {user.username} reset; their sessions have ended")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="What the key is for.")],
    kind: Annotated[ApiKeyKind, typer.Option(help="admin, server or client.")],
    environment: Annotated[
        str | None, typer.Option(help="Environment key (server and client keys).")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API key and print its secret (shown once)."""
    from verdict.server.identity import keys, service

    if not name.strip():
        raise fail("name: must not be empty", 2)
    with _database(database_url) as engine, _session(engine) as session:
        try:
            key, secret = keys.create_key(
                session, actor=service.SYSTEM, name=name, kind=kind, environment=environment
            )
        except DomainError as exc:
            raise fail(_domain_message(exc), 2) from exc
        typer.echo(f"created {kind.value} key {key.prefix}… (shown once, store it now):")
        typer.echo(secret)


@retention_app.command("run")
def retention_run(
    days: Annotated[
        int | None,
        typer.Option(min=0, help="Keep assignments this many days after completion (180)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count what would be deleted.")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Delete assignments of experiments completed more than DAYS days ago."""
    from verdict.server.retention.service import run_retention
    from verdict.server.worker import describe_retention

    settings = _settings(database_url=database_url, retention_days=days)
    with _database(settings.database_url) as engine, _session(engine) as session:
        report = run_retention(
            session,
            days=settings.retention_days,
            chunk_size=settings.retention_chunk_size,
            dry_run=dry_run,
        )
        for line in describe_retention(report):
            typer.echo(line)


@flags_app.command("import")
def flags_import(
    file: Annotated[str, typer.Argument(help="The export file (- reads standard input).")],
    source: Annotated[
        FlagSource, typer.Option("--from", help="What made the file: growthbook or unleash.")
    ],
    environment: Annotated[
        list[str] | None,
        typer.Option(
            "--environment",
            "-e",
            help="SOURCE=TARGET imports the file's environment SOURCE into Verdict's TARGET "
            "(repeat it); a bare NAME imports the file's NAME, or its only environment, "
            "into NAME. Default: every environment into the one of the same name.",
        ),
    ] = None,
    skip_existing: Annotated[
        bool, typer.Option("--skip-existing", help="Leave flags Verdict already has as they are.")
    ] = False,
    update: Annotated[
        bool,
        typer.Option("--update", help="Replace flags Verdict already has (definition and states)."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check everything and print the plan; write nothing.")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Import feature flags from a GrowthBook or Unleash export (docs/migrating.md).

    All or nothing: if Verdict refuses any flag, nothing is written."""
    from verdict.cli.flags import import_flags
    from verdict.server.flags.imports.apply import Existing, ImportRefusedError
    from verdict.server.flags.imports.reading import SourceError

    if skip_existing and update:
        raise fail("--skip-existing and --update: choose one", 2)
    existing = Existing.UPDATE if update else Existing.SKIP if skip_existing else Existing.FAIL
    with _database(database_url) as engine:
        try:
            succeeded = import_flags(
                engine,
                path=file,
                source=source.value,
                environments=environment or [],
                existing=existing,
                dry_run=dry_run,
                say=typer.echo,
            )
        except (SourceError, ImportRefusedError) as exc:
            raise fail(str(exc), 2) from exc
    if not succeeded:
        raise typer.Exit(1)


@app.command()
def worker(
    interval: Annotated[
        float | None,
        typer.Option(min=0.001, help="Seconds between retention runs (default 3600)."),
    ] = None,
    analysis_interval: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            help="Seconds between refreshes of running experiments' results (default 3600).",
        ),
    ] = None,
    bandit_interval: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            help="Seconds between checks for bandits due a weight update (default 60).",
        ),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Run background work until SIGTERM or SIGINT: retention, analysis of running
    experiments whose data changed, and the weight updates of running bandits."""
    import threading

    from verdict.server.worker import run_worker, stop_on_signals

    settings = _settings(
        database_url=database_url,
        worker_interval=interval,
        analysis_interval=analysis_interval,
        bandit_interval=bandit_interval,
    )
    stop = threading.Event()
    stop_on_signals(stop)
    with _database(settings.database_url) as engine:
        import verdict.server.models  # noqa: F401  (relationships between domains resolve)

        run_worker(
            settings=settings,
            session_factory=create_session_factory(engine),
            stop=stop,
            say=typer.echo,
            engine=engine,
        )


@app.command()
def analyze(
    key: Annotated[str, typer.Argument(help="Experiment key.")],
    full: Annotated[
        bool, typer.Option("--full", help="Rebuild from all events, not incrementally.")
    ] = False,
    phase: Annotated[
        int | None, typer.Option(min=1, help="Phase number (default: the latest).")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Analyse an experiment now and print its results."""
    from verdict.cli.analysis import analyze_with_progress

    with _database(database_url) as engine:
        import verdict.server.models  # noqa: F401  (relationships between domains resolve)

        try:
            analyze_with_progress(engine, key=key, full=full, phase=phase)
        except DomainError as exc:
            raise fail(_domain_message(exc), 2 if not _is_busy(exc) else 1) from exc


def _is_busy(exc: DomainError) -> bool:
    from verdict.server.analysis.runs import AnalysisBusyError

    return isinstance(exc, AnalysisBusyError)


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


def _domain_message(exc: DomainError) -> str:
    field = exc.field.removeprefix("body.").removeprefix("path.") if exc.field else None
    return f"{field}: {exc.detail}" if field else exc.detail


@app.command()
def version() -> None:
    """Print the Verdict version."""
    typer.echo(__version__)


# Command groups kept in their own modules; imported last, since they use the helpers
# above (fail, _database, _session, DatabaseUrl).
from verdict.cli import experiments as _experiments  # noqa: E402
from verdict.cli import flag_states as _flag_states  # noqa: E402
from verdict.cli import keys as _keys  # noqa: E402
from verdict.cli import transfer as _transfer  # noqa: E402
from verdict.cli import users as _users  # noqa: E402
from verdict.cli.output import fold_long_words_in_help  # noqa: E402

fold_long_words_in_help()

users_app.add_typer(_users.app)
keys_app.add_typer(_keys.app)
flags_app.add_typer(_flag_states.app)
app.add_typer(_experiments.app, name="experiments")
app.add_typer(_transfer.app)

from verdict.cli.demo import demo as _demo  # noqa: E402

app.command("demo")(_demo)


def main() -> None:
    app()
