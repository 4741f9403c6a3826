"""Finance: statement imports, automatic matching, discrepancies, day close, reports.

It sits above `fees` (and reads receipts and shipments for its reports), so it is a package of its own
rather than part of `fees`, which must not import what is built on it.
"""
