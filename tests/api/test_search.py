"""Staff search: accent-insensitive on the folded search columns, on SQLite and PostgreSQL, scoped to the centre."""

from sqlalchemy import inspect, select

from core import audit, search
from fees.models import Payment
from fees.payments import ItemRequest, Payer, create_payment
from receipts.models import Receipt
from receipts.register import RegisterFilter, register_query
from tests.factories import make_centre, make_user, sign_in
from tests.postal.factories import make_shipment
from tests.receipts.factories import paid_payment


def test_the_folded_column_is_kept_on_write_and_indexed(session, db):
    p = paid_payment(session, payer_name="Nguyễn Văn An", payer_phone="0912 345 678")
    assert "nguyen van an" in p.search_text and "0912345678" in p.search_text
    p.payer_name = "Đỗ Thị Đào"
    session.commit()
    session.expire_all()
    assert "do thi dao" in session.get(Payment, p.id).search_text
    for table in ("payment", "receipt", "shipment"):
        indexes = inspect(db.engine).get_indexes(table)
        assert any(ix["column_names"] == ["search_text"] for ix in indexes)
        if db.engine.dialect.name == "postgresql":  # LIKE '%word%' served by a trigram index there
            assert f"ix_{table}_search_trgm" in {ix["name"] for ix in indexes}


def test_matching_is_like_on_the_column_not_python():
    sql = str(search.matches(Payment.search_text, "Nguyễn  VĂN an").compile())
    assert sql.count("LIKE") == 3
    assert search.words("Nguyễn  VĂN an") == ["nguyen", "van", "an"]
    assert search.words("50%_x") == ["50%_x"]  # wildcards are escaped in matches(), found literally


def test_the_search_page_finds_the_accented_payer_in_the_users_centre_only(client, session, settings):
    mine = paid_payment(session, payer_name="Nguyễn Văn An", payer_phone="0987654321")
    other_centre = make_centre(session, "HCC-KHAC")
    theirs = create_payment(session, other_centre, dossier_code="000.00.99.H26-260101-0001",
                            payer=Payer("Nguyễn Văn An", phone="0987654321"),
                            items=[ItemRequest(fee_code="LLTP", quantity=1, name="Phí", kind="phi", unit_amount=1000)],
                            actor=audit.SYSTEM)
    session.commit()
    ship = make_shipment(session, settings, dossier_code=mine.dossier_code, tracking_code="G000000777")
    make_user(session, roles=("cashier", "dispatcher"), username="timkiem")
    sign_in(client, "timkiem")

    page = client.get("/staff/search/?q=nguyen van an").get_data(as_text=True)
    assert f'id="payment-{mine.id}"' in page and "Nguyễn Văn An" in page
    assert mine.code in page and theirs.code not in page
    receipt = session.scalars(select(Receipt).where(Receipt.payment_id == mine.id)).first()
    assert receipt is not None and f'id="receipt-{receipt.id}"' in page

    by_phone = client.get("/staff/search/?q=0987654321").get_data(as_text=True)
    assert mine.code in by_phone and theirs.code not in by_phone
    by_dossier = client.get(f"/staff/search/?q={mine.dossier_code}").get_data(as_text=True)
    assert f'id="shipment-{ship.id}"' in by_dossier
    by_tracking = client.get("/staff/search/?q=g000000777").get_data(as_text=True)
    assert ship.code in by_tracking
    none = client.get("/staff/search/?q=không có ai").get_data(as_text=True)
    assert 'id="search-none"' in none


def test_the_search_page_needs_staff(client, session):
    assert client.get("/staff/search/?q=an").status_code in (302, 401)


def test_the_register_filters_by_free_text(session):
    a = paid_payment(session, payer_name="Lê Thị Hằng", payer_phone="0901000111")
    b = paid_payment(session, payer_name="Phạm Quốc Cường", payer_phone="0901000222")
    ra = session.scalars(select(Receipt).where(Receipt.payment_id == a.id)).one()
    rb = session.scalars(select(Receipt).where(Receipt.payment_id == b.id)).one()

    def found(text):
        return {r.id for r in session.scalars(register_query(RegisterFilter(centre_id=a.centre_id, text=text)))}

    assert found("le thi hang") == {ra.id}
    assert found("CUONG") == {rb.id}
    assert found("0901000222") == {rb.id}  # the payer's phone, through the payment
    assert found(ra.number_text) >= {ra.id}
    assert found(a.dossier_code) == {ra.id}


def test_the_receipt_register_finds_an_accented_payer_by_an_unaccented_name(client, session):
    p = paid_payment(session, payer_name="Nguyễn Văn Ân")
    number = session.scalar(select(Receipt).where(Receipt.payment_id == p.id)).number_text
    user = make_user(session, roles=("finance",))
    sign_in(client, user.username)
    page = client.get("/staff/receipts/?q=nguyen+van+an").get_data(as_text=True)
    assert number in page
    assert number not in client.get("/staff/receipts/?q=tran+thi").get_data(as_text=True)
