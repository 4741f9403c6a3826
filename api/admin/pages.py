"""Admin pages (Vietnamese): centres, collecting units with their fees, series and credentials, go-live check,
staff users and API keys."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy import select

from api.admin import accounts as admin_accounts
from api.admin.scope import current_scope
from api.admin.v1 import ApiKeyIn, UserIn, UserPatch, scoped_blockers
from api.auth import current_principal, protect_forms, require_roles
from api.context import db_session, settings
from api.i18n import register_messages, t
from core.clock import local_day, utcnow
from core.errors import Conflict, DomainError, NotFound
from core.models import ROLES
from core.security import API_KEY_PREFIX
from province import fees as fee_catalogue
from province import secrets
from province import series as series_service
from province import units as unit_service
from province.doctor import EXPIRY_WARNING, exit_code
from province.models import CarrierAccount, ReceiptSeries
from tax import registration as tax_registration

bp = Blueprint("admin", __name__, url_prefix="/staff/admin")
protect_forms(bp)

register_messages({
    "nav.admin": {"vi": "Quản trị tỉnh, trung tâm", "en": "Administration"},
    "admin.title": {"vi": "Quản trị", "en": "Administration"},
    "admin.centres": {"vi": "Trung tâm", "en": "Centres"},
    "admin.units": {"vi": "Đơn vị thu phí, lệ phí", "en": "Collecting units"},
    "admin.doctor": {"vi": "Kiểm tra sẵn sàng vận hành", "en": "Go-live check"},
    "admin.code": {"vi": "Mã", "en": "Code"},
    "admin.name": {"vi": "Tên", "en": "Name"},
    "admin.address": {"vi": "Địa chỉ", "en": "Address"},
    "admin.phone": {"vi": "Điện thoại", "en": "Phone"},
    "admin.email": {"vi": "Thư điện tử", "en": "E-mail"},
    "admin.tax_code": {"vi": "Mã số thuế", "en": "Tax code"},
    "admin.bank": {"vi": "Tài khoản ngân hàng (VietQR)", "en": "Bank account (VietQR)"},
    "admin.none": {"vi": "Chưa có", "en": "None"},
    "admin.units_served": {"vi": "Đơn vị được thu hộ", "en": "Units served"},
    "admin.served_at": {"vi": "Thu hộ tại trung tâm", "en": "Served at"},
    "admin.carrier_accounts": {"vi": "Tài khoản đơn vị vận chuyển", "en": "Carrier accounts"},
    "admin.carrier": {"vi": "Đơn vị vận chuyển", "en": "Carrier"},
    "admin.customer_code": {"vi": "Mã khách hàng", "en": "Customer code"},
    "admin.contract": {"vi": "Số hợp đồng", "en": "Contract"},
    "admin.pickup": {"vi": "Địa chỉ lấy hàng", "en": "Pickup address"},
    "admin.token": {"vi": "Token API", "en": "API token"},
    "admin.set_token": {"vi": "Đặt token", "en": "Set token"},
    "admin.certificate": {"vi": "Chứng thư số ký biên lai", "en": "Signing certificate"},
    "admin.cert_subject": {"vi": "Chủ thể", "en": "Subject"},
    "admin.cert_expiry": {"vi": "Hết hạn", "en": "Expires"},
    "admin.cert_none": {"vi": "Chưa có khóa ký: chưa thể cấp biên lai.", "en": "No signing key: receipts cannot be issued."},
    "admin.cert_expiring": {"vi": "Chứng thư số sắp hết hạn ({day}): cần gia hạn trước ngày này.",
                            "en": "The certificate expires soon ({day}): renew it before then."},
    "admin.cert_expired": {"vi": "Chứng thư số đã hết hạn ({day}): ngừng cấp biên lai cho đơn vị này.",
                           "en": "The certificate expired ({day}): issuance stopped for this unit."},
    "admin.series": {"vi": "Ký hiệu biên lai", "en": "Receipt series"},
    "admin.template": {"vi": "Ký hiệu mẫu", "en": "Template"},
    "admin.symbol": {"vi": "Ký hiệu", "en": "Symbol"},
    "admin.year": {"vi": "Năm", "en": "Year"},
    "admin.width": {"vi": "Số chữ số", "en": "Digits"},
    "admin.state": {"vi": "Trạng thái", "en": "State"},
    "admin.registered_on": {"vi": "Ngày đăng ký với cơ quan thuế", "en": "Registered on"},
    "admin.register": {"vi": "Ghi nhận đã đăng ký", "en": "Mark registered"},
    "admin.submit_registration": {"vi": "Gửi tờ khai 01/ĐKTĐ-CTĐT", "en": "Send form 01/ĐKTĐ-CTĐT"},
    "admin.registration_sent": {"vi": "Đã gửi tờ khai đăng ký đến cơ quan thuế; ký hiệu chờ chấp nhận.",
                                "en": "Registration sent to the tax authority; the series waits for acceptance."},
    "admin.registration": {"vi": "Đăng ký với cơ quan thuế", "en": "Registration with the tax authority"},
    "admin.registration.queued": {"vi": "chờ gửi", "en": "waiting to be sent"},
    "admin.registration.sending": {"vi": "đang gửi", "en": "being sent"},
    "admin.registration.acknowledged": {"vi": "đã gửi, chờ cơ quan thuế trả lời", "en": "sent, awaiting the answer"},
    "admin.registration.accepted": {"vi": "được chấp nhận", "en": "accepted"},
    "admin.registration.rejected": {"vi": "bị từ chối", "en": "rejected"},
    "admin.registration.refused": {"vi": "bị từ chối tiếp nhận (sai thông điệp)", "en": "refused as malformed"},
    "admin.close": {"vi": "Đóng ký hiệu", "en": "Close"},
    "admin.add_series": {"vi": "Thêm ký hiệu", "en": "Add a series"},
    "admin.fees": {"vi": "Danh mục phí, lệ phí", "en": "Fee catalogue"},
    "admin.procedure": {"vi": "Mã TTHC", "en": "Procedure"},
    "admin.kind": {"vi": "Loại", "en": "Kind"},
    "admin.amount": {"vi": "Mức thu", "en": "Amount"},
    "admin.online_amount": {"vi": "Nộp trực tuyến", "en": "Online"},
    "admin.retained": {"vi": "Để lại (%)", "en": "Retained (%)"},
    "admin.valid": {"vi": "Hiệu lực", "en": "In force"},
    "admin.import_fees": {"vi": "Nhập danh mục phí (CSV hoặc XLSX)", "en": "Import fees (CSV or XLSX)"},
    "admin.upload": {"vi": "Tải lên", "en": "Upload"},
    "admin.export_csv": {"vi": "Xuất CSV", "en": "Export CSV"},
    "admin.export_xlsx": {"vi": "Xuất XLSX", "en": "Export XLSX"},
    "admin.import_errors": {"vi": "Tệp có lỗi, chưa ghi gì. Sửa các dòng sau rồi tải lên lại:",
                            "en": "The file has errors; nothing was written. Fix these lines and upload again:"},
    "admin.fees_imported": {"vi": "Đã nhập danh mục phí: tạo mới {created}, cập nhật {updated}, không đổi {unchanged}.",
                            "en": "Fees imported: {created} created, {updated} updated, {unchanged} unchanged."},
    "admin.credentials": {"vi": "Bí mật (khóa ký, khóa cổng thanh toán)", "en": "Secrets (signing, gateways)"},
    "admin.credentials_note": {"vi": "Giá trị được mã hóa khi lưu và không bao giờ hiển thị lại.",
                               "en": "Values are encrypted at rest and never shown again."},
    "admin.secret_name": {"vi": "Loại bí mật", "en": "Secret"},
    "admin.secret_value": {"vi": "Giá trị", "en": "Value"},
    "admin.secret_file": {"vi": "Tệp PKCS#12 (.p12)", "en": "PKCS#12 file (.p12)"},
    "admin.secret_password": {"vi": "Mật khẩu tệp PKCS#12", "en": "PKCS#12 password"},
    "admin.save": {"vi": "Lưu", "en": "Save"},
    "admin.updated_at": {"vi": "Cập nhật", "en": "Updated"},
    "admin.secret_saved": {"vi": "Đã lưu {name} (đã mã hóa).", "en": "{name} saved (encrypted)."},
    "admin.series_saved": {"vi": "Đã cập nhật ký hiệu biên lai.", "en": "Series updated."},
    "admin.ready": {"vi": "Sẵn sàng vận hành: không còn điểm chặn.", "en": "Ready: nothing blocks production."},
    "admin.not_ready": {"vi": "Còn {count} điểm chặn vận hành.", "en": "{count} items block production."},
    "admin.scope": {"vi": "Phạm vi", "en": "Scope"},
    "admin.finding": {"vi": "Nội dung", "en": "Finding"},
    "admin.blocking": {"vi": "Chặn", "en": "Blocks"},
    "admin.warning": {"vi": "Cảnh báo", "en": "Warning"},
    "admin.active": {"vi": "Đang hoạt động", "en": "Active"},
    "admin.inactive": {"vi": "Ngừng hoạt động", "en": "Inactive"},
    "admin.no_file": {"vi": "Chọn tệp để tải lên.", "en": "Choose a file to upload."},
    "admin.bad_date": {"vi": "Ngày không hợp lệ.", "en": "Invalid date."},
    "admin.series.draft": {"vi": "Bản nháp", "en": "Draft"},
    "admin.series.registered": {"vi": "Đã đăng ký", "en": "Registered"},
    "admin.series.submitted": {"vi": "Đã gửi đăng ký, chờ cơ quan thuế chấp nhận", "en": "Submitted to the tax authority"},
    "admin.series.in_use": {"vi": "Đang sử dụng", "en": "In use"},
    "admin.series.closed": {"vi": "Đã đóng", "en": "Closed"},
    "admin.fee.phi": {"vi": "Phí", "en": "Fee"},
    "admin.fee.le_phi": {"vi": "Lệ phí", "en": "Charge"},
    "admin.secret.signing_pkcs12": {"vi": "Tệp PKCS#12 của khóa ký", "en": "Signing PKCS#12 file"},
    "admin.secret.signing_pkcs12_password": {"vi": "Mật khẩu tệp PKCS#12", "en": "PKCS#12 password"},
    "admin.secret.signing_pkcs11_pin": {"vi": "Mã PIN token PKCS#11", "en": "PKCS#11 PIN"},
    "admin.secret.vnpay_hash_secret": {"vi": "VNPAY: chuỗi bí mật (hash secret)", "en": "VNPAY hash secret"},
    "admin.secret.momo_access_key": {"vi": "MoMo: access key", "en": "MoMo access key"},
    "admin.secret.momo_secret_key": {"vi": "MoMo: secret key", "en": "MoMo secret key"},
    "admin.secret.carrier_token": {"vi": "Token API đơn vị vận chuyển", "en": "Carrier API token"},
    "admin.users": {"vi": "Người dùng cán bộ", "en": "Staff users"},
    "admin.user_new": {"vi": "Tạo người dùng", "en": "New user"},
    "admin.user_edit": {"vi": "Sửa người dùng {username}", "en": "Edit user {username}"},
    "admin.username": {"vi": "Tên đăng nhập", "en": "Username"},
    "admin.full_name": {"vi": "Họ và tên", "en": "Full name"},
    "admin.password": {"vi": "Mật khẩu ban đầu (ít nhất {min} ký tự)", "en": "Initial password (at least {min} characters)"},
    "admin.roles": {"vi": "Vai trò", "en": "Roles"},
    "admin.centres_of": {"vi": "Trung tâm", "en": "Centres"},
    "admin.home_centre": {"vi": "Trung tâm chính", "en": "Home centre"},
    "admin.other_centres": {"vi": "Các trung tâm khác", "en": "Other centres"},
    "admin.province_wide": {"vi": "Toàn tỉnh (mọi trung tâm, kể cả trung tâm lập sau)",
                            "en": "Whole province (every centre, including later ones)"},
    "admin.whole_province": {"vi": "Toàn tỉnh", "en": "Whole province"},
    "admin.locked": {"vi": "Bị khóa từ {at} ({count} lần đăng nhập sai)", "en": "Locked since {at} ({count} failed sign-ins)"},
    "admin.unlock": {"vi": "Mở khóa", "en": "Unlock"},
    "admin.unlocked": {"vi": "Đã mở khóa tài khoản {username}.", "en": "Account {username} unlocked."},
    "admin.edit": {"vi": "Sửa", "en": "Edit"},
    "admin.user_created": {"vi": "Đã tạo người dùng {username}.", "en": "User {username} created."},
    "admin.user_saved": {"vi": "Đã lưu người dùng {username}.", "en": "User {username} saved."},
    "admin.last_login": {"vi": "Đăng nhập lần cuối", "en": "Last sign-in"},
    "admin.never": {"vi": "Chưa lần nào", "en": "Never"},
    "admin.api_keys": {"vi": "Khóa API (hệ thống kết nối)", "en": "API keys"},
    "admin.api_key_new": {"vi": "Tạo khóa API", "en": "New API key"},
    "admin.key_name": {"vi": "Tên hệ thống sử dụng", "en": "Name"},
    "admin.key_prefix": {"vi": "Tiền tố khóa", "en": "Prefix"},
    "admin.last_used": {"vi": "Dùng lần cuối", "en": "Last used"},
    "admin.revoke": {"vi": "Thu hồi", "en": "Revoke"},
    "admin.revoked": {"vi": "Đã thu hồi", "en": "Revoked"},
    "admin.key_revoked": {"vi": "Đã thu hồi khóa {name}: khóa này không dùng được nữa.",
                          "en": "Key {name} revoked: it no longer works."},
    "admin.key_created": {"vi": "Đã tạo khóa API {name}", "en": "API key {name} created"},
    "admin.key_once": {"vi": "Hãy sao chép khóa này ngay: đây là lần duy nhất khóa được hiển thị. Hệ thống chỉ lưu "
                                "bản băm, không thể xem lại; nếu làm mất, hãy thu hồi và tạo khóa mới.",
                       "en": "Copy this key now: it is shown this once only. Only its hash is kept; if lost, revoke "
                             "it and create a new one."},
    "admin.back_to_keys": {"vi": "Tôi đã sao chép khóa, quay lại danh sách", "en": "I have copied it, back to the list"},
    "admin.form_errors": {"vi": "Chưa lưu được, vui lòng sửa các mục sau:", "en": "Not saved; please fix:"},
    "admin.create": {"vi": "Tạo", "en": "Create"},
})


def register_navigation() -> None:
    from api.pages import NAV

    entry = ("admin.overview", "nav.admin", ("admin",))
    if entry not in NAV:
        NAV.append(entry)


def _flash_error(e: DomainError) -> None:
    details = "; ".join(f"{k}: {m}" if k else m for k, msgs in e.errors.items() for m in msgs) if e.errors else ""
    flash(f"{e.message}. {details}" if details else e.message, "error")


@bp.get("/")
@require_roles("admin")
def overview():
    session = db_session()
    scope = current_scope(session)
    found = scoped_blockers(session, scope)
    return render_template("admin/overview.html", centres=scope.centres(session), units=scope.units(session),
                           province_wide=scope.province_wide, blocking=sum(b.blocking for b in found))


@bp.get("/centres")
@require_roles("admin")
def centres():
    session = db_session()
    rows = [(c, unit_service.units_served_at(session, c.id, active_only=False))
            for c in current_scope(session).centres(session)]
    return render_template("admin/centres.html", rows=rows)


@bp.get("/centres/<code>")
@require_roles("admin")
def centre(code: str):
    session = db_session()
    c = current_scope(session).centre(session, code)
    accounts = [(a, secrets.describe(session, "carrier_account", a.id))
                for a in session.scalars(select(CarrierAccount).where(CarrierAccount.centre_id == c.id)
                                         .order_by(CarrierAccount.carrier))]
    return render_template("admin/centre.html", centre=c, accounts=accounts,
                           units=unit_service.units_served_at(session, c.id, active_only=False))


@bp.post("/centres/<code>/carrier-accounts/<carrier>/token")
@require_roles("admin")
def set_carrier_token(code: str, carrier: str):
    session = db_session()
    scope = current_scope(session)
    account = scope.carrier_account(session, scope.centre(session, code), carrier)
    value = request.form.get("value", "")
    try:
        secrets.set_secret(session, settings(), "carrier_account", account.id, "carrier_token", value.encode(),
                           actor=current_principal().actor())
        session.commit()
        flash(t("admin.secret_saved", name=t("admin.secret.carrier_token")), "success")
    except DomainError as e:
        session.rollback()
        _flash_error(e)
    return redirect(url_for("admin.centre", code=code))


@bp.get("/units")
@require_roles("admin")
def units():
    return render_template("admin/units.html", units=current_scope(db_session()).units(db_session()))


def _unit_page(code: str, *, import_errors: dict | None = None, status: int = 200):
    session = db_session()
    scope = current_scope(session)
    unit = scope.unit(session, code)
    now = utcnow()
    cert_state = None
    if unit.cert_not_after is not None:
        cert_state = "expired" if unit.cert_not_after <= now else (
            "expiring" if unit.cert_not_after <= now + EXPIRY_WARNING else "ok")
    series_rows = list(session.scalars(select(ReceiptSeries).where(ReceiptSeries.unit_id == unit.id)
                                       .order_by(ReceiptSeries.year, ReceiptSeries.template, ReceiptSeries.symbol)))
    serving = set(unit_service.centre_ids_serving(session, unit.id))
    centre_codes = [c.code for c in scope.centres(session) if c.id in serving]
    return render_template("admin/unit.html", unit=unit, cert_state=cert_state, series=series_rows,
                           fees=fee_catalogue.fees_of_unit(session, unit.id), centre_codes=centre_codes,
                           credentials=secrets.describe(session, "unit", unit.id), secret_names=secrets.unit_names(),
                           import_errors=import_errors, next_year=_series_year_to_prepare(),
                           registration=tax_registration.registration_state(session, unit.id)), status


def _series_year_to_prepare() -> int:
    """The year a new series is most likely for: next year from December (prepared ahead), else this one."""
    today = local_day()
    return today.year + 1 if today.month == 12 else today.year


@bp.get("/units/<code>")
@require_roles("admin")
def unit(code: str):
    return _unit_page(code)


@bp.post("/units/<code>/fees")
@require_roles("admin")
def import_fees(code: str):
    session = db_session()
    unit_row = current_scope(session).unit_to_change(session, code)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(t("admin.no_file"), "error")
        return redirect(url_for("admin.unit", code=code))
    try:
        report = fee_catalogue.import_fee_file(session, unit_row, upload.filename, upload.read(),
                                               actor=current_principal().actor())
    except DomainError as e:
        session.rollback()
        return _unit_page(code, import_errors={"message": e.message, "lines": e.errors}, status=422)
    except (ValueError, KeyError) as e:
        session.rollback()
        return _unit_page(code, import_errors={"message": "Không đọc được tệp (CSV UTF-8 hoặc XLSX)",
                                               "lines": {"file": [str(e)[:200]]}}, status=422)
    session.commit()
    flash(t("admin.fees_imported", created=len(report.created), updated=len(report.updated),
            unchanged=len(report.unchanged)), "success")
    return redirect(url_for("admin.unit", code=code))


@bp.get("/units/<code>/fees.<fmt>")
@require_roles("admin")
def export_fees(code: str, fmt: str):
    session = db_session()
    unit_row = current_scope(session).unit(session, code)
    if fmt == "xlsx":
        return Response(fee_catalogue.export_fee_xlsx(session, unit_row),
                        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="phi-{unit_row.code}.xlsx"'})
    if fmt == "csv":
        return Response(fee_catalogue.export_fee_csv(session, unit_row), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="phi-{unit_row.code}.csv"'})
    raise NotFound("Định dạng không hỗ trợ")


def _form_date(name: str) -> date | None:
    raw = request.form.get(name, "").strip()
    return date.fromisoformat(raw) if raw else None


@bp.post("/units/<code>/series")
@require_roles("admin")
def add_series(code: str):
    session = db_session()
    unit_row = current_scope(session).unit_to_change(session, code)
    try:
        year = int(request.form.get("year", ""))
        width = int(request.form.get("number_width", "7") or 7)
        registered_on = _form_date("registered_on")
    except ValueError:
        flash(t("admin.bad_date"), "error")
        return redirect(url_for("admin.unit", code=code))
    try:
        series_service.register_series(session, unit_row, request.form.get("template", "").strip(),
                                       request.form.get("symbol", "").strip(), year, number_width=width,
                                       registered_on=registered_on, actor=current_principal().actor())
        session.commit()
        flash(t("admin.series_saved"), "success")
    except DomainError as e:
        session.rollback()
        _flash_error(e)
    return redirect(url_for("admin.unit", code=code))


def _series_action(code: str, series_id: int, action: str):
    session = db_session()
    unit_row = current_scope(session).unit_to_change(session, code)
    row = session.get(ReceiptSeries, series_id)
    if row is None or row.unit_id != unit_row.id:
        raise NotFound("Không có ký hiệu biên lai này")
    try:
        if action == "register":
            day = _form_date("registered_on")
            if day is None:
                raise ValueError("no date")
            series_service.mark_registered(session, row, day, actor=current_principal().actor())
        elif action == "submit":
            tax_registration.register_unit(session, settings(), unit_row, series=row, actor=current_principal().actor())
            session.commit()
            flash(t("admin.registration_sent"), "success")
            return redirect(url_for("admin.unit", code=code))
        else:
            series_service.close_series(session, row, actor=current_principal().actor())
        session.commit()
        flash(t("admin.series_saved"), "success")
    except ValueError:
        flash(t("admin.bad_date"), "error")
    except DomainError as e:
        session.rollback()
        _flash_error(e)
    return redirect(url_for("admin.unit", code=code))


@bp.post("/units/<code>/series/<int:series_id>/register")
@require_roles("admin")
def register_series(code: str, series_id: int):
    return _series_action(code, series_id, "register")


@bp.post("/units/<code>/series/<int:series_id>/submit")
@require_roles("admin")
def submit_series(code: str, series_id: int):
    """Send the unit's form 01/ĐKTĐ-CTĐT for this draft series; it is registered when the tax authority accepts."""
    return _series_action(code, series_id, "submit")


