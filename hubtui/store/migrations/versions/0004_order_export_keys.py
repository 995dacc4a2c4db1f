"""each order carries its own random export key; an export whose fate is unknown says so

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A key derived from the order number repeats across hub databases (each numbers from ORD-YYYY-001), and
    # e-conomic would replay another database's draft to it: every order gets a random key of its own.
    op.execute("update billing_order set idempotency_key = 'hubtui-' || gen_random_uuid() "
               "where idempotency_key is null or status <> 'exported'")
    op.alter_column("billing_order", "idempotency_key", nullable=False)
    op.create_unique_constraint("uq_billing_order_idempotency_key", "billing_order", ["idempotency_key"])
    # When the current key was first POSTed: e-conomic replays it for one hour from then.
    op.add_column("billing_order", sa.Column("key_first_sent_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("update billing_order set key_first_sent_at = export_started_at where status <> 'exported'")
    # Why the export's outcome is unknown (status 'unknown'): what the person has to check in e-conomic.
    op.add_column("billing_order", sa.Column("export_problem", sa.String(), nullable=True))


def downgrade() -> None:
    op.drop_column("billing_order", "export_problem")
    op.drop_column("billing_order", "key_first_sent_at")
    op.drop_constraint("uq_billing_order_idempotency_key", "billing_order", type_="unique")
    op.alter_column("billing_order", "idempotency_key", nullable=True)
