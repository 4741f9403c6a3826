"""Page and error texts, Vietnamese first with English available; the visitor's choice is a cookie."""

from __future__ import annotations

from flask import current_app, request

LANGUAGES = ("vi", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "app.name": {"vi": "Bưu chính công & Biên lai điện tử", "en": "Postal dispatch & e-receipts"},
    "nav.dashboard": {"vi": "Tổng quan", "en": "Overview"},
    "nav.audit": {"vi": "Nhật ký", "en": "Audit log"},
    "nav.users": {"vi": "Người dùng", "en": "Users"},
    "nav.logout": {"vi": "Đăng xuất", "en": "Sign out"},
    "login.title": {"vi": "Đăng nhập cán bộ", "en": "Staff sign-in"},
    "login.username": {"vi": "Tên đăng nhập", "en": "Username"},
    "login.password": {"vi": "Mật khẩu", "en": "Password"},
    "login.submit": {"vi": "Đăng nhập", "en": "Sign in"},
    # One message for every refusal (wrong password, unknown name, locked account), so it tells a guesser nothing.
    "login.failed": {"vi": "Sai tên đăng nhập hoặc mật khẩu. Sau nhiều lần sai liên tiếp, tài khoản bị khoá: "
                           "hãy liên hệ quản trị viên để mở khoá.",
                     "en": "Wrong username or password. After repeated failures the account is locked: "
                           "ask an administrator to unlock it."},
    "login.expired": {"vi": "Phiên làm việc đã kết thúc. Vui lòng đăng nhập lại.",
                      "en": "Your session has ended. Please sign in again."},
    "login.required": {"vi": "Vui lòng đăng nhập để tiếp tục.", "en": "Please sign in to continue."},
    "dashboard.title": {"vi": "Tổng quan", "en": "Overview"},
    "dashboard.welcome": {"vi": "Xin chào", "en": "Hello"},
    "dashboard.centre": {"vi": "Đơn vị", "en": "Centre"},
    "dashboard.roles": {"vi": "Vai trò", "en": "Roles"},
    "dashboard.go_to": {"vi": "Công việc của bạn", "en": "Your work"},
    "role.admin": {"vi": "Quản trị", "en": "Administrator"},
    "role.dispatcher": {"vi": "Bưu chính / trả kết quả", "en": "Dispatcher"},
    "role.cashier": {"vi": "Thu phí, lệ phí", "en": "Cashier"},
    "role.finance": {"vi": "Kế toán / đối soát", "en": "Finance"},
    "audit.title": {"vi": "Nhật ký hệ thống", "en": "Audit log"},
    "audit.at": {"vi": "Thời điểm", "en": "When"},
    "audit.actor": {"vi": "Người thực hiện", "en": "Who"},
    "audit.action": {"vi": "Hành động", "en": "Action"},
    "audit.entity": {"vi": "Đối tượng", "en": "Entity"},
    "users.title": {"vi": "Người dùng", "en": "Users"},
    "users.create": {"vi": "Tạo người dùng", "en": "Create user"},
    "users.full_name": {"vi": "Họ và tên", "en": "Full name"},
    "users.created": {"vi": "Đã tạo người dùng.", "en": "User created."},
    "users.status": {"vi": "Trạng thái", "en": "Status"},
    "users.locked": {"vi": "Bị khoá từ {at} ({count} lần đăng nhập sai)", "en": "Locked since {at} ({count} failed sign-ins)"},
    "users.unlock": {"vi": "Mở khoá", "en": "Unlock"},
    "users.unlocked": {"vi": "Đã mở khoá tài khoản {username}.", "en": "Account {username} unlocked."},
    "common.save": {"vi": "Lưu", "en": "Save"},
    "common.previous": {"vi": "Trang trước", "en": "Previous"},
    "common.next": {"vi": "Trang sau", "en": "Next"},
    "common.none": {"vi": "Chưa có dữ liệu.", "en": "Nothing yet."},
    "error.403": {"vi": "Bạn không có quyền thực hiện thao tác này.", "en": "You are not allowed to do this."},
    "error.404": {"vi": "Không tìm thấy trang.", "en": "Page not found."},
    "error.400": {"vi": "Yêu cầu không hợp lệ.", "en": "Bad request."},
    "error.429": {"vi": "Bạn đã thao tác quá nhiều lần trong thời gian ngắn. Vui lòng đợi {seconds} giây rồi thử lại.",
                  "en": "Too many attempts in a short time. Please wait {seconds} seconds and try again."},
    "error.500": {"vi": "Đã có lỗi xảy ra. Vui lòng thử lại sau.", "en": "Something went wrong. Please try again later."},
    "error.back": {"vi": "Về trang chủ", "en": "Back to the start"},
    "problem.validation": {"vi": "Dữ liệu không hợp lệ", "en": "Invalid data"},
    "problem.unauthorized": {"vi": "Chưa xác thực", "en": "Not authenticated"},
    "problem.forbidden": {"vi": "Không có quyền", "en": "Forbidden"},
    "problem.not_found": {"vi": "Không tìm thấy", "en": "Not found"},
    "problem.conflict": {"vi": "Xung đột", "en": "Conflict"},
    "problem.idempotency_mismatch": {"vi": "Idempotency-Key đã dùng cho một yêu cầu khác",
                                     "en": "Idempotency-Key already used for another request"},
    "problem.idempotency_in_progress": {"vi": "Yêu cầu với Idempotency-Key này đang được xử lý",
                                        "en": "A request with this Idempotency-Key is still in progress"},
    "problem.bad_request": {"vi": "Yêu cầu không hợp lệ", "en": "Bad request"},
    "problem.method_not_allowed": {"vi": "Phương thức không được hỗ trợ", "en": "Method not allowed"},
    "problem.too_large": {"vi": "Dữ liệu gửi lên quá lớn", "en": "Payload too large"},
    "problem.too_many_requests": {"vi": "Quá nhiều yêu cầu", "en": "Too many requests"},
    "problem.server_error": {"vi": "Lỗi hệ thống", "en": "Internal error"},
}


def register_messages(messages: dict[str, dict[str, str]]) -> None:
    """Feature packages add their texts here (one dict per feature)."""
    MESSAGES.update(messages)


def get_locale() -> str:
    chosen = request.cookies.get("lang")
    if chosen in LANGUAGES:
        return chosen
    best = request.accept_languages.best_match(LANGUAGES) if request.accept_languages else None
    # Vietnamese first: English only when the visitor's browser prefers it over Vietnamese.
    if best == "en" and "vi" not in request.accept_languages.values():
        return "en"
    return current_app.extensions["hcc"].settings.default_language


def t(key: str, lang: str | None = None, **params) -> str:
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    text = entry.get(lang or get_locale()) or entry["vi"]
    return text.format(**params) if params else text
