"""Province tests run on a plain session of a migrated database: no Flask app."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.db import Database

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "province-example.yaml"


@pytest.fixture
def plain_db(database_url):
    db = Database(database_url)
    yield db
    db.dispose()


@pytest.fixture
def session(plain_db):
    s = plain_db.sessionmaker()
    yield s
    s.rollback()
    s.close()


@pytest.fixture
def example() -> dict:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def make_centre(session, code="TTPVHCC", **kw):
    from core.models import Centre

    values = dict(code=code, name=f"Trung tâm {code}", tax_code="", address="phường Kinh Bắc, tỉnh Bắc Ninh",
                  receipt_template="", receipt_symbol="", receipt_number_width=7)
    values.update(kw)
    centre = Centre(**values)
    session.add(centre)
    session.flush()
    return centre


def make_unit(session, code="STP", tax_code="2300245389", centres=(), **kw):
    from province.models import CentreUnit, CollectingUnit

    unit = CollectingUnit(code=code, name=kw.pop("name", f"Đơn vị {code}"), tax_code=tax_code,
                          address=kw.pop("address", "phường Kinh Bắc, tỉnh Bắc Ninh"), gateway={}, active=True, **kw)
    session.add(unit)
    session.flush()
    for centre in centres:
        session.add(CentreUnit(centre_id=centre.id, unit_id=unit.id))
    session.flush()
    return unit
