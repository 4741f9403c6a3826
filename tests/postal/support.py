"""Shared bits of the postal tests: a request body with keyword defaults, and sandbox controls."""

from __future__ import annotations

import requests


def shipment_body(**overrides) -> dict:
    body = {
        "dossier_code": "000.00.01.H26-251124-0001",
        "direction": "outbound",
        "carrier": "ghn",
        "recipient": {"name": "Trần Thị Bình", "phone": "0912345678",
                      "address": {"street": "Số 12 ngõ 34 Nguyễn Trãi", "ward": "Thanh Xuân", "province": "Hà Nội"}},
        "weight_grams": 300,
        "cod_amount": 0,
    }
    body.update(overrides)
    return body


def advance(live_server: str, carrier: str, hours: float) -> dict:
    """Move the sandbox carrier's time forward; webhook carriers deliver what it reached."""
    with requests.Session() as http:
        return http.post(f"{live_server}/sandbox/{carrier}/_advance", json={"hours": hours}, timeout=30).json()


def set_faults(live_server: str, carrier: str, **faults) -> dict:
    with requests.Session() as http:
        return http.post(f"{live_server}/sandbox/{carrier}/_faults", json=faults, timeout=30).json()


def parcels_at_carrier(live_server: str, carrier: str, order_number: str) -> int:
    with requests.Session() as http:
        return http.get(f"{live_server}/sandbox/{carrier}/_parcels", params={"order_number": order_number},
                        timeout=30).json()["count"]
