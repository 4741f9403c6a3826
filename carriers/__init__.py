"""Carrier adapters (one package per carrier) behind one interface, and their sandboxes."""
