"""Admin tests: a province brought up from docs/province-example.yaml, and admins of one centre or the province."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "province-example.yaml"


@pytest.fixture
def example_data() -> dict:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


@pytest.fixture
def province(session, example_data):
    """The example province imported: its centre and unit codes, for tests to name."""
    from province.importer import import_province

    import_province(session, example_data)
    session.commit()
    return {"centres": [c["code"] for c in example_data["centres"]], "units": [u["code"] for u in example_data["units"]],
            "units_of": {c["code"]: c.get("units", []) for c in example_data["centres"]}}


def make_admin(session, centre_code: str | None = None, *, province_wide: bool = False, roles=("admin",),
               username: str | None = None):
    """A staff user of one centre (or the whole province); returns the username."""
    from sqlalchemy import select

    from core.models import Centre
    from province.access import grant_centre
    from tests.factories import make_user

    centre = session.scalar(select(Centre).where(Centre.code == centre_code)) if centre_code else None
    user = make_user(session, roles=roles, centre=centre, username=username)
    if province_wide:
        grant_centre(session, "user", user.id, None)
        session.commit()
    return user.username


def admin_key(session, centre_code: str, *, province_wide: bool = False) -> str:
    from sqlalchemy import select

    from core.accounts import create_api_client
    from core.models import Centre
    from province.access import grant_centre

    centre = session.scalar(select(Centre).where(Centre.code == centre_code))
    client, key = create_api_client(session, centre, f"Khoá quản trị {centre_code}", ["admin"])
    if province_wide:
        grant_centre(session, "api_client", client.id, None)
    session.commit()
    return key
