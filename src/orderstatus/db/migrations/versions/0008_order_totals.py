"""Order totals: discounts, and whether prices include tax (per order, and a shop default)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch: on SQLite a batch would copy the shops table and drop
    # the old one, and with foreign keys on that drop cascades to every order.
    op.add_column(
        "shops",
        sa.Column("taxes_included", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        "orders", sa.Column("discount_total", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.add_column(
        "orders",
        sa.Column("taxes_included", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    # An existing order's tax was included in its prices when its total leaves it out.
    orders = sa.table(
        "orders",
        sa.column("subtotal", sa.BigInteger()),
        sa.column("shipping_total", sa.BigInteger()),
        sa.column("tax_total", sa.BigInteger()),
        sa.column("total", sa.BigInteger()),
        sa.column("taxes_included", sa.Boolean()),
    )
    op.execute(
        orders.update()
        .where(
            orders.c.tax_total > 0,
            orders.c.total == orders.c.subtotal + orders.c.shipping_total,
        )
        .values(taxes_included=sa.true())
    )


def downgrade() -> None:
    op.drop_column("orders", "taxes_included")
    op.drop_column("orders", "discount_total")
    op.drop_column("shops", "taxes_included")
