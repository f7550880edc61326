"""Apple Wallet orders: device registrations and the outbox of pushes

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 15:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _foreign_keys(table: str) -> list[sa.ForeignKeyConstraint]:
    return [
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f(f"fk_{table}_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f(f"fk_{table}_order_id_orders"),
            ondelete="CASCADE",
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "wallet_registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=255), nullable=False),
        sa.Column("push_token", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *_foreign_keys("wallet_registrations"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_registrations")),
        sa.UniqueConstraint(
            "device_id", "order_id", name=op.f("uq_wallet_registrations_device_id_order_id")
        ),
    )
    op.create_index(
        "ix_wallet_registrations_order_id", "wallet_registrations", ["order_id"], unique=False
    )
    op.create_index(
        op.f("ix_wallet_registrations_shop_id"), "wallet_registrations", ["shop_id"], unique=False
    )
    op.create_table(
        "wallet_pushes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("push_token", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        *_foreign_keys("wallet_pushes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_pushes")),
    )
    op.create_index(
        "ix_wallet_pushes_state_next_attempt_at",
        "wallet_pushes",
        ["state", "next_attempt_at"],
        unique=False,
    )
    op.create_index("ix_wallet_pushes_push_token", "wallet_pushes", ["push_token"], unique=False)
    op.create_index(op.f("ix_wallet_pushes_order_id"), "wallet_pushes", ["order_id"], unique=False)
    op.create_index(op.f("ix_wallet_pushes_shop_id"), "wallet_pushes", ["shop_id"], unique=False)


def downgrade() -> None:
    op.drop_table("wallet_pushes")
    op.drop_table("wallet_registrations")
