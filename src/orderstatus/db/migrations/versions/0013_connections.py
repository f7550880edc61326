"""Shop platform connections: their deliveries, and orders, items and shipments
matched by the platform's ids

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("secret", sa.String(length=255), nullable=False),
        sa.Column("shop_url", sa.String(length=2000), nullable=True),
        sa.Column("credentials", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_connections_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connections")),
        sa.UniqueConstraint("shop_id", "platform", name=op.f("uq_connections_shop_id_platform")),
    )
    op.create_table(
        "connection_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.String(length=255), nullable=True),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=255), nullable=True),
        sa.Column("platform_order_id", sa.String(length=64), nullable=True),
        sa.Column("pending", sa.JSON(), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_connection_deliveries_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_connection_deliveries_order_id_orders"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_connection_deliveries_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connection_deliveries")),
        sa.UniqueConstraint(
            "connection_id",
            "delivery_id",
            name=op.f("uq_connection_deliveries_connection_id_delivery_id"),
        ),
    )
    op.create_index(
        "ix_connection_deliveries_connection_id_id",
        "connection_deliveries",
        ["connection_id", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_connection_deliveries_shop_id"), "connection_deliveries", ["shop_id"], unique=False
    )
    op.create_table(
        "connection_writebacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_connection_writebacks_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_connection_writebacks_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_connection_writebacks_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connection_writebacks")),
        sa.UniqueConstraint(
            "connection_id",
            "order_id",
            name=op.f("uq_connection_writebacks_connection_id_order_id"),
        ),
    )
    op.create_index(
        "ix_connection_writebacks_state_next_try_at",
        "connection_writebacks",
        ["state", "next_try_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_connection_writebacks_shop_id"), "connection_writebacks", ["shop_id"], unique=False
    )
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("platform", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("platform_order_id", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("platform_updated_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_unique_constraint(
            op.f("uq_orders_shop_id_platform_platform_order_id"),
            ["shop_id", "platform", "platform_order_id"],
        )
    with op.batch_alter_table("line_items") as batch:
        batch.add_column(sa.Column("platform_id", sa.String(length=64), nullable=True))
    with op.batch_alter_table("fulfillments") as batch:
        batch.add_column(sa.Column("platform_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fulfillments") as batch:
        batch.drop_column("platform_id")
    with op.batch_alter_table("line_items") as batch:
        batch.drop_column("platform_id")
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint(op.f("uq_orders_shop_id_platform_platform_order_id"), type_="unique")
        batch.drop_column("cancelled_at")
        batch.drop_column("platform_updated_at")
        batch.drop_column("platform_order_id")
        batch.drop_column("platform")
    op.drop_index(op.f("ix_connection_writebacks_shop_id"), table_name="connection_writebacks")
    op.drop_index("ix_connection_writebacks_state_next_try_at", table_name="connection_writebacks")
    op.drop_table("connection_writebacks")
    op.drop_index(op.f("ix_connection_deliveries_shop_id"), table_name="connection_deliveries")
    op.drop_index("ix_connection_deliveries_connection_id_id", table_name="connection_deliveries")
    op.drop_table("connection_deliveries")
    op.drop_table("connections")
