"""Dossier fixtures (the app over real HTTP is tests/conftest.py's live_server): the one-stop
system's webhook receiver (a real HTTP endpoint on port 0), and request bodies with keyword defaults."""

from __future__ import annotations


def dossier_body(**overrides) -> dict:
    """A dossier as the one-stop system pushes it: received this morning, result by post, due in a week."""
    body = {
        "procedure_code": "1.001612",
        "procedure_name": "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam",
        "received_at": "2026-11-30T08:15:00+07:00",
        "appointment_date": "2026-12-09",
        "submission": "in_person",
        "delivery": "post",
        "status": "processing",
        "citizen": {"name": "Trần Thị Bình", "phone": "0912345678", "email": "binh@example.vn",
                    "address": {"street": "Số 12 ngõ 34 Nguyễn Trãi", "ward": "Thanh Xuân", "province": "Hà Nội"}},
    }
    citizen = overrides.pop("citizen", None)
    body.update(overrides)
    if citizen is not None:
        body["citizen"] = {**body["citizen"], **citizen}
    return body
