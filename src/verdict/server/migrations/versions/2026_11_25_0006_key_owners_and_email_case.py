"""Identity hardening: API keys owned by the person who made them; e-mail case.

``api_keys`` gains ``personal``: true for a key made by a person (with their login or
with one of their own keys). A personal key acts with its owner's permissions
(``created_by_id``) and stops working when the owner is deactivated or deleted; since
``created_by_id`` is set to NULL when the owner's row goes, ``personal`` is what still
tells a dead personal key from a key made from the command line. Existing keys with a
creator are marked personal.

E-mail addresses become case-insensitive: the API stores them lower-cased, so the
existing unique constraint on ``email`` ignores case (an index on ``lower(email)`` was
not used: SQLite cannot reflect it, so schema checks could not see it). Existing
addresses are lower-cased here; if two accounts differ only by case the upgrade stops
and names them, since choosing which account keeps the address is for a person.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_users = sa.table("users", sa.column("id", sa.Uuid()), sa.column("username"), sa.column("email"))
_api_keys = sa.table(
    "api_keys", sa.column("created_by_id", sa.Uuid()), sa.column("personal", sa.Boolean())
)


def _lower_case_emails() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_users.c.id, _users.c.username, _users.c.email)).all()
    by_address: dict[str, list[str]] = {}
    for _, username, email in rows:
        by_address.setdefault(email.lower(), []).append(username)
    clashes = {address: names for address, names in by_address.items() if len(names) > 1}
    if clashes:
        listed = "; ".join(
            f"{address}: {', '.join(sorted(names))}" for address, names in sorted(clashes.items())
        )
        raise RuntimeError(
            "e-mail addresses become case-insensitive, and these accounts share one "
            f"address up to case ({listed}); give all but one another address, then upgrade"
        )
    for user_id, _, email in rows:
        if email != email.lower():
            bind.execute(
                sa.update(_users).where(_users.c.id == user_id).values(email=email.lower())
            )


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.add_column(sa.Column("personal", sa.Boolean(), server_default="0", nullable=False))
    op.execute(
        sa.update(_api_keys).where(_api_keys.c.created_by_id.is_not(None)).values(personal=True)
    )
    _lower_case_emails()


def downgrade() -> None:
    # Addresses stay lower-cased: the original case is not kept, and is not needed.
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.drop_column("personal")
