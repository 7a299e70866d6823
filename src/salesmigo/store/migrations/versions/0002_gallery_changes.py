"""The gallery change log and the database's identity.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    changes = op.create_table(
        "gallery_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("op IN ('add', 'remove')", name=op.f("ck_gallery_changes_op_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gallery_changes")),
    )
    identity = op.create_table(
        "store_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("database_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_identity")),
    )
    op.bulk_insert(identity, [{"id": 1, "database_id": uuid.uuid4().hex}])
    # Templates that exist already enter the log as added, so the log alone can rebuild
    # the gallery's state from revision 0.
    op.execute(
        sa.insert(changes).from_select(
            ["op", "template_id", "customer_id", "model", "created_at"],
            sa.select(
                sa.literal("add"),
                sa.column("id"),
                sa.column("customer_id"),
                sa.column("model"),
                sa.column("created_at"),
            )
            .select_from(sa.table("face_templates"))
            .order_by(sa.column("id")),
        )
    )


def downgrade() -> None:
    op.drop_table("store_identity")
    op.drop_table("gallery_changes")