@bp.post("/units/<code>/series/<int:series_id>/close")
@require_roles("admin")
def close_series(code: str, series_id: int):
    return _series_action(code, series_id, "close")


@bp.post("/units/<code>/credentials")
@require_roles("admin")
def set_credential(code: str):
    session = db_session()
    unit_row = current_scope(session).unit_to_change(session, code)
    name = request.form.get("name", "")
    if name not in secrets.unit_names():
        flash(t("admin.secret_name") + ": ?", "error")
        return redirect(url_for("admin.unit", code=code))
    actor = current_principal().actor()
    try:
        if name == "signing_pkcs12":
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                flash(t("admin.no_file"), "error")
                return redirect(url_for("admin.unit", code=code))
            unit_service.set_signing_pkcs12(session, settings(), unit_row, upload.read(),
                                            request.form.get("password", "").encode(), actor=actor)
        else:
            secrets.set_secret(session, settings(), "unit", unit_row.id, name,
                               request.form.get("value", "").encode(), actor=actor)
        session.commit()
        flash(t("admin.secret_saved", name=t("admin.secret." + name)), "success")
    except DomainError as e:
        session.rollback()
        _flash_error(e)
    return redirect(url_for("admin.unit", code=code))


@bp.get("/doctor")
@require_roles("admin")
def doctor_page():
    session = db_session()
    found = scoped_blockers(session, current_scope(session))
    return render_template("admin/doctor.html", blockers=found, ready=exit_code(found) == 0,
                           blocking=sum(b.blocking for b in found))


