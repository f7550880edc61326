"""Carrier accounts per shop and polling state on fulfilments

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-26 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "carrier_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("carrier", sa.String(length=32), nullable=False),
        sa.Column("credentials", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_carrier_accounts_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_carrier_accounts")),
        sa.UniqueConstraint("shop_id", "carrier", name=op.f("uq_carrier_accounts_shop_id_carrier")),
    )
    with op.batch_alter_table("fulfillments") as batch:
        batch.add_column(sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("poll_failures", sa.Integer(), server_default="0", nullable=False)
        )
        batch.create_index(batch.f("ix_fulfillments_next_poll_at"), ["next_poll_at"])


def downgrade() -> None:
    with op.batch_alter_table("fulfillments") as batch:
        batch.drop_index(batch.f("ix_fulfillments_next_poll_at"))
        batch.drop_column("poll_failures")
        batch.drop_column("last_polled_at")
        batch.drop_column("next_poll_at")
    op.drop_table("carrier_accounts")
