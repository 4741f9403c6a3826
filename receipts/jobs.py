"""Receipt background work (filled in by the receipts work)."""
