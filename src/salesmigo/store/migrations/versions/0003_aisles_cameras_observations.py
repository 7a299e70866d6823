"""Aisles, cameras, and the expression and gesture observations they produce.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOW = sa.DateTime(timezone=True)


def _who_where_when(table: str) -> list[sa.schema.SchemaItem]:
    """The columns and keys both observation tables share: who, where and when."""
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("aisle_id", sa.Integer(), nullable=True),
        sa.Column("camera_id", sa.Integer(), nullable=True),
        sa.Column("observed_at", _NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f(f"fk_{table}_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visits.id"],
            name=op.f(f"fk_{table}_visit_id_visits"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["aisle_id"],
            ["aisles.id"],
            name=op.f(f"fk_{table}_aisle_id_aisles"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["camera_id"],
            ["cameras.id"],
            name=op.f(f"fk_{table}_camera_id_cameras"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def _observation_indexes(table: str) -> None:
    op.create_index(op.f(f"ix_{table}_visit_id"), table, ["visit_id"], unique=False)
    op.create_index(f"ix_{table}_aisle_id_observed_at", table, ["aisle_id", "observed_at"])
    op.create_index(f"ix_{table}_customer_id_observed_at", table, ["customer_id", "observed_at"])


def upgrade() -> None:
    op.create_table(
        "aisles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=200), nullable=True),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("created_at", _NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aisles")),
        sa.UniqueConstraint("name", name=op.f("uq_aisles_name")),
    )
    op.create_table(
        "cameras",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("aisle_id", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _NOW, nullable=False),
        sa.CheckConstraint(
            "role IN ('entrance', 'aisle', 'fitting_room')", name=op.f("ck_cameras_role_known")
        ),
        sa.ForeignKeyConstraint(
            ["aisle_id"],
            ["aisles.id"],
            name=op.f("fk_cameras_aisle_id_aisles"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cameras")),
        sa.UniqueConstraint("name", name=op.f("uq_cameras_name")),
    )
    op.create_index(op.f("ix_cameras_aisle_id"), "cameras", ["aisle_id"], unique=False)
    op.create_table(
        "expression_observations",
        sa.Column("label", sa.String(length=16), nullable=False),
        sa.Column("probabilities", sa.JSON(), nullable=False),
        *_who_where_when("expression_observations"),
    )
    _observation_indexes("expression_observations")
    op.create_table(
        "gesture_observations",
        sa.Column("gesture", sa.String(length=16), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        *_who_where_when("gesture_observations"),
    )
    _observation_indexes("gesture_observations")


def downgrade() -> None:
    op.drop_table("gesture_observations")
    op.drop_table("expression_observations")
    op.drop_table("cameras")
    op.drop_table("aisles")
