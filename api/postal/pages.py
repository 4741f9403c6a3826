"""Dispatch desk pages for staff, the receiving desk for dossiers collected by post, and the citizen's
public tracking page /t/<code>."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from api.auth import current_principal, protect_forms, require_roles
from api.context import db_session, settings
from api.i18n import register_messages, t
from carriers.base import FINAL_STATUSES
from core.clock import local_day
from core.errors import DomainError
from core.models import Centre
from core.text import content_disposition
from postal import documents
from postal.collection import confirm_received, receivable, receiving_list, request_collection
from postal.jobs import refresh_from_sandbox
from postal.models import DispatchBatch, Shipment
from postal.shipments import (
    CARRIER_TITLES,
    Recipient,
    configured_carriers,
    create_batch,
    create_shipment,
    overdue,
    staff_action,
)

bp = Blueprint("dispatch", __name__, url_prefix="/staff/dispatch")
protect_forms(bp)
public = Blueprint("tracking", __name__)

STATUS_GROUPS = {
    "all": None,
    "pending": ("pending",),
    "moving": ("picked_up", "in_transit", "out_for_delivery", "on_hold", "ready_for_pickup"),
    "failed": ("delivery_failed", "return_to_sender"),
    "done": ("delivered", "returned", "cancelled"),
}

register_messages({
    "nav.dispatch": {"vi": "Bưu chính", "en": "Dispatch"},
    "dispatch.title": {"vi": "Bàn gửi kết quả qua bưu chính", "en": "Dispatch desk"},
    "dispatch.new": {"vi": "Tạo bưu gửi", "en": "New shipment"},
    "dispatch.dossier": {"vi": "Mã hồ sơ", "en": "Dossier code"},
    "dispatch.direction": {"vi": "Loại", "en": "Direction"},
    "dispatch.outbound": {"vi": "Trả kết quả", "en": "Result to citizen"},
    "dispatch.inbound": {"vi": "Thu gom hồ sơ", "en": "Dossier pickup"},
    "dispatch.carrier": {"vi": "Đơn vị vận chuyển", "en": "Carrier"},
    "dispatch.pickup": {"vi": "Thu gom", "en": "Pickup"},
    "dispatch.pickup_requested": {"vi": "Đã hẹn bưu tá đến lấy", "en": "Pickup requested"},
    "dispatch.pickup_not_yet": {"vi": "Đang đặt lịch với đơn vị vận chuyển", "en": "Being booked with the carrier"},
    "dispatch.sender": {"vi": "Người gửi (người dân)", "en": "Sender (citizen)"},
    "dispatch.carrier_code": {"vi": "Mã của ĐVVC", "en": "Carrier's code"},
    "dispatch.not_applied": {"vi": "không đổi trạng thái", "en": "status unchanged"},
    "dispatch.retrying": {"vi": "Đơn vị vận chuyển chưa trả lời, đang thử lại", "en": "Carrier not answering; retrying"},
    "dispatch.create_failed": {"vi": "Đơn vị vận chuyển từ chối", "en": "Refused by the carrier"},
    "dispatch.auto": {"vi": "Tự chọn giá rẻ nhất", "en": "Cheapest quote"},
    "dispatch.recipient": {"vi": "Người nhận", "en": "Recipient"},
    "dispatch.phone": {"vi": "Số điện thoại", "en": "Phone"},
    "dispatch.street": {"vi": "Số nhà, đường", "en": "Street"},
    "dispatch.ward": {"vi": "Phường/Xã", "en": "Ward/commune"},
    "dispatch.province": {"vi": "Tỉnh/Thành phố", "en": "Province"},
    "dispatch.weight": {"vi": "Khối lượng (gam)", "en": "Weight (g)"},
    "dispatch.cod": {"vi": "Thu hộ (đồng)", "en": "Collect on delivery (đồng)"},
    "dispatch.promised": {"vi": "Ngày hẹn trả", "en": "Promised date"},
    "dispatch.note": {"vi": "Ghi chú", "en": "Note"},
    "dispatch.create": {"vi": "Tạo bưu gửi", "en": "Create shipment"},
    "dispatch.created": {"vi": "Đã tạo bưu gửi {code}.", "en": "Shipment {code} created."},
    "dispatch.tracking": {"vi": "Mã vận đơn", "en": "Tracking code"},
    "dispatch.status": {"vi": "Trạng thái", "en": "Status"},
    "dispatch.label": {"vi": "Nhãn", "en": "Label"},
    "dispatch.no_label": {"vi": "Chưa có nhãn", "en": "No label yet"},
    "dispatch.batch": {"vi": "Lập bảng kê cho các bưu gửi đã chọn", "en": "Make a handover batch of the selected"},
    "dispatch.batches": {"vi": "Bảng kê bàn giao", "en": "Handover batches"},
    "dispatch.batch_created": {"vi": "Đã lập bảng kê {code}.", "en": "Batch {code} created."},
    "dispatch.labels_pdf": {"vi": "Tải nhãn (PDF)", "en": "Download labels (PDF)"},
    "dispatch.handover_pdf": {"vi": "Tải bảng kê (PDF)", "en": "Download handover list (PDF)"},
    "dispatch.select": {"vi": "Chọn", "en": "Select"},
    "dispatch.none_selected": {"vi": "Chưa chọn bưu gửi nào.", "en": "No shipment selected."},
    "dispatch.overdue": {"vi": "Quá hạn trả kết quả", "en": "Overdue results"},
    "dispatch.apology": {"vi": "Thư xin lỗi (PDF)", "en": "Apology letter (PDF)"},
    "dispatch.link": {"vi": "Trang tra cứu cho người dân", "en": "Citizen's tracking page"},
    "dispatch.events": {"vi": "Hành trình", "en": "Tracking events"},
    "dispatch.actions": {"vi": "Xử lý", "en": "Actions"},
    "dispatch.action.cancel": {"vi": "Huỷ bưu gửi", "en": "Cancel"},
    "dispatch.action.return": {"vi": "Yêu cầu chuyển hoàn", "en": "Return to centre"},
    "dispatch.action.redeliver": {"vi": "Yêu cầu phát lại", "en": "Redeliver"},
    "dispatch.action_done": {"vi": "Đã thực hiện.", "en": "Done."},
    "dispatch.rates": {"vi": "Báo giá đã so sánh", "en": "Quotes compared"},
    "dispatch.error": {"vi": "Lỗi gần nhất", "en": "Last error"},
    "dispatch.group.all": {"vi": "Tất cả", "en": "All"},
    "dispatch.group.pending": {"vi": "Chờ bàn giao", "en": "Awaiting pickup"},
    "dispatch.group.moving": {"vi": "Đang vận chuyển", "en": "On the way"},
    "dispatch.group.failed": {"vi": "Phát không thành công", "en": "Failed"},
    "dispatch.group.done": {"vi": "Đã xong", "en": "Finished"},
    "nav.receiving": {"vi": "Nhận hồ sơ qua bưu chính", "en": "Receiving desk"},
    "receiving.title": {"vi": "Bàn nhận hồ sơ thu gom qua bưu chính", "en": "Receiving desk: dossiers by post"},
    "receiving.waiting": {"vi": "Hồ sơ đang đến hoặc đã được bưu tá giao", "en": "Dossiers on their way or handed over"},
    "receiving.received_list": {"vi": "Đã nhận gần đây", "en": "Recently received"},
    "receiving.action": {"vi": "Đã nhận hồ sơ", "en": "Dossier received"},
    "receiving.confirm_title": {"vi": "Xác nhận đã nhận hồ sơ", "en": "Confirm the dossier is received"},
    "receiving.confirm_text": {"vi": "Xác nhận trung tâm đã nhận được hồ sơ {dossier} (mã vận đơn {tracking}). "
                                     "Việc xác nhận được ghi lại với tên người xác nhận và thời điểm, "
                                     "và hệ thống một cửa sẽ được thông báo. Không thể huỷ xác nhận.",
                               "en": "Confirm the centre has dossier {dossier} (tracking code {tracking}). Who "
                                     "and when are recorded and the one-stop system is told. This cannot be undone."},
    "receiving.confirm": {"vi": "Xác nhận đã nhận hồ sơ", "en": "Confirm received"},
    "receiving.back": {"vi": "Quay lại", "en": "Back"},
    "receiving.done": {"vi": "Đã ghi nhận hồ sơ {dossier} đã đến trung tâm.", "en": "Dossier {dossier} recorded as received."},
    "receiving.received_at": {"vi": "Trung tâm đã nhận lúc", "en": "Received at the centre"},
    "receiving.received_by": {"vi": "Người nhận", "en": "Received by"},
    "receiving.carrier_says": {"vi": "Trạng thái của ĐVVC", "en": "Carrier's status"},
    "receiving.citizen_view": {"vi": "Trung tâm đã nhận hồ sơ", "en": "The centre has received the dossier"},
    "tracking.title": {"vi": "Tra cứu bưu gửi kết quả", "en": "Track your result"},
    "tracking.title_inbound": {"vi": "Tra cứu thu gom hồ sơ", "en": "Track your dossier pickup"},
    "tracking.promised": {"vi": "Ngày hẹn trả", "en": "Promised date"},
    "tracking.carrier": {"vi": "Đơn vị vận chuyển", "en": "Carrier"},
    **{f"shipment.status.{k}": {"vi": v, "en": k.replace("_", " ").capitalize()}
       for k, v in documents.STATUS_VI.items()},
})


# A dossier pickup runs the other way: what a carrier calls "delivered" is the dossier at the centre.
INBOUND_WORDS = {"pending": "inbound.pending", "out_for_delivery": "inbound.out_for_delivery",
                 "delivered": "inbound.delivered"}
register_messages({
    "inbound.pending": {"vi": "Chờ bưu tá đến lấy", "en": "Awaiting the postman"},
    "inbound.out_for_delivery": {"vi": "Đang chuyển đến trung tâm", "en": "On its way to the centre"},
    "inbound.delivered": {"vi": "Hồ sơ đã đến trung tâm", "en": "Dossier at the centre"},
})


@bp.app_template_global()
def shipment_status(s: Shipment, status: str | None = None) -> str:
    """The words for a shipment's (or one of its events') status, in the direction it travels."""
    status = status or s.status
    if s.direction == "inbound" and status in INBOUND_WORDS:
        return t(INBOUND_WORDS[status])
    return t(f"shipment.status.{status}")


def register_navigation() -> None:
    from api.pages import NAV

    for entry in (("dispatch.desk", "nav.dispatch", ("dispatcher",)),
                  ("dispatch.receiving", "nav.receiving", ("dispatcher",))):
        if entry not in NAV:
            NAV.append(entry)


def _centre() -> Centre:
    """The centre a new shipment is sent from: the one chosen in the form (one of the user's), else home."""
    from api.pages import chosen_centre

    return chosen_centre("centre_code")


def _shipment(shipment_id: int) -> Shipment:
    """A shipment of one of the user's centres; any other is a 404, as if it did not exist."""
    s = db_session().get(Shipment, shipment_id) if 0 < shipment_id < 2**63 else None
    if s is None or not current_user.sees(s.centre_id):
        abort(404)
    return s


def _register_dispatch_desk_messages() -> None:
    register_messages({
        "dispatch.compare": {"vi": "So sánh giá cước", "en": "Compare rates"},
        "dispatch.compare_help": {"vi": "So sánh giá và thời gian của các đơn vị vận chuyển trước khi tạo bưu gửi; "
                                        "chọn một dòng rồi bấm Tạo bưu gửi.",
                                  "en": "Compare the carriers' fees and times before creating; pick one, then create."},
        "dispatch.rates_title": {"vi": "Báo giá trước khi tạo", "en": "Rates before creating"},
        "dispatch.rate_service": {"vi": "Đơn vị vận chuyển – dịch vụ", "en": "Carrier – service"},
        "dispatch.rate_fee": {"vi": "Cước phí", "en": "Fee"},
        "dispatch.rate_time": {"vi": "Thời gian", "en": "Time"},
        "dispatch.rate_hours": {"vi": "khoảng {n} giờ", "en": "about {n} hours"},
        "dispatch.rate_days": {"vi": "khoảng {n} ngày", "en": "about {n} days"},
        "dispatch.rate_unknown": {"vi": "chưa báo (hẹn trả của trung tâm: {n} ngày)",
                                  "en": "not given (the centre's promise: {n} days)"},
        "dispatch.rate_none": {"vi": "Không đơn vị vận chuyển nào báo giá được cho địa chỉ này.",
                               "en": "No carrier could quote this address."},
        "dispatch.rate_failed": {"vi": "{carrier}: không báo giá được", "en": "{carrier}: no quote"},
        "dispatch.rate_choose": {"vi": "Chọn", "en": "Choose"},
        "dispatch.waiting_carrier": {"vi": "Chờ đơn vị vận chuyển", "en": "Waiting for the carrier"},
        "dispatch.waiting_carrier_help": {"vi": "Đã gửi yêu cầu; mã vận đơn sẽ hiện khi đơn vị vận chuyển trả về.",
                                          "en": "Sent; the tracking code appears when the carrier returns it."},
        "dispatch.ward_hint": {"vi": "Gõ vài chữ để chọn trong danh sách phường, xã (không dấu cũng được)",
                               "en": "Type a few letters to choose a ward (diacritics optional)"},
        "dispatch.confirm.cancel": {"vi": "Xác nhận HUỶ bưu gửi {code}: đơn ở đơn vị vận chuyển bị huỷ, không khôi "
                                          "phục được.",
                                    "en": "Confirm CANCELLING shipment {code} at the carrier; this cannot be undone."},
        "dispatch.confirm.redeliver": {"vi": "Xác nhận yêu cầu giao lại bưu gửi {code} (có thể phát sinh cước).",
                                       "en": "Confirm asking the carrier to deliver {code} again (may cost more)."},
        "dispatch.confirm.return": {"vi": "Xác nhận yêu cầu CHUYỂN HOÀN bưu gửi {code} về trung tâm (phát sinh cước "
                                          "chuyển hoàn, không huỷ được).",
                                    "en": "Confirm RETURNING {code} to the centre (return postage; cannot be undone)."},
        "dispatch.confirm_required": {"vi": "Chưa thực hiện: hãy đánh dấu ô xác nhận trước.",
                                      "en": "Not done: tick the confirmation box first."},
    })


_register_dispatch_desk_messages()


@bp.app_template_global()
def rate_title(carrier: str, service: str, service_name: str = "") -> str:
    """A carrier's service by its real names: 'VNPost – Chuyển phát nhanh (ETN011)'."""
    title = CARRIER_TITLES.get(carrier, carrier)
    return f"{title} – {service_name} ({service})" if service_name else f"{title} ({service})"


def _rate_time(eta_hours: int | None) -> str:
    if eta_hours is None:
        return t("dispatch.rate_unknown", n=settings().get_int("HCC_POSTAL_PROMISE_DAYS", 3))
    if eta_hours <= 48:
        return t("dispatch.rate_hours", n=eta_hours)
    return t("dispatch.rate_days", n=-(-eta_hours // 24))


def _quotes(session, centre: Centre, f) -> tuple[list[dict], list[str]]:
    """Every configured carrier's rates for the form's parcel, cheapest first, before anything is created;
    and the carriers that could not quote. Raises AddressError for an address that does not resolve."""
    from carriers.base import CarrierError, get_carrier
    from core.addresses import resolve_address
    from postal.accounts import account_config
    from postal.shipments import carrier_request, supports_pickup

    address = resolve_address(session, f.get("street", "").strip(), f.get("ward", "").strip(),
                              f.get("province", "").strip())
    inbound = f.get("direction") == "inbound"
    # A parcel that is never added to the session: only what the carriers' quote requests read.
    draft = Shipment(centre_id=centre.id, code="BAOGIA", dossier_code=(f.get("dossier_code") or "").strip()[:64],
                     direction="inbound" if inbound else "outbound", carrier="auto",
                     recipient_name=(f.get("name") or "").strip()[:255], recipient_phone=(f.get("phone") or "")[:32],
                     street=address.street, ward_code=address.ward_code, ward_name=address.ward_name,
                     province_code=address.province_code, province_name=address.province_name,
                     weight_grams=max(1, min(50_000, _int(f.get("weight_grams"), 200))),
                     cod_amount=0 if inbound else max(0, _int(f.get("cod_amount"), 0)), note=None)
    draft.centre = centre
    if draft in session:
        session.expunge(draft)
    rates, failed = [], []
    for name in configured_carriers(settings(), centre):
        if inbound and not supports_pickup(name):
            continue
        try:
            account = account_config(session, settings(), name, centre.id)
            carrier = get_carrier(name, settings(), account=account)
            request_ = carrier_request(session, draft, account.pickup_address if account else None, carrier=name,
                                       settings=settings())
            rates += [{"carrier": r.carrier, "service": r.service, "fee": r.fee,
                       "title": rate_title(r.carrier, r.service, r.service_name), "time": _rate_time(r.eta_hours)}
                      for r in carrier.quote(request_)]
        except CarrierError:
            failed.append(t("dispatch.rate_failed", carrier=CARRIER_TITLES.get(name, name)))
    if draft in session:
        session.expunge(draft)
    return sorted(rates, key=lambda r: r["fee"]), failed


def _int(value, default: int) -> int:
    try:
        return int(str(value or "").replace(".", "").replace(",", "") or default)
    except ValueError:
        return default


@bp.post("/quote")
@require_roles("dispatcher")
def quote():
    """Rates of every carrier for the parcel on the form, shown on the desk before creating it."""
    from core.addresses import AddressError

    session = db_session()
    f = request.form
    try:
        rates, failed = _quotes(session, _centre(), f)
    except AddressError as e:
        session.rollback()
        flash(str(e), "error")
        return _desk(f, 422)
    session.rollback()
    return _desk(f, 200, quotes={"rates": rates, "failed": failed})


@bp.get("/")
@require_roles("dispatcher")
def desk():
    return _desk()


def _desk(form=None, status: int = 200, quotes=None):
    """The desk; after a refused form, the dispatcher's entries come back filled in (422), not lost."""
    session = db_session()
    group = request.args.get("status", "all")
    statuses = STATUS_GROUPS.get(group)
    stmt = current_user.scope(select(Shipment), Shipment.centre_id).order_by(Shipment.id.desc())
    if statuses:
        stmt = stmt.where(Shipment.status.in_(statuses))
    rows = list(session.scalars(stmt.limit(200)))
    batches = list(session.scalars(current_user.scope(select(DispatchBatch), DispatchBatch.centre_id)
                                   .order_by(DispatchBatch.id.desc()).limit(20)))
    return render_template("postal/desk.html", shipments=rows, batches=batches, group=group, groups=STATUS_GROUPS,
                           carriers=configured_carriers(settings(), _centre()), titles=CARRIER_TITLES,
                           overdue_count=len(_overdue(session)), today=local_day(),
                           form=form or {}, quotes=quotes), status


@bp.post("/shipments")
@require_roles("dispatcher")
def create():
    session = db_session()
    f = request.form
    try:
        weight = int(f.get("weight_grams") or 0)
        cod_amount = int((f.get("cod_amount") or "0").replace(".", "").replace(",", ""))
    except ValueError:
        flash(t("problem.validation"), "error")
        return _desk(f, 422)
    promised = None
    if f.get("promised_date"):
        from datetime import date

        try:
            promised = date.fromisoformat(f["promised_date"])
        except ValueError:
            promised = None
    # A rate chosen among those compared ("carrier|service") decides the carrier and its service.
    carrier, _, service = (f.get("rate") or f.get("carrier") or "").partition("|")
    try:
        person = Recipient(name=f.get("name", "").strip(), phone=f.get("phone", "").strip(),
                           street=f.get("street", "").strip(), ward=f.get("ward", "").strip(),
                           province=f.get("province", "").strip())
        if f.get("direction") == "inbound":
            # A dossier collected by post, asked for at the desk (the citizen phoned, or came by).
            s = request_collection(session, _centre(), settings(), dossier_code=f.get("dossier_code", "").strip(),
                                   citizen=person, weight_grams=weight, actor=current_principal().actor(),
                                   carrier=carrier or None, cod_amount=cod_amount, promised_date=promised,
                                   note=f.get("note") or None)
        else:
            s = create_shipment(session, _centre(), settings(), dossier_code=f.get("dossier_code", "").strip(),
                                recipient=person, weight_grams=weight, actor=current_principal().actor(),
                                direction=f.get("direction", "outbound"), carrier=carrier or None,
                                service=service or None, cod_amount=cod_amount, promised_date=promised,
                                note=f.get("note") or None)
        if not s.dossier_code or not s.recipient_name or not s.recipient_phone:
            session.rollback()
            flash(t("problem.validation"), "error")
            return _desk(f, 422)
        session.commit()
    except DomainError as e:
        session.rollback()
        details = "; ".join(m for msgs in e.errors.values() for m in msgs) or e.message
        flash(details, "error")
        return _desk(f, 422)
    flash(t("dispatch.created", code=s.code), "success")
    return redirect(url_for("dispatch.desk"))


@bp.get("/<int:shipment_id>")
@require_roles("dispatcher")
def detail(shipment_id: int):
    s = _shipment(shipment_id)
    return render_template("postal/detail.html", s=s, titles=CARRIER_TITLES, today=local_day())


@bp.post("/<int:shipment_id>/<action>")
@require_roles("dispatcher")
def act(shipment_id: int, action: str):
    session = db_session()
    s = _shipment(shipment_id)
    if request.form.get("confirm") not in ("1", "on", "yes"):
        flash(t("dispatch.confirm_required"), "error")
        return redirect(url_for("dispatch.detail", shipment_id=shipment_id))
    try:
        staff_action(session, s, action, actor=current_principal().actor(), settings=settings(),
                     note=request.form.get("note") or None)
        session.commit()
        flash(t("dispatch.action_done"), "success")
    except DomainError as e:
        session.rollback()
        flash(e.message, "error")
    return redirect(url_for("dispatch.detail", shipment_id=shipment_id))


def _pdf(data: bytes, filename: str) -> Response:
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": content_disposition(filename)})


@bp.get("/<int:shipment_id>/label.pdf")
@require_roles("dispatcher")
def label(shipment_id: int):
    s = _shipment(shipment_id)
    data = documents.shipment_label(s)
    if data is None:
        abort(404)
    return _pdf(data, f"nhan-{s.tracking_code or s.code}.pdf")


@bp.get("/<int:shipment_id>/apology.pdf")
@require_roles("dispatcher")
def apology(shipment_id: int):
    s = _shipment(shipment_id)
    return _pdf(documents.apology_pdf(s, db_session().get(Centre, s.centre_id)), f"thu-xin-loi-{s.dossier_code}.pdf")


@bp.get("/overdue")
@require_roles("dispatcher")
def overdue_list():
    rows = _overdue(db_session())
    return render_template("postal/overdue.html", shipments=rows, titles=CARRIER_TITLES, today=local_day())


def _overdue(session) -> list[Shipment]:
    """Late results of every centre of the user's, oldest promise first."""
    rows = [s for centre in current_user.centres(session) for s in overdue(session, centre.id)]
    return sorted(rows, key=lambda s: (s.promised_date, s.id))


@bp.post("/batches")
@require_roles("dispatcher")
def batch_create():
    session = db_session()
    ids = [int(x) for x in request.form.getlist("shipment_id") if x.isdigit()]
    if not ids:
        flash(t("dispatch.none_selected"), "error")
        return redirect(url_for("dispatch.desk"))
    try:
        # The batch is its parcels' centre (create_batch refuses parcels of another centre).
        centres = set(session.scalars(current_user.scope(select(Shipment.centre_id).where(Shipment.id.in_(
            [i for i in ids if 0 < i < 2**63])), Shipment.centre_id).distinct()))
        centre = session.get(Centre, centres.pop() if len(centres) == 1 else current_user.centre_id)
        batch = create_batch(session, centre, ids, actor=current_principal().actor())
        session.commit()
    except DomainError as e:
        session.rollback()
        flash("; ".join(m for msgs in e.errors.values() for m in msgs) or e.message, "error")
        return redirect(url_for("dispatch.desk"))
    flash(t("dispatch.batch_created", code=batch.code), "success")
    return redirect(url_for("dispatch.batch", batch_id=batch.id))


def _batch(batch_id: int) -> DispatchBatch:
    batch = db_session().get(DispatchBatch, batch_id) if 0 < batch_id < 2**63 else None
    if batch is None or not current_user.sees(batch.centre_id):
        abort(404)
    return batch


@bp.get("/batches/<int:batch_id>")
@require_roles("dispatcher")
def batch(batch_id: int):
    return render_template("postal/batch.html", batch=_batch(batch_id), titles=CARRIER_TITLES)


@bp.get("/batches/<int:batch_id>/labels.pdf")
@require_roles("dispatcher")
def batch_labels(batch_id: int):
    b = _batch(batch_id)
    return _pdf(documents.labels_pdf(b.shipments), f"nhan-{b.code}.pdf")


@bp.get("/batches/<int:batch_id>/handover.pdf")
@require_roles("dispatcher")
def batch_handover(batch_id: int):
    b = _batch(batch_id)
    pdf = documents.handover_pdf(b, db_session().get(Centre, b.centre_id), CARRIER_TITLES.get(b.carrier, b.carrier))
    return _pdf(pdf, f"bang-ke-{b.code}.pdf")


@bp.get("/receiving")
@require_roles("dispatcher")
def receiving():
    """The receiving desk: dossiers collected by post on their way or handed over, not yet received
    (those the carrier delivered first), and the latest received with who and when."""
    session = db_session()
    ids = [c.id for c in current_user.centres(session)]
    return render_template("postal/receiving.html", waiting=receiving_list(session, ids),
                           received=receiving_list(session, ids, received=True, limit=30), titles=CARRIER_TITLES)


@bp.get("/receiving/<int:shipment_id>")
@require_roles("dispatcher")
def receiving_confirm(shipment_id: int):
    """The one confirmation step before the receipt is recorded."""
    s = _shipment(shipment_id)
    if s.direction != "inbound":
        abort(404)
    return render_template("postal/receiving_confirm.html", s=s, can_receive=receivable(s), titles=CARRIER_TITLES)


@bp.post("/receiving/<int:shipment_id>")
@require_roles("dispatcher")
def receiving_record(shipment_id: int):
    session = db_session()
    s = _shipment(shipment_id)
    if s.direction != "inbound":
        abort(404)
    try:
        confirm_received(session, s, actor=current_principal().actor(), note=request.form.get("note") or None)
        session.commit()
        flash(t("receiving.done", dossier=s.dossier_code), "success")
    except DomainError as e:
        session.rollback()
        flash(e.message, "error")
        return redirect(url_for("dispatch.receiving_confirm", shipment_id=shipment_id))
    return redirect(url_for("dispatch.receiving"))


register_messages({
    "tracking.steps": {"vi": "Tiến trình", "en": "Progress"},
    "tracking.step.created": {"vi": "Đã tạo", "en": "Created"},
    "tracking.step.picked_up": {"vi": "Đã lấy hàng", "en": "Picked up"},
    "tracking.step.in_transit": {"vi": "Đang vận chuyển", "en": "In transit"},
    "tracking.step.out_for_delivery": {"vi": "Đang giao", "en": "Out for delivery"},
    "tracking.step.delivered": {"vi": "Đã giao", "en": "Delivered"},
    "tracking.step.delivery_failed": {"vi": "Giao không thành công", "en": "Delivery failed"},
    "tracking.step.return_to_sender": {"vi": "Đang chuyển hoàn", "en": "Returning"},
    "tracking.step.returned": {"vi": "Đã hoàn về trung tâm", "en": "Back at the centre"},
    "tracking.step.in.out_for_delivery": {"vi": "Đang chuyển đến trung tâm", "en": "On its way to the centre"},
    "tracking.step.in.delivered": {"vi": "Đã đến trung tâm", "en": "At the centre"},
    "tracking.step_done": {"vi": "đã xong", "en": "done"},
    "tracking.step_current": {"vi": "bước hiện tại", "en": "current step"},
    "tracking.history": {"vi": "Hành trình chi tiết", "en": "Detailed history"},
    "tracking.hotline": {"vi": "Đường dây nóng của trung tâm", "en": "The centre's hotline"},
    "tracking.carrier_link": {"vi": "Xem trên trang của {carrier}", "en": "See it on {carrier}'s site"},
    "tracking.not_found_title": {"vi": "Không tìm thấy mã tra cứu", "en": "Tracking code not found"},
    "tracking.not_found": {"vi": "Không có bưu gửi nào có mã “{code}”. Vui lòng kiểm tra lại mã trong tin nhắn "
                                 "hoặc phiếu hẹn (ví dụ BG-ABCD1234) và nhập lại.",
                           "en": "No shipment has the code “{code}”. Check the code in your text message or "
                                 "appointment slip and try again."},
    "tracking.code_label": {"vi": "Mã tra cứu bưu gửi", "en": "Tracking code"},
    "tracking.search": {"vi": "Tra cứu", "en": "Track"},
})

# ASSUMED (the one place): the carriers' own public tracking pages, the tracking code appended URL-encoded.
# No carrier documents these in its API papers; they are the addresses the carriers' sites and the shops
# integrating them link to: VNPost "Định vị bưu gửi" (vnpost.vn/vi-vn/dinh-vi/buu-pham?key=), Viettel Post
# "Tra cứu hành trình đơn" (viettelpost.com.vn/tra-cuu-hanh-trinh-don/?bill=; other integrations pass the
# code as billcode/peopleTracking: only the page is certain), GHN (donhang.ghn.vn/?order_code=).
CARRIER_TRACKING_URLS = {
    "vnpost": "https://www.vnpost.vn/vi-vn/dinh-vi/buu-pham?key=",
    "viettelpost": "https://viettelpost.com.vn/tra-cuu-hanh-trinh-don/?bill=",
    "ghn": "https://donhang.ghn.vn/?order_code=",
}

OUTBOUND_STEPS = ("created", "picked_up", "in_transit", "out_for_delivery", "delivered")
RETURN_STEPS = ("created", "picked_up", "in_transit", "delivery_failed", "return_to_sender", "returned")
# Where a shipment's status puts it on its path (statuses with no step of their own sit on the nearest one).
STEP_OF = {"pending": "created", "unknown": "created", "cancelled": "created", "on_hold": "in_transit",
           "ready_for_pickup": "out_for_delivery"}


def carrier_tracking_url(carrier: str | None, tracking_code: str | None) -> str | None:
    from urllib.parse import quote

    base = CARRIER_TRACKING_URLS.get(carrier or "")
    return f"{base}{quote(tracking_code.strip(), safe='')}" if base and tracking_code and tracking_code.strip() else None


def tracking_steps(s: Shipment) -> list[dict]:
    """The progress bar: each step with its words and whether it is done, the current one, or to come."""
    path = RETURN_STEPS if s.status in ("delivery_failed", "return_to_sender", "returned") else OUTBOUND_STEPS
    at = path.index(STEP_OF.get(s.status, s.status)) if STEP_OF.get(s.status, s.status) in path else 0
    steps = []
    for i, step in enumerate(path):
        key = INBOUND_STEP_WORDS.get(step) if s.direction == "inbound" else None
        state = "done" if i < at or (i == at and s.status in FINAL_STATUSES) else "current" if i == at else "todo"
        steps.append({"key": step, "label": t(key or f"tracking.step.{step}"), "state": state})
    return steps


# A dossier pickup travels to the centre: its steps say so.
INBOUND_STEP_WORDS = {"created": "inbound.pending", "out_for_delivery": "tracking.step.in.out_for_delivery",
                      "delivered": "tracking.step.in.delivered"}


@public.get("/t/")
def track_form():
    """The retry box's GET form: /t/?code=... goes to that code's page."""
    code = (request.args.get("code") or "").strip()
    if not code:
        return render_template("postal/track.html", s=None, code="")
    return redirect(url_for("tracking.track", code=code))


@public.get("/t/<code>")
def track(code: str):
    """The citizen's page: status and milestones, never the name, phone or full address."""
    s = db_session().scalar(select(Shipment).where(Shipment.code == code.strip().upper()))
    if s is None:
        # A mistyped code: a friendly page with a box to try again (still a 404).
        return render_template("postal/track.html", s=None, code=code.strip()[:40]), 404
    if s.tracking_code and s.status not in FINAL_STATUSES and settings().sandbox:
        refresh_from_sandbox(s.carrier)
        db_session().expire_all()
        s = db_session().scalar(select(Shipment).where(Shipment.id == s.id))
    milestones = [e for e in s.events if e.applied]
    return render_template("postal/track.html", s=s, events=milestones, titles=CARRIER_TITLES,
                           centre=db_session().get(Centre, s.centre_id), steps=tracking_steps(s),
                           carrier_url=carrier_tracking_url(s.carrier, s.tracking_code))
