"""Factories with keyword defaults, so a test names only what matters to its scenario."""

from __future__ import annotations

import itertools

from core.accounts import create_api_client, create_user, ensure_demo_centre

_seq = itertools.count(1)


def make_user(session, *, roles=("dispatcher",), password="mật-khẩu-đủ-dài", username=None, centre=None,
              also=(), province_wide=False):
    """A staff user of `centre` (the demo centre), also seeing the centres `also`, or the whole province."""
    centre = centre or ensure_demo_centre(session)
    user = create_user(session, centre, username or f"user{next(_seq)}", password, list(roles),
                       full_name="Nguyễn Văn An")
    _grant(session, "user", user.id, also, province_wide)
    session.commit()
    return user


def make_api_key(session, *, roles=("cashier", "dispatcher"), name="Hệ thống một cửa", centre=None,
                 also=(), province_wide=False) -> str:
    """An API key of `centre` (the demo centre), also seeing the centres `also`, or the whole province
    (as `hcc api-keys create --centre A --centre B` / `--province` make them)."""
    centre = centre or ensure_demo_centre(session)
    client, key = create_api_client(session, centre, name, list(roles))
    _grant(session, "api_client", client.id, also, province_wide)
    session.commit()
    return key


def _grant(session, kind: str, principal_id: int, also, province_wide: bool) -> None:
    from province.access import grant_centre

    for other in also:
        grant_centre(session, kind, principal_id, other.id)
    if province_wide:
        grant_centre(session, kind, principal_id, None)


def make_centre(session, code: str, *, name=None, units=()):
    """Another centre of the province, serving `units` (collecting units, none by default)."""
    from core.models import Centre
    from province.models import CentreUnit

    n = next(_seq)
    centre = Centre(code=code, name=name or f"Trung tâm {code}", tax_code=f"2300000000-{n:03d}",
                    address="Số 10 Lý Thái Tổ, phường Kinh Bắc, tỉnh Bắc Ninh", province_code="27",
                    # Series belong to collecting units (Circular 32 shape EBL01 / `<yy>T`, province.series); these
                    # single-centre-era columns are read only by migration 0007, and left empty as the importer does.
                    receipt_template="", receipt_symbol="", receipt_number_width=7)
    session.add(centre)
    session.flush()
    for unit in units:
        session.add(CentreUnit(centre_id=centre.id, unit_id=unit.id))
    session.commit()
    return centre


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def sign_in(client, username: str, password: str = "mật-khẩu-đủ-dài"):
    """Sign a staff user in through the real form (fetching its CSRF token first)."""
    import re

    page = client.get("/staff/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    return client.post("/staff/login", data={"username": username, "password": password, "csrf_token": token})


def csrf_token(client, path: str = "/staff/") -> str:
    import re

    page = client.get(path)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
