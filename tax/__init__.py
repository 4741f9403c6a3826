"""Compliance with the tax authority: e-receipt registration (01/ĐKTĐ-CTĐT), transmission of receipt data
in `TDiep` messages through an intermediary (T-VAN), error notices (04/SS-CTĐT) and the usage report (BC26/BLĐT)."""