# ---- staff users and API keys ---------------------------------------------------------------------------


def _form_membership() -> dict:
    """The centres chosen on a form: the home centre first, then the others ticked; the province if ticked."""
    home = request.form.get("home_centre", "").strip()
    others = [c for c in request.form.getlist("centre_codes") if c and c != home]
    data = {"centre_codes": ([home] if home else []) + others}
    if request.form.get("province_wide"):
        data["province_wide"] = True
    elif "province_wide_shown" in request.form:
        data["province_wide"] = False
    return data


def _form_errors(e: ValidationError | DomainError) -> dict[str, list[str]]:
    if isinstance(e, ValidationError):
        return {k: v if isinstance(v, list) else [str(v)] for k, v in e.normalized_messages().items()}
    return e.errors or {"": [e.message]}


def _centre_choices(session):
    return current_scope(session).centres(session)


def _status_of(e: ValidationError | DomainError) -> int:
    return 409 if isinstance(e, Conflict) else 422


@bp.get("/users")
@require_roles("admin")
def users():
    session = db_session()
    return render_template("admin/users.html", rows=admin_accounts.users(session, current_scope(session)),
                           codes=admin_accounts.centre_codes(session))


@bp.route("/users/new", methods=["GET", "POST"])
@require_roles("admin")
def user_new():
    session = db_session()
    scope = current_scope(session)
    errors, status, form = None, 200, {}
    if request.method == "POST":
        form = {"username": request.form.get("username", "").strip(),
                "full_name": request.form.get("full_name", "").strip(),
                "email": request.form.get("email", "").strip() or None, "roles": request.form.getlist("roles"),
                "password": request.form.get("password", ""), **_form_membership()}
        try:
            row, _m = admin_accounts.create_staff_user(session, scope, admin_accounts.current_caller(),
                                                       UserIn().load(form))
            session.commit()
            flash(t("admin.user_created", username=row.username), "success")
            return redirect(url_for("admin.users"))
        except (ValidationError, DomainError) as e:
            session.rollback()
            errors, status = _form_errors(e), _status_of(e)
        form.pop("password")  # never written back into the page
    return render_template("admin/user_new.html", form=form, errors=errors, roles=ROLES,
                           centres=_centre_choices(session), province_wide=scope.province_wide,
                           min_password=admin_accounts.MIN_PASSWORD), status


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@require_roles("admin")
def user_edit(user_id: int):
    session = db_session()
    scope = current_scope(session)
    row, m = admin_accounts.user(session, scope, user_id)
    errors, status = None, 200
    if request.method == "POST":
        form = {"full_name": request.form.get("full_name", "").strip(),
                "email": request.form.get("email", "").strip() or None, "roles": request.form.getlist("roles"),
                "active": bool(request.form.get("active")), **_form_membership()}
        try:
            row, m = admin_accounts.update_staff_user(session, scope, admin_accounts.current_caller(), user_id,
                                                      UserPatch().load(form))
            session.commit()
            flash(t("admin.user_saved", username=row.username), "success")
            return redirect(url_for("admin.users"))
        except (ValidationError, DomainError) as e:
            if isinstance(e, NotFound):
                raise
            session.rollback()
            errors, status = _form_errors(e), _status_of(e)
            row, m = admin_accounts.user(session, scope, user_id)
    codes = admin_accounts.centre_codes(session)
    return render_template("admin/user_edit.html", user=row, member_codes=admin_accounts.codes_of(m, codes),
                           membership=m, errors=errors, roles=ROLES, centres=_centre_choices(session),
                           province_wide=scope.province_wide), status


