"""``verdict keys list | revoke``: API keys, through the service the API uses (actor
``system``). Secrets are never stored, so a listing shows each key's prefix, which is
also how ``revoke`` names a key. ``keys create`` lives in :mod:`verdict.cli`."""

from __future__ import annotations

from typing import Annotated

import typer

from verdict.cli import DatabaseUrl, _database, _domain_message, _session, fail
from verdict.cli.output import console, moment, table
from verdict.server.api.pagination import every_item
from verdict.server.errors import DomainError
from verdict.server.identity.models import ApiKeyKind

__all__ = ["app"]

app: typer.Typer = typer.Typer()


@app.command("list")
def keys_list(
    kind: Annotated[
        ApiKeyKind | None, typer.Option(help="Only keys of this kind: admin, server or client.")
    ] = None,
    live: Annotated[
        bool, typer.Option("--live", help="Leave out revoked and expired keys.")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List API keys, newest first: prefix, name, kind, environment, when created and
    last used, and whether revoked."""
    from verdict.server.db import utcnow
    from verdict.server.identity import keys

    with _database(database_url) as engine, _session(engine) as session:
        found = every_item(
            lambda page: keys.list_keys(session, page=page, kind=kind), sort="-created_at"
        )
        now = utcnow()
        grid = table(
            "prefix", "name", "kind", "environment", "created", "last used", "expires", "revoked"
        )
        shown = 0
        for key in found:
            expired = key.expires_at is not None and key.expires_at <= now
            if live and (key.revoked_at is not None or expired):
                continue
            shown += 1
            grid.add_row(
                key.prefix,
                key.name,
                key.kind.value,
                key.environment.key if key.environment else "all",
                moment(key.created_at),
                moment(key.last_used_at),
                ("expired " if expired else "") + moment(key.expires_at)
                if key.expires_at
                else "never",
                moment(key.revoked_at) if key.revoked_at else "no",
            )
        out = console()
        out.print(grid)
        out.print(f"{shown} key{'' if shown == 1 else 's'}")


@app.command("revoke")
def keys_revoke(
    key: Annotated[
        str, typer.Argument(help="The key's prefix (as `keys list` shows it) or its id.")
    ],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke an API key for good: requests with it are refused from now on."""
    from verdict.server.identity import keys, service

    with _database(database_url) as engine, _session(engine) as session:
        try:
            found = keys.find_key(session, reference=key)
            revoked = keys.revoke_key(session, actor=service.SYSTEM, key_id=found.id)
        except DomainError as exc:
            raise fail(_domain_message(exc), 2) from exc
        typer.echo(f"revoked {revoked.kind.value} key {revoked.prefix}… ({revoked.name})")
