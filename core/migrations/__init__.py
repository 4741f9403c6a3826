"""Alembic migrations; run them with `hcc db upgrade` (the embedded start applies them itself)."""
