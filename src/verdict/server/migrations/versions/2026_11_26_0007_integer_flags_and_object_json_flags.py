"""Flag value types: ``integer`` flags; ``json`` flags hold JSON objects.

``flag_value_type`` gains ``integer`` (whole numbers, served as integers, while
``number`` flags are served as floats). ``json`` flags hold objects from now on, as
OpenFeature's structures are: the engine refuses any other value. Rewriting a stored
array or string into some object would change what applications receive without
anyone deciding it, so when a ``json`` flag holds a value that is not an object (its
default, a variant, a rule's value, an override, or the value another flag requires of
it) the upgrade stops and names each one; change them (to objects, or the flag to
another type) with the version that wrote them, then upgrade.

Downgrading turns ``integer`` flags into ``number`` flags (their values are numbers).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
OLD_TYPES = ("boolean", "string", "number", "json")
NEW_TYPES = ("boolean", "string", "integer", "number", "json")
LISTED = 50  # places named in the refusal; the count covers the rest

_flags = sa.table(
    "feature_flags",
    sa.column("id", sa.Uuid()),
    sa.column("key", sa.String()),
    sa.column("value_type", sa.String()),
    sa.column("default_value", JSON),
    sa.column("variants", JSON),
)
_states = sa.table(
    "feature_flag_environments",
    sa.column("flag_id", sa.Uuid()),
    sa.column("environment_id", sa.Uuid()),
    sa.column("rules", JSON),
)
_overrides = sa.table(
    "feature_flag_overrides",
    sa.column("flag_id", sa.Uuid()),
    sa.column("environment_id", sa.Uuid()),
    sa.column("unit_id", sa.String()),
    sa.column("value", JSON),
)
_prerequisites = sa.table(
    "feature_flag_prerequisites",
    sa.column("flag_id", sa.Uuid()),
    sa.column("prerequisite_flag_id", sa.Uuid()),
    sa.column("required_value", JSON),
)
_environments = sa.table("environments", sa.column("id", sa.Uuid()), sa.column("key", sa.String()))


def _enum(values: Sequence[str]) -> sa.Enum:
    return sa.Enum(*values, name="flag_value_type", create_constraint=True)


def _places_without_objects(bind: sa.Connection) -> list[str]:
    """Where a json flag holds a value that is not a JSON object, in words."""
    json_flags = {
        flag_id: (key, default, variants)
        for flag_id, key, value_type, default, variants in bind.execute(
            sa.select(
                _flags.c.id,
                _flags.c.key,
                _flags.c.value_type,
                _flags.c.default_value,
                _flags.c.variants,
            ).order_by(_flags.c.key)
        )
        if value_type == "json"
    }
    if not json_flags:
        return []
    keys = {flag_id: key for flag_id, (key, _, _) in json_flags.items()}
    environments = dict(bind.execute(sa.select(_environments.c.id, _environments.c.key)).all())
    places: list[str] = []
    for key, default, variants in json_flags.values():
        if not isinstance(default, dict):
            places.append(f"flag {key!r}: default_value")
        for index, variant in enumerate(variants or []):
            if isinstance(variant, dict) and not isinstance(variant.get("value"), dict):
                places.append(f"flag {key!r}: variants[{index}] ({variant.get('key')!r})")
    for flag_id, environment_id, rules in bind.execute(
        sa.select(_states.c.flag_id, _states.c.environment_id, _states.c.rules)
    ):
        if flag_id not in keys:
            continue
        for index, rule in enumerate(rules or []):
            if _serves_a_non_object(rule):
                where = f"in environment {environments.get(environment_id)!r}"
                places.append(f"flag {keys[flag_id]!r} {where}: rules[{index}].value")
    for flag_id, environment_id, unit_id, value in bind.execute(
        sa.select(
            _overrides.c.flag_id,
            _overrides.c.environment_id,
            _overrides.c.unit_id,
            _overrides.c.value,
        )
    ):
        if flag_id in keys and not isinstance(value, dict):
            where = f"in environment {environments.get(environment_id)!r}"
            places.append(f"flag {keys[flag_id]!r} {where}: the override for unit {unit_id!r}")
    all_keys = dict(bind.execute(sa.select(_flags.c.id, _flags.c.key)).all())
    for flag_id, parent_id, value in bind.execute(
        sa.select(
            _prerequisites.c.flag_id,
            _prerequisites.c.prerequisite_flag_id,
            _prerequisites.c.required_value,
        )
    ):
        if parent_id in keys and not isinstance(value, dict):
            places.append(
                f"flag {all_keys.get(flag_id)!r}: the value its prerequisite "
                f"{keys[parent_id]!r} must resolve to"
            )
    return places


def _serves_a_non_object(rule: Any) -> bool:
    # As the engine reads a rule: a variant wins, else the rule's own value is served.
    if not isinstance(rule, dict) or rule.get("type") not in ("force", "rollout"):
        return False
    if rule.get("variant") is not None:
        return False
    return "value" in rule and not isinstance(rule["value"], dict)


def _refuse_non_object_json_values() -> None:
    places = _places_without_objects(op.get_bind())
    if not places:
        return
    listed = "; ".join(places[:LISTED])
    more = f"; and {len(places) - LISTED} more" if len(places) > LISTED else ""
    raise RuntimeError(
        "json flags hold JSON objects from this version on (OpenFeature reads them as "
        f"structures), and {len(places)} stored values are not objects: {listed}{more}. "
        "With the version you run now, change each to an object (an array or a string "
        'can be wrapped, {"items": [...]}) or change the flag to another type, then upgrade'
    )


def upgrade() -> None:
    _refuse_non_object_json_values()
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # Allowed inside a transaction since PostgreSQL 12, as long as the new value is
        # not used before the transaction commits (it is not, here).
        op.execute("ALTER TYPE flag_value_type ADD VALUE IF NOT EXISTS 'integer' BEFORE 'number'")
        return
    # SQLite's stand-in for the enumeration is a CHECK on the column: rebuild it.
    with op.batch_alter_table("feature_flags") as batch_op:
        batch_op.alter_column(
            "value_type",
            existing_type=_enum(OLD_TYPES),
            type_=_enum(NEW_TYPES),
            existing_nullable=False,
            existing_server_default="boolean",
        )


def downgrade() -> None:
    # Literals, not parameters: PostgreSQL compares its enumeration with text literals.
    op.execute("UPDATE feature_flags SET value_type = 'number' WHERE value_type = 'integer'")
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # PostgreSQL cannot drop a value from an enumeration: make the old type again.
        op.execute("ALTER TYPE flag_value_type RENAME TO flag_value_type_0007")
        op.execute("CREATE TYPE flag_value_type AS ENUM ('boolean', 'string', 'number', 'json')")
        op.execute("ALTER TABLE feature_flags ALTER COLUMN value_type DROP DEFAULT")
        op.execute(
            "ALTER TABLE feature_flags ALTER COLUMN value_type TYPE flag_value_type "
            "USING value_type::text::flag_value_type"
        )
        op.execute("ALTER TABLE feature_flags ALTER COLUMN value_type SET DEFAULT 'boolean'")
        op.execute("DROP TYPE flag_value_type_0007")
        return
    with op.batch_alter_table("feature_flags") as batch_op:
        batch_op.alter_column(
            "value_type",
            existing_type=_enum(NEW_TYPES),
            type_=_enum(OLD_TYPES),
            existing_nullable=False,
            existing_server_default="boolean",
        )
