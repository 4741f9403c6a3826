"""E-receipt models (filled in by the receipts work)."""
