"""A visit's id as its camera agent named it, so a departure completes its arrival;
and whether identification ran for it (not during a server outage).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode: SQLite cannot add a unique constraint to an existing table in place.
    with op.batch_alter_table("visits") as visits:
        visits.add_column(sa.Column("agent_visit_id", sa.String(length=36), nullable=True))
        visits.create_unique_constraint(op.f("uq_visits_agent_visit_id"), ["agent_visit_id"])
        # Every visit stored so far was identified (or counted by a camera that could).
        visits.add_column(
            sa.Column("identified", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("visits") as visits:
        visits.drop_column("identified")
        visits.drop_constraint(op.f("uq_visits_agent_visit_id"), type_="unique")
        visits.drop_column("agent_visit_id")
