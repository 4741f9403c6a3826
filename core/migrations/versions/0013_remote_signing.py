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


def _replace_check(old: str, new: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint(op.f(NAME), 'collecting_unit', type_='check')
        op.create_check_constraint(op.f(NAME), 'collecting_unit', new)
        return
    # SQLite cannot alter a CHECK constraint, and a table copy (batch mode) fails here: collecting_unit is
    # referenced by many tables, and dropping the old copy under foreign keys breaks them. The constraint
    # changes no stored data, so its text is rewritten in the schema (SQLite's documented procedure for
    # such changes, https://sqlite.org/lang_altertable.html#otheralter), the schema version bumped.
    version = bind.exec_driver_sql('PRAGMA schema_version').scalar()
    bind.exec_driver_sql('PRAGMA writable_schema = ON')
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE type = 'table' AND name = ?",
                         (f'CHECK ({old})', f'CHECK ({new})', 'collecting_unit'))
    bind.exec_driver_sql(f'PRAGMA schema_version = {int(version) + 1}')
    bind.exec_driver_sql('PRAGMA writable_schema = OFF')
    if bind.exec_driver_sql('PRAGMA integrity_check').scalar() != 'ok':
        raise RuntimeError('SQLite schema rewrite of collecting_unit failed its integrity check')


def upgrade() -> None:
    _replace_check(OLD, NEW)


def downgrade() -> None:
    # A unit left on remote signing has no local key to fall back on: it is left without one.
    op.execute("UPDATE collecting_unit SET signing_kind = NULL WHERE signing_kind = 'remote'")
    op.execute("DELETE FROM credential WHERE owner_type = 'unit' AND name = 'signing_remote'")
    _replace_check(NEW, OLD)
