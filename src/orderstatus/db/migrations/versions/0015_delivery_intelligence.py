"""Delivery intelligence: stalled shipments found by index, opt-in notification kinds,
transit times per lane, page counts and daily figures for Insights

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "page_counts",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_page_counts_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_page_counts_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("order_id", "day", "kind", name=op.f("pk_page_counts")),
    )
    op.create_index("ix_page_counts_shop_id_day", "page_counts", ["shop_id", "day"], unique=False)
    op.create_table(
        "daily_stats",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(length=24), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_daily_stats_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("shop_id", "day", "metric", "key", name=op.f("pk_daily_stats")),
    )
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
    op.drop_table("daily_stats")
    op.drop_index("ix_page_counts_shop_id_day", table_name="page_counts")
    op.drop_table("page_counts")
    op.drop_table("lane_transit")
    op.drop_index("ix_orders_shop_id_delivery_status", table_name="orders")
    op.drop_index("ix_fulfillments_status_last_event_at", table_name="fulfillments")
    with op.batch_alter_table("shops") as batch:
        batch.drop_column("notification_kinds_on")
