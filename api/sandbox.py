"""The sandboxes' front page and the messages citizens would have received (embedded default only)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required
from sqlalchemy import select

from api.context import db_session, settings
from core.models import OutboundMessage

bp = Blueprint("sandbox_home", __name__, url_prefix="/sandbox")

# (what it stands for, where to look); the protocol endpoints themselves are called by the adapters.
SANDBOXES = [
    ("VNPAY", "/sandbox/vnpay/paymentv2/vpcpay.html", "cổng thanh toán (trang thanh toán, IPN, querydr, hoàn tiền)"),
    ("MoMo", "/sandbox/momo/v2/gateway/api/create", "ví điện tử (tạo giao dịch, IPN, truy vấn, hoàn tiền)"),
    ("Ngân hàng (VietQR)", "/sandbox/bank/transfer", "chuyển khoản và thông báo có tiền về"),
    ("VNPost", "/sandbox/vnpost", "bưu chính công ích (đơn hàng, hành trình)"),
    ("Viettel Post", "/sandbox/viettelpost", "đơn hàng, nhãn, webhook"),
    ("GHN", "/sandbox/ghn", "đơn hàng, ca lấy hàng, nhãn, webhook"),
    ("Đối soát", "/sandbox/vnpay/settlement/<YYYY-MM-DD>.csv",
     "tệp đối soát VNPAY/MoMo theo ngày; bảng kê COD: /sandbox/cod-remittance/<hãng>.csv?from=&to="),
    ("Cơ quan thuế (qua T-VAN)", "/sandbox/tax/_received", "tiếp nhận thông điệp TDiep, phản hồi 999, thông báo chấp nhận/từ chối"),
    ("TSA (RFC 3161)", "/sandbox/tsa", "dấu thời gian cho chữ ký PAdES B-T"),
    ("CA thử nghiệm (CRL)", "/sandbox/ca/<mã khóa CA>.crl", "danh sách thu hồi chứng thư, cho chữ ký PAdES B-LT/B-LTA"),
    ("Ký số từ xa CSC", "/sandbox/csc/csc/v1/info", "Cloud Signature Consortium API (oauth2/token, credentials/info, credentials/authorize, signatures/signHash)"),
    ("VNPT SmartCA", "/sandbox/smartca/v1/signatures/sign", "ký số từ xa, người ký xác nhận trên ứng dụng (get_certificate, sign, trạng thái)"),
    ("Zalo ZNS", "/sandbox/zalo-controls/_received", "tin nhắn mẫu ZNS (gửi, làm mới token, lỗi -118/-124)"),
    ("eSMS (SMS brandname)", "/sandbox/sms-controls/_received", "SendMultipleMessage_V4_post_json, GetSendStatus"),
    ("Tin nhắn, e-mail", "/sandbox/messages", "những gì người dân nhận được"),
]


@bp.before_request
def _only_in_sandbox_mode():
    if not settings().sandbox:
        abort(404)


@bp.get("/")
def index():
    return render_template("sandbox/index.html", sandboxes=SANDBOXES)


@bp.get("/messages")
@login_required
def messages():
    # What citizens of the user's centres were sent: another centre's citizens' messages are not shown.
    stmt = current_user.scope(select(OutboundMessage), OutboundMessage.centre_id)
    rows = db_session().scalars(stmt.order_by(OutboundMessage.id.desc()).limit(200)).all()
    return render_template("sandbox/messages.html", rows=rows)


def init_app(app, api) -> None:
    app.register_blueprint(bp)
