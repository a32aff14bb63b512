"""``verdict users create | list | deactivate | reactivate``: people, through the identity
service the API uses (the same checks, the same audit entries, actor ``system``).
``create-admin`` and ``reset-password`` live in :mod:`verdict.cli`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from verdict.cli import (
    DatabaseUrl,
    Email,
    Username,
    _database,
    _domain_message,
    _session,
    _validation_message,
    fail,
    password_option,
)
from verdict.cli.output import console, moment, table
from verdict.server.api.pagination import every_item
from verdict.server.api.versioning import etag
from verdict.server.errors import DomainError

__all__ = ["app"]

app: typer.Typer = typer.Typer()


@app.command("create")
def users_create(
    username: Username,
    email: Email,
    password: Annotated[str, password_option("VERDICT_NEW_PASSWORD")],
    role: Annotated[
        list[str] | None,
        typer.Option(
            "--role",
            "-r",
            help="A role name: admin, experimenter, viewer or a custom role (repeat it). "
            "Default: viewer.",
        ),
    ] = None,
    superuser: Annotated[
        bool, typer.Option("--superuser", help="Every permission, whatever the roles.")
    ] = False,
    full_name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a user with the given roles."""
    created = create_user(
        database_url,
        username=username,
        email=email,
        password=password,
        full_name=full_name,
        is_superuser=superuser,
        roles=role or ["viewer"],
    )
    kind = "superuser" if created.superuser else "user"
    roles = ", ".join(created.roles) or "no role"
    typer.echo(f"created {kind} {created.username} ({roles}; id {created.id})")


@dataclass(frozen=True)
class CreatedUser:
    """What the commands print about a user they created."""

    id: uuid.UUID
    username: str
    roles: list[str]
    superuser: bool


def create_user(database_url: str | None, **fields: Any) -> CreatedUser:
    """Create a user from ``fields`` (those of ``UserCreate``) through the identity
    service, or exit with the field at fault."""
    from verdict.server.identity import service
    from verdict.server.identity.schemas import UserCreate

    try:
        data = UserCreate(**fields)
    except ValidationError as exc:
        raise fail(_validation_message(exc), 2) from exc
    with _database(database_url) as engine, _session(engine) as session:
        try:
            user = service.create_user(session, actor=service.SYSTEM, data=data)
        except DomainError as exc:
            raise fail(_domain_message(exc), 2) from exc
        return CreatedUser(
            user.id, user.username, sorted(r.name for r in user.roles), user.is_superuser
        )


@app.command("list")
def users_list(
    search: Annotated[
        str | None, typer.Option("--search", "-q", help="Text in username, e-mail or name.")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List users: roles, whether active, last login."""
    from verdict.server.identity import service

    with _database(database_url) as engine, _session(engine) as session:
        users = every_item(
            lambda page: service.list_users(session, page=page, text=search), sort="username"
        )
        grid = table("username", "e-mail", "roles", "active", "superuser", "last login")
        for user in users:
            grid.add_row(
                user.username,
                user.email,
                ", ".join(sorted(r.name for r in user.roles)) or "—",
                "yes" if user.is_active else "no",
                "yes" if user.is_superuser else "no",
                moment(user.last_login_at),
            )
        console().print(grid)


def _set_active(username: str, active: bool, database_url: str | None) -> None:
    from verdict.server.identity import service
    from verdict.server.identity.schemas import UserUpdate

    with _database(database_url) as engine, _session(engine) as session:
        try:
            user = service.find_user(session, username=username)
            if user.is_active is active:
                state = "active" if active else "deactivated"
                typer.echo(f"{user.username} is already {state}; nothing changed")
                return
            service.update_user(
                session,
                actor=service.SYSTEM,
                user_id=user.id,
                data=UserUpdate(is_active=active),
                if_match=etag(user.version),
            )
        except DomainError as exc:
            raise fail(_domain_message(exc), 2) from exc
    if active:
        typer.echo(f"reactivated {username}: they can sign in again (their old keys stay revoked)")
    else:
        typer.echo(
            f"deactivated {username}: their sessions have ended and their API keys are revoked"
        )


@app.command("deactivate")
def users_deactivate(
    username: Annotated[str, typer.Argument(help="Login name of the user.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Stop a user signing in: end their sessions and revoke the API keys they made."""
    _set_active(username, False, database_url)


@app.command("reactivate")
def users_reactivate(
    username: Annotated[str, typer.Argument(help="Login name of the user.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Let a deactivated user sign in again."""
    _set_active(username, True, database_url)
