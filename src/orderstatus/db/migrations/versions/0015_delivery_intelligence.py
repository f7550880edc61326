"""Delivery intelligence: stalled shipments found by index, opt-in notification kinds,
transit times per lane

Revision ID: 0015
Revises: 0010
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lane_transit",
        sa.Column("carrier_code", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.String(length=2), nullable=False),
        sa.Column("destination", sa.String(length=2), nullable=False),
        sa.Column("area", sa.String(length=8), nullable=False),
        sa.Column("low", sa.Float(), nullable=False),
        sa.Column("high", sa.Float(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "carrier_code", "origin", "destination", "area", name=op.f("pk_lane_transit")
        ),
    )
    with op.batch_alter_table("shops") as batch:
        batch.add_column(
            sa.Column("notification_kinds_on", sa.JSON(), server_default="[]", nullable=False)
        )
    op.create_index(
        "ix_fulfillments_status_last_event_at",
        "fulfillments",
        ["status", "last_event_at"],
        unique=False,
    )
    op.create_index(
        "ix_orders_shop_id_delivery_status",
        "orders",
        ["shop_id", "delivery_status"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("lane_transit")
    op.drop_index("ix_orders_shop_id_delivery_status", table_name="orders")
    op.drop_index("ix_fulfillments_status_last_event_at", table_name="fulfillments")
    with op.batch_alter_table("shops") as batch:
        batch.drop_column("notification_kinds_on")
