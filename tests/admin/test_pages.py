"""Admin pages: Vietnamese, scoped to the admin's centres, CSRF-protected, secrets never shown back."""

from __future__ import annotations

import io
from datetime import timedelta

from sqlalchemy import select, text

from core.clock import utcnow
from province.models import CollectingUnit, ReceiptSeries
from tests.admin.conftest import make_admin
from tests.factories import csrf_token, sign_in

PAGES = ["/staff/admin/", "/staff/admin/centres", "/staff/admin/centres/TTPVHCC", "/staff/admin/units",
         "/staff/admin/units/STP", "/staff/admin/doctor"]


def test_every_admin_page_renders_for_an_admin_in_vietnamese(client, session, province):
    sign_in(client, make_admin(session, "TTPVHCC"))
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
        assert 'lang="vi"' in response.get_data(as_text=True)
    unit = client.get("/staff/admin/units/STP").get_data(as_text=True)
    assert "Mã số thuế" in unit and "2300245389" in unit and "Ký hiệu biên lai" in unit and "Danh mục phí" in unit
    assert "Kiểm tra sẵn sàng vận hành" in client.get("/staff/admin/").get_data(as_text=True)


def test_the_staff_overview_links_the_admin_pages_for_admins_only(client, session, province):
    sign_in(client, make_admin(session, "TTPVHCC"))
    assert "/staff/admin/" in client.get("/staff/").get_data(as_text=True)
    other = client.application.test_client()
    sign_in(other, make_admin(session, "TTPVHCC", roles=("dispatcher",)))
    assert "/staff/admin/" not in other.get("/staff/").get_data(as_text=True)


def test_a_dispatcher_is_refused(client, session, province):
    sign_in(client, make_admin(session, "TTPVHCC", roles=("dispatcher", "cashier", "finance")))
    for path in PAGES:
        assert client.get(path).status_code == 403, path


def test_another_centres_objects_answer_404(client, session, province):
    sign_in(client, make_admin(session, "TTPVHCC"))
    for path in ["/staff/admin/centres/PVHCC-KB", "/staff/admin/units/UBND-KB", "/staff/admin/units/UBND-KB/fees.csv"]:
        assert client.get(path).status_code == 404, path
    units = client.get("/staff/admin/units").get_data(as_text=True)
    assert "STP" in units and "UBND-KB" not in units
    token = csrf_token(client, "/staff/admin/units/STP")
    assert client.post("/staff/admin/units/UBND-KB/credentials",
                       data={"csrf_token": token, "name": "vnpay_hash_secret", "value": "x"}).status_code == 404


def test_forms_need_the_csrf_token(client, session, province):
    sign_in(client, make_admin(session, "TTPVHCC"))
    response = client.post("/staff/admin/units/STP/credentials", data={"name": "vnpay_hash_secret", "value": "x"})
    assert response.status_code == 400
    assert session.execute(text("SELECT count(*) FROM credential")).scalar_one() == 0


def test_the_fee_import_shows_the_line_by_line_error_report(client, session, province):
    sign_in(client, make_admin(session, "TTPVHCC"))
    token = csrf_token(client, "/staff/admin/units/STP")
    csv_ = "code,procedure,name,kind,amount\nLLTP-MOI,2.000488,Phí mới,phi,abc\n,2.000488,Không mã,phi,1000\n".encode()
    response = client.post("/staff/admin/units/STP/fees", content_type="multipart/form-data",
                           data={"csrf_token": token, "file": (io.BytesIO(csv_), "phi.csv")})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="import-errors"' in page and "line 2" in page and "line 3" in page and "chưa ghi gì" in page

    good = "code,procedure,name,kind,amount\nLLTP-MOI,2.000488,Phí mới,phi,1000\n".encode()
    done = client.post("/staff/admin/units/STP/fees", content_type="multipart/form-data", follow_redirects=True,
                       data={"csrf_token": token, "file": (io.BytesIO(good), "phi.csv")})
    assert "Đã nhập danh mục phí: tạo mới 1" in done.get_data(as_text=True)
    assert "LLTP-MOI" in client.get("/staff/admin/units/STP/fees.csv").get_data(as_text=True)


def test_a_secret_set_on_the_page_is_never_shown_back(client, session, province):
    sign_in(client, make_admin(session, "TTPVHCC"))
    token = csrf_token(client, "/staff/admin/units/STP")
    secret = "momo-secret-tren-trang-42"
    page = client.post("/staff/admin/units/STP/credentials", follow_redirects=True,
                       data={"csrf_token": token, "name": "momo_secret_key", "value": secret}).get_data(as_text=True)
    assert "Đã lưu MoMo: secret key" in page and secret not in page and "••••••" in page
    assert secret not in session.execute(text("SELECT ciphertext FROM credential")).scalar_one()


def test_series_are_added_registered_and_closed_from_the_unit_page(client, session, province):
    sign_in(client, make_admin(session, "PVHCC-KB"))
    token = csrf_token(client, "/staff/admin/units/UBND-KB")
    client.post("/staff/admin/units/UBND-KB/series",
                data={"csrf_token": token, "template": "EBL01", "symbol": "27T", "year": "2027", "number_width": "7"})
    row = session.scalar(select(ReceiptSeries).join(CollectingUnit).where(ReceiptSeries.symbol == "27T",
                                                                          CollectingUnit.code == "UBND-KB"))
    assert row.state == "draft"
    client.post(f"/staff/admin/units/UBND-KB/series/{row.id}/register",
                data={"csrf_token": token, "registered_on": "2026-12-01"})
    session.refresh(row)
    assert row.state == "registered"
    client.post(f"/staff/admin/units/UBND-KB/series/{row.id}/close", data={"csrf_token": token})
    session.refresh(row)
    assert row.state == "closed"


def test_the_certificate_warns_before_expiry_and_says_issuance_stopped_after(client, session, province):
    sign_in(client, make_admin(session, "TTPVHCC"))
    unit = session.scalar(select(CollectingUnit).where(CollectingUnit.code == "STP"))
    unit.cert_subject, unit.cert_not_after = "CN=Sở Tư pháp tỉnh Bắc Ninh", utcnow() + timedelta(days=10)
    session.commit()
    assert 'id="cert-expiring"' in client.get("/staff/admin/units/STP").get_data(as_text=True)
    unit.cert_not_after = utcnow() - timedelta(days=1)
    session.commit()
    page = client.get("/staff/admin/units/STP").get_data(as_text=True)
    assert 'id="cert-expired"' in page and "ngừng cấp biên lai" in page


def test_the_go_live_page_lists_blockers(client, session, province):
    sign_in(client, make_admin(session, "TTPVHCC", province_wide=True))
    page = client.get("/staff/admin/doctor").get_data(as_text=True)
    assert "điểm chặn vận hành" in page and "no-encryption-keys" in page and "unit UBND-KB" in page


def test_a_carrier_token_is_set_on_the_centre_page_and_shown_masked(client, session, province):
    sign_in(client, make_admin(session, "TTPVHCC"))
    token = csrf_token(client, "/staff/admin/centres/TTPVHCC")
    page = client.post("/staff/admin/centres/TTPVHCC/carrier-accounts/vnpost/token", follow_redirects=True,
                       data={"csrf_token": token, "value": "vnpost-token-bi-mat"}).get_data(as_text=True)
    assert "vnpost-token-bi-mat" not in page and "••••••" in page
