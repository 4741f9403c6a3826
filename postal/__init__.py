"""Shipments, dispatch batches and handover lists, tracking, COD, pickups and deadlines."""
