"""Shipment models (filled in by the postal work)."""
