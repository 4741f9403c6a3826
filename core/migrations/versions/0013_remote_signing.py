"""remote signing credentials (CSC, VNPT SmartCA) and long-term validation data

A collecting unit may sign through a remote signing service: its signing kind may now be 'remote'.
What it needs (service URL, client id and secret, credential id, PIN; or SmartCA's sp_id, sp_password,
user_id) is one encrypted credential, 'signing_remote' (province/secrets.py). Long-term validation data
lives in the receipt PDFs themselves (PAdES B-LT/B-LTA): nothing to store for it.

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op

import core.db  # noqa: F401

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

OLD = "signing_kind IS NULL OR signing_kind IN ('pkcs12', 'pkcs11')"
NEW = "signing_kind IS NULL OR signing_kind IN ('pkcs12', 'pkcs11', 'remote')"
NAME = 'ck_collecting_unit_signing_kind_known'


def _replace_check(condition: str) -> None:
    with op.batch_alter_table('collecting_unit', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(NAME), type_='check')
        batch_op.create_check_constraint(op.f(NAME), condition)


def upgrade() -> None:
    _replace_check(NEW)


def downgrade() -> None:
    # A unit left on remote signing has no local key to fall back on: it is left without one.
    op.execute("UPDATE collecting_unit SET signing_kind = NULL WHERE signing_kind = 'remote'")
    op.execute("DELETE FROM credential WHERE owner_type = 'unit' AND name = 'signing_remote'")
    _replace_check(OLD)
