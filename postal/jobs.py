"""Postal background work (filled in by the postal work)."""
