"""office contacts: office_user_id becomes a real link to the office user the contact is

Revision ID: 0015_rota
Revises: 0014_rota
Create Date: 2026-11-29 23:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0015_rota"
down_revision = "0014_rota"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The column exists since 0004 (nullable, nothing set it); links to users that are gone are
    # cleared before the constraint is added.
    op.execute("UPDATE office_contacts SET office_user_id = NULL WHERE office_user_id IS NOT "
               "NULL AND office_user_id NOT IN (SELECT id FROM office_users)")
    with op.batch_alter_table("office_contacts") as batch:
        batch.create_foreign_key(op.f("fk_office_contacts_office_user_id_office_users"),
                                 "office_users", ["office_user_id"], ["id"],
                                 ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("office_contacts") as batch:
        batch.drop_constraint(op.f("fk_office_contacts_office_user_id_office_users"),
                              type_="foreignkey")
