"""office users: a password set by an administrator is temporary until the user changes it

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 19:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing users keep the password they have: nobody is forced to change it by the upgrade.
    with op.batch_alter_table("office_users") as batch:
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("office_users") as batch:
        batch.drop_column("must_change_password")
