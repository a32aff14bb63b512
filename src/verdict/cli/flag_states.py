"""``verdict flags list | toggle | rollout``: each flag's state per environment, read and
changed through the services of the flags API (the same validation: the environment's
whole configuration compiles after the change; the same audit entries, actor
``system``). ``flags import`` lives in :mod:`verdict.cli` and :mod:`verdict.cli.flags`."""

from __future__ import annotations

import enum
from typing import Annotated

import typer
from pydantic import ValidationError

from verdict.cli import DatabaseUrl, _database, _domain_message, _session, fail
from verdict.cli.output import console, table
from verdict.server.api.pagination import every_item
from verdict.server.api.versioning import etag
from verdict.server.errors import DomainError
from verdict.server.flags.schemas import FlagOut, FlagStateSummary

__all__ = ["app"]

app: typer.Typer = typer.Typer()

Environment = Annotated[
    str, typer.Option("--environment", "-e", help="Environment key, e.g. production.")
]


class Switch(enum.StrEnum):
    ON = "on"
    OFF = "off"


def _cell(state: FlagStateSummary | None) -> str:
    """A flag's state in one environment as a listing shows it."""
    if state is None:
        return "—"
    text = "on" if state.enabled else "off"
    if state.rollout_percentage is not None:
        text += f" {state.rollout_percentage:g}%"
    if state.rules:
        text += f" ({state.rules} rule{'' if state.rules == 1 else 's'})"
    return text


@app.command("list")
def flags_list(
    environment: Annotated[
        list[str] | None,
        typer.Option(
            "--environment", "-e", help="Show only this environment (repeat it). Default: all."
        ),
    ] = None,
    tag: Annotated[str | None, typer.Option(help="Only flags with this tag.")] = None,
    archived: Annotated[
        bool, typer.Option("--archived", help="List archived flags instead of live ones.")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List flags with their state in each environment: on or off, the rollout
    percentage and the number of rules ("—": never configured there, so off)."""
    from verdict.server.environments import service as environments
    from verdict.server.flags import service

    with _database(database_url) as engine, _session(engine) as session:
        known = [
            e.key
            for e in every_item(
                lambda page: environments.list_environments(session, page=page), sort="sort_order"
            )
        ]
        unknown = [name for name in environment or [] if name not in known]
        if unknown:
            raise fail(
                f"environment: no environment {unknown[0]!r}; there are {', '.join(known)}", 2
            )
        columns = environment or known
        flags: list[FlagOut] = every_item(
            lambda page: service.list_flags(session, page=page, tag=tag, archived=archived),
            sort="key",
        )
        grid = table("flag", "type", *columns)
        for flag in flags:
            grid.add_row(
                flag.key,
                flag.value_type.value,
                *(_cell(flag.environments.get(name)) for name in columns),
            )
        out = console()
        out.print(grid)
        out.print(f"{len(flags)} flag{'' if len(flags) == 1 else 's'}")


@app.command("toggle")
def flags_toggle(
    key: Annotated[str, typer.Argument(help="Flag key.")],
    switch: Annotated[Switch, typer.Argument(help="on or off.")],
    environment: Environment,
    database_url: DatabaseUrl = None,
) -> None:
    """Turn a flag on or off in an environment (its rules and rollout stay as they are)."""
    from verdict.server.flags import states
    from verdict.server.identity.service import SYSTEM

    with _database(database_url) as engine, _session(engine) as session:
        try:
            before = states.get_state(session, flag_key=key, environment_key=environment)
            after = states.set_enabled(
                session,
                actor=SYSTEM,
                flag_key=key,
                environment_key=environment,
                enabled=switch is Switch.ON,
                if_match=etag(before.version),
            )
        except DomainError as exc:
            raise fail(_domain_message(exc), 2) from exc
    change = "was already" if after.version == before.version else "is now"
    typer.echo(f"{key} {change} {switch.value} in {environment} (version {after.version})")


def _percentage(text: str) -> float | None:
    if text.strip().lower() in ("none", "off", "all"):
        return None
    try:
        return float(text.strip().removesuffix("%"))
    except ValueError as exc:
        raise fail(f"percentage: {text!r} is not a number from 0 to 100, or none", 2) from exc


@app.command("rollout")
def flags_rollout(
    key: Annotated[str, typer.Argument(help="Flag key.")],
    percentage: Annotated[
        str,
        typer.Argument(
            help="0-100 (steps of 0.01): the share of units that reach the flag's rules; "
            "none removes the gate (everyone does)."
        ),
    ],
    environment: Environment,
    database_url: DatabaseUrl = None,
) -> None:
    """Set the gradual rollout of a flag in an environment: only PERCENTAGE % of units
    (by a hash of the flag key and the unit) reach its rules; the others get the default.
    Raising it never removes a unit that was in."""
    from verdict.server.flags import states
    from verdict.server.flags.schemas import FlagStateIn
    from verdict.server.identity.service import SYSTEM

    value = _percentage(percentage)
    with _database(database_url) as engine, _session(engine) as session:
        try:
            current = states.get_state(session, flag_key=key, environment_key=environment)
            try:
                data = FlagStateIn.model_validate(
                    {
                        "enabled": current.enabled,
                        "rules": current.rules,
                        "rollout_percentage": value,
                    }
                )
            except ValidationError as exc:
                error = exc.errors()[0]
                field = ".".join(str(p) for p in error["loc"])
                name = "percentage" if field == "rollout_percentage" else field
                raise fail(f"{name}: {error['msg']}", 2) from exc
            after = states.put_state(
                session,
                actor=SYSTEM,
                flag_key=key,
                environment_key=environment,
                data=data,
                if_match=etag(current.version),
            )
        except DomainError as exc:
            raise fail(_domain_message(exc), 2) from exc
    share = "everyone" if value is None else f"{value:g}% of units"
    state = "on" if after.enabled else "off (turn it on with `verdict flags toggle`)"
    typer.echo(f"{key} in {environment}: {share} reach the rules; the flag is {state}")