@bp.post("/users/<int:user_id>/unlock")
@require_roles("admin")
def user_unlock(user_id: int):
    session = db_session()
    row, _m = admin_accounts.unlock_staff_user(session, current_scope(session), admin_accounts.current_caller(),
                                               user_id)
    session.commit()
    flash(t("admin.unlocked", username=row.username), "success")
    return redirect(url_for("admin.users"))


@bp.get("/api-keys")
@require_roles("admin")
def api_keys():
    session = db_session()
    return render_template("admin/api_keys.html", rows=admin_accounts.api_keys(session, current_scope(session)),
                           codes=admin_accounts.centre_codes(session), key_prefix=API_KEY_PREFIX)


@bp.route("/api-keys/new", methods=["GET", "POST"])
@require_roles("admin")
def api_key_new():
    session = db_session()
    scope = current_scope(session)
    errors, status, form = None, 200, {}
    if request.method == "POST":
        form = {"name": request.form.get("name", "").strip(), "roles": request.form.getlist("roles"),
                **_form_membership()}
        try:
            row, m, key = admin_accounts.create_key(session, scope, admin_accounts.current_caller(),
                                                    ApiKeyIn().load(form))
            session.commit()
        except (ValidationError, DomainError) as e:
            session.rollback()
            errors, status = _form_errors(e), _status_of(e)
        else:
            # The one page that ever shows the key: never cached, never shown again.
            page = render_template("admin/api_key_created.html", client=row, key=key,
                                   member_codes=admin_accounts.codes_of(m, admin_accounts.centre_codes(session)),
                                   membership=m)
            return page, 201, {"Cache-Control": "no-store"}
    return render_template("admin/api_key_new.html", form=form, errors=errors, roles=ROLES,
                           centres=_centre_choices(session), province_wide=scope.province_wide), status


@bp.post("/api-keys/<int:key_id>/revoke")
@require_roles("admin")
def api_key_revoke(key_id: int):
    session = db_session()
    try:
        row, _m = admin_accounts.revoke_key(session, current_scope(session), admin_accounts.current_caller(), key_id)
        session.commit()
        flash(t("admin.key_revoked", name=row.name), "success")
    except Conflict as e:
        session.rollback()
        _flash_error(e)
    return redirect(url_for("admin.api_keys"))
