"""Payer and recipient data is stored as text: composed (NFC), without control characters, within its column.

A name typed with decomposed accents (as some keyboards and macOS send it) is stored composed, so it
matches, sorts and prints like the same name typed otherwise; control characters are removed; a value
too long for its column is refused by name (422), never cut and never a 500. Markup is kept as typed:
the PDFs escape it (tests/security/test_pdf_markup.py).
"""

from __future__ import annotations

import unicodedata

import pytest

from core import audit
from core.accounts import ensure_demo_centre
from core.errors import InvalidInput
from fees.models import Payment
from fees.payments import ItemRequest, Payer, create_payment
from fees.schedule import seed_default
from postal.models import Shipment
from postal.shipments import Recipient, create_shipment
from tests.factories import bearer, make_api_key
from tests.postal.support import shipment_body

NAME = "Nguyễn Thị Hồng Nhung"
DECOMPOSED = unicodedata.normalize("NFD", NAME)
STREET = "Số 12 ngõ 34 Nguyễn Trãi"


@pytest.fixture
def key(session, centre):
    seed_default(session, centre)
    session.commit()
    return make_api_key(session)


def payment_body(**payer) -> dict:
    return {"dossier_code": "000.00.12.H26-260101-0042", "payer": {"name": NAME, **payer},
            "items": [{"fee_code": "LLTP", "quantity": 1}]}


def test_the_inputs_really_are_decomposed():
    assert DECOMPOSED != NAME and len(DECOMPOSED) > len(NAME)


def test_a_payment_stores_the_payer_composed_and_without_control_characters(client, key, session):
    resp = client.post("/api/v1/payments", headers=bearer(key), json=payment_body(
        name=f"  {DECOMPOSED}\x00\x07 ", address=f"{unicodedata.normalize('NFD', STREET)}\x1b,\tphường Hoàn Kiếm\r\n",
        phone="0912 345 678"))
    assert resp.status_code == 201, resp.get_json()
    payment = session.get(Payment, resp.get_json()["id"])
    assert payment.payer_name == NAME
    assert payment.payer_address == f"{STREET}, phường Hoàn Kiếm"


def test_markup_in_a_payers_name_is_kept_as_typed(client, key, session):
    resp = client.post("/api/v1/payments", headers=bearer(key), json=payment_body(name="<b>Lê & Trần</b>"))
    assert resp.status_code == 201, resp.get_json()
    assert session.get(Payment, resp.get_json()["id"]).payer_name == "<b>Lê & Trần</b>"


def test_an_over_long_payer_email_is_refused_by_name_not_stored(client, key, session):
    email = "a@" + ".".join(["b" * 60] * 5) + ".vn"  # a valid address, longer than the column's 255
    resp = client.post("/api/v1/payments", headers=bearer(key), json=payment_body(email=email))
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert "payer.email" in resp.get_json()["errors"]
    assert session.query(Payment).count() == 0


def test_an_over_long_payer_name_answers_422_naming_the_field(client, key, session):
    resp = client.post("/api/v1/payments", headers=bearer(key), json=payment_body(name="Lê " * 100))
    assert resp.status_code == 422
    assert "name" in str(resp.get_json()["errors"])
    assert session.query(Payment).count() == 0


def test_a_name_of_only_control_characters_is_refused_as_blank(client, key, session):
    resp = client.post("/api/v1/payments", headers=bearer(key), json=payment_body(name="\x00\x01\x7f"))
    assert resp.status_code == 422 and "payer.name" in resp.get_json()["errors"]
    assert session.query(Payment).count() == 0


def test_every_caller_of_create_payment_gets_the_same_caps(session):
    """Not only the API's schema: the COD flow and scripts go straight to the domain function."""
    centre = ensure_demo_centre(session)
    item = ItemRequest("X", name="Lệ phí", kind="le_phi", unit_amount=1_000)
    with pytest.raises(InvalidInput) as refused:
        create_payment(session, centre, dossier_code="HS-1", payer=Payer("A" * 256, address="B" * 501), items=[item],
                       actor=audit.SYSTEM)
    assert {"payer.name", "payer.address"} <= set(refused.value.errors)


