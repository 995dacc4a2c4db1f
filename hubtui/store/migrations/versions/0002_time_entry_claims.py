"""time entry claims for the approval wizard

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("time_entry", sa.Column("claimed_by", sa.String(), nullable=True))
    op.add_column("time_entry", sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
    # The wizard's queue: pending entries in customer and date order.
    op.create_index("ix_time_entry_queue", "time_entry", ["customer_id", "work_date", "id"],
                    postgresql_where=sa.text("status = 'pending'"))


def downgrade() -> None:
    op.drop_index("ix_time_entry_queue", table_name="time_entry")
    op.drop_column("time_entry", "claimed_until")
    op.drop_column("time_entry", "claimed_by")
