"""Camera tokens, ingested event ids, and a visit's departure time.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("visits") as visits:
        visits.add_column(sa.Column("departed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "camera_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["camera_id"],
            ["cameras.id"],
            name=op.f("fk_camera_tokens_camera_id_cameras"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_camera_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_camera_tokens_token_sha256")),
    )
    op.create_index(op.f("ix_camera_tokens_camera_id"), "camera_tokens", ["camera_id"])
    op.create_table(
        "ingested_events",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["camera_id"],
            ["cameras.id"],
            name=op.f("fk_ingested_events_camera_id_cameras"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_ingested_events")),
    )


def downgrade() -> None:
    op.drop_table("ingested_events")
    op.drop_table("camera_tokens")
    with op.batch_alter_table("visits") as visits:
        visits.drop_column("departed_at")
