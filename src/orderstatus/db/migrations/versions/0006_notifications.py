"""Notification settings per shop, merchant templates, and the outbox's claim token

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        batch.add_column(
            sa.Column("notification_kinds_off", sa.JSON(), server_default="[]", nullable=False)
        )
        batch.add_column(
            sa.Column(
                "sms_confirmation_with_email",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
            )
        )
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
    op.create_table(
        "notification_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("locale", sa.String(length=35), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("sms", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_notification_templates_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_templates")),
        sa.UniqueConstraint(
            "shop_id",
            "kind",
            "locale",
            name=op.f("uq_notification_templates_shop_id_kind_locale"),
        ),
    )


def downgrade() -> None:
    op.drop_table("notification_templates")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("claim_token")
    with op.batch_alter_table("shops") as batch:
        batch.drop_column("sms_confirmation_with_email")
        batch.drop_column("notification_kinds_off")
