"""Dossiers (hồ sơ) synced from the province's one-stop system, linked to payments, receipts and shipments."""
