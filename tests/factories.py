"""Factories with keyword defaults, so a test names only what matters to its scenario."""

from __future__ import annotations

import itertools

from core.accounts import create_api_client, create_user, ensure_demo_centre

_seq = itertools.count(1)


def make_user(session, *, roles=("dispatcher",), password="mật-khẩu-đủ-dài", username=None, centre=None):
    centre = centre or ensure_demo_centre(session)
    user = create_user(session, centre, username or f"user{next(_seq)}", password, list(roles),
                       full_name="Nguyễn Văn An")
    session.commit()
    return user


def make_api_key(session, *, roles=("cashier", "dispatcher"), name="Hệ thống một cửa", centre=None) -> str:
    centre = centre or ensure_demo_centre(session)
    _client, key = create_api_client(session, centre, name, list(roles))
    session.commit()
    return key


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
