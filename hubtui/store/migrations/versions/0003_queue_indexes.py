"""indexes for the wizard's claims and progress

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Releasing a session's claim and counting what was decided since it started must not scan the history.
    op.create_index("ix_time_entry_claimed_by", "time_entry", ["claimed_by"],
                    postgresql_where=sa.text("claimed_by IS NOT NULL"))
    op.create_index("ix_time_entry_decided_at", "time_entry", ["decided_at"],
                    postgresql_where=sa.text("decided_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_time_entry_decided_at", table_name="time_entry")
    op.drop_index("ix_time_entry_claimed_by", table_name="time_entry")