def test_a_shipment_stores_the_recipient_composed_and_without_control_characters(client, session):
    key = make_api_key(session)
    body = shipment_body(recipient={
        "name": f"{DECOMPOSED}\x00\x1f", "phone": "0912345678",
        "address": {"street": f"\x07{unicodedata.normalize('NFD', STREET)}\x7f", "ward": "Thanh Xuân",
                    "province": "Hà Nội"}})
    resp = client.post("/api/v1/shipments", json=body, headers=bearer(key))
    assert resp.status_code == 201, resp.get_json()
    shipment = session.get(Shipment, resp.get_json()["id"])
    assert shipment.recipient_name == NAME and shipment.street == STREET
    assert shipment.address == f"{STREET}, Phường Thanh Xuân, Thành phố Hà Nội"


def test_a_dossier_pickup_stores_the_citizen_composed(client, session):
    key = make_api_key(session)
    body = shipment_body(direction="inbound", carrier=None, recipient={
        "name": f"{DECOMPOSED}\x0b", "phone": "0912345678",
        "address": {"street": STREET, "ward": "Thanh Xuân", "province": "Hà Nội"}})
    resp = client.post("/api/v1/shipments", json=body, headers=bearer(key))
    assert resp.status_code == 201, resp.get_json()
    assert session.get(Shipment, resp.get_json()["id"]).recipient_name == NAME


def test_a_cod_shipment_gives_its_payment_the_same_clean_payer(client, session, centre):
    key = make_api_key(session)
    body = shipment_body(cod_amount=50_000, recipient={
        "name": f"{DECOMPOSED}\x00", "phone": "0912345678",
        "address": {"street": STREET, "ward": "Thanh Xuân", "province": "Hà Nội"}})
    resp = client.post("/api/v1/shipments", json=body, headers=bearer(key))
    assert resp.status_code == 201, resp.get_json()
    assert session.get(Payment, resp.get_json()["payment_id"]).payer_name == NAME


def test_an_over_long_recipient_name_answers_422_naming_the_field(client, session):
    key = make_api_key(session)
    body = shipment_body(recipient={"name": "Lê " * 100, "phone": "0912345678",
                                    "address": {"street": STREET, "ward": "Thanh Xuân", "province": "Hà Nội"}})
    resp = client.post("/api/v1/shipments", json=body, headers=bearer(key))
    assert resp.status_code == 422 and "name" in str(resp.get_json()["errors"])
    assert session.query(Shipment).count() == 0


def test_the_staff_form_gets_the_same_rules_as_the_api(session, settings):
    """The dispatch desk's form reaches create_shipment without the API's schema."""
    centre = ensure_demo_centre(session)
    s = create_shipment(session, centre, settings, dossier_code=" HS-1\x00 ", weight_grams=300, actor=audit.SYSTEM,
                        carrier="ghn", note="Gọi trước\r\nkhi giao\x00",
                        recipient=Recipient(name=DECOMPOSED, phone="0912345678", street=STREET, ward="Thanh Xuân",
                                            province="Hà Nội"))
    assert (s.dossier_code, s.recipient_name, s.note) == ("HS-1", NAME, "Gọi trước\nkhi giao")
    with pytest.raises(InvalidInput) as refused:
        create_shipment(session, centre, settings, dossier_code="HS-2", weight_grams=300, actor=audit.SYSTEM,
                        carrier="ghn", recipient=Recipient(name="A" * 256, phone="0912345678", street="B" * 256,
                                                           ward="Thanh Xuân", province="Hà Nội"))
    assert {"recipient.name", "recipient.address.street"} <= set(refused.value.errors)


def test_a_payment_stored_with_control_characters_before_the_fix_still_gets_its_receipt(session, centre):
    from sqlalchemy import update

    from receipts.issuance import receipts_for_payment
    from tests.receipts.factories import pay

    seed_default(session, centre)
    payment = create_payment(session, centre, dossier_code="000.00.12.H26-260101-0099", payer=Payer(NAME),
                             items=[ItemRequest("LLTP")], actor=audit.SYSTEM)
    session.commit()
    # As a row written before names were cleaned would hold it: the signed XML cannot carry these.
    session.execute(update(Payment).where(Payment.id == payment.id)
                    .values(payer_name=NAME + "\x07\x1b", payer_address="Số 1\x1f Tràng Tiền"))
    session.commit()
    session.expire_all()
    pay(session, session.get(Payment, payment.id))
    session.commit()
    [receipt] = receipts_for_payment(session, payment.id)
    assert receipt.status == "issued"
    assert receipt.content["payer"] == {"name": NAME, "address": "Số 1 Tràng Tiền"}
