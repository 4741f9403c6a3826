"""Codes of the tax authority's message exchange: message types, acknowledgement and result values, error codes.

This is the ONE place where what we could not find in a published text is chosen. Every value says where it
comes from; `ASSUMED` lists the ones chosen by us (docs/tax/channel.md says why and what to check when the
tax authority's Appendix I of Decision 1271/QĐ-CT is at hand).
"""

from __future__ import annotations

# -- the envelope -------------------------------------------------------------------------------------------
# Decision 1450/QĐ-TCT §I (TDiep = TTChung + DLieu); e-document vendors' messages for 01/ĐKTĐ-CTĐT carry 2.1.0
# and 2.1.1 under Decision 1306/1271. Assumed: 2.1.1 (the newer one seen), a setting would change it.
PBAN = "2.1.1"
TAX_AUTHORITY = "TCT"  # MNNhan of every message to the tax authority; MNGui of its answers (1450).
MAX_MESSAGE_BYTES = 2 * 1024 * 1024  # "one message at most 2 MB" (1450 §I.2).
MTDIEP_HEX_DIGITS = 32  # MTDiep = sender's code + 32 upper-case hex digits of a UUID (1450 §I.1).

# -- message types (MLTDiep) ----------------------------------------------------------------------------------
ACK = 999  # technical acknowledgement, TTTNhan 0/1 (1450, "Thông điệp phản hồi kỹ thuật")
# Registration of e-document (chứng từ điện tử, incl. biên lai) use, form 01/ĐKTĐ-CTĐT: vendors send 109 and
# read 110 (notice of receipt: tiếp nhận / không tiếp nhận) and 111 (acceptance: chấp nhận / không chấp nhận).
REGISTRATION = 109
REGISTRATION_RECEIVED = 110
REGISTRATION_RESULT = 111
# Data of one e-document to the tax authority: vendors send PIT withholding certificates as 211. ASSUMED for
# receipts (biên lai) too, and ASSUMED that the result comes back as 212, the way 203 (invoice data) is
# answered by 204 (result of checking the data) in 1450.
RECEIPT_DATA = 211
RECEIPT_RESULT = 212
# Notice of e-documents with errors (04/SS-CTĐT): vendors send 304. ASSUMED answer 305 (1450: 300 → 301).
ERROR_NOTICE = 304
ERROR_NOTICE_RESULT = 305
# Usage report BC26/BLĐT: ASSUMED 400, as the invoice data summary (1450: 400). Owned by tax/bc26.py.
USAGE_REPORT = 400
USAGE_REPORT_RESULT = 401

ASSUMED = {PBAN, RECEIPT_DATA, RECEIPT_RESULT, ERROR_NOTICE_RESULT, USAGE_REPORT, USAGE_REPORT_RESULT}

# What each outgoing type is answered with, in order (after the 999 acknowledgement). The last one decides.
ANSWERS: dict[int, tuple[int, ...]] = {
    REGISTRATION: (REGISTRATION_RECEIVED, REGISTRATION_RESULT),
    RECEIPT_DATA: (RECEIPT_RESULT,),
    ERROR_NOTICE: (ERROR_NOTICE_RESULT,),
    USAGE_REPORT: (USAGE_REPORT_RESULT,),
}
RESULT_TYPES = {code for answers in ANSWERS.values() for code in answers}
FINAL_RESULT = {out: answers[-1] for out, answers in ANSWERS.items()}
ANSWERED_BY = {code: out for out, answers in ANSWERS.items() for code in answers}

NAMES = {
    ACK: "Thông điệp phản hồi kỹ thuật",
    REGISTRATION: "Tờ khai đăng ký/thay đổi thông tin sử dụng chứng từ điện tử (01/ĐKTĐ-CTĐT)",
    REGISTRATION_RECEIVED: "Thông báo về việc tiếp nhận/không tiếp nhận tờ khai",
    REGISTRATION_RESULT: "Thông báo về việc chấp nhận/không chấp nhận đăng ký sử dụng chứng từ điện tử",
    RECEIPT_DATA: "Dữ liệu biên lai điện tử gửi cơ quan thuế",
    RECEIPT_RESULT: "Thông báo kết quả kiểm tra dữ liệu biên lai điện tử",
    ERROR_NOTICE: "Thông báo chứng từ điện tử có sai sót (04/SS-CTĐT)",
    ERROR_NOTICE_RESULT: "Thông báo tiếp nhận và kết quả xử lý chứng từ điện tử có sai sót",
    USAGE_REPORT: "Báo cáo tình hình sử dụng biên lai (BC26/BLĐT)",
    USAGE_REPORT_RESULT: "Thông báo tiếp nhận báo cáo tình hình sử dụng biên lai",
}

# -- values inside the answers ---------------------------------------------------------------------------------
TTTNHAN_OK = "0"  # 999: no error (1450)
TTTNHAN_ERROR = "1"  # 999: errors, listed in DSLDo/LDo/(MLoi, MTLoi) (1450)
# 110/111/212…: TTXNCQT 1 = accepted (chấp nhận / tiếp nhận), 2 = not accepted, reasons in DSLDKCNhan/LDo/
# (MLoi, MTa) as vendors read them.
ACCEPTED = "1"
NOT_ACCEPTED = "2"

# Error codes. The technical ones follow 1450's error list where vendors show them; the rest are ASSUMED
# (MLoi values are shown with their text, so a code we chose still reads right to staff).
ERRORS = {
    "10001": "Sai định dạng thông điệp (không đọc được XML)",
    "10002": "Thiếu thông tin chung của thông điệp (TTChung)",
    "10003": "Mã thông điệp không đúng quy định (mã nơi gửi và 32 ký tự UUID)",
    "10004": "Thông điệp vượt quá dung lượng cho phép (2 MB)",
    "10005": "Mã nơi nhận không phải cơ quan thuế",
    "10006": "Mã loại thông điệp không được hỗ trợ",
    "20001": "Dữ liệu không đúng định dạng (XSD)",
    "20002": "Chữ ký số không hợp lệ",
    "20003": "Mã số thuế trong thông điệp không khớp với dữ liệu",
    "30001": "Mã số thuế không tồn tại hoặc không hoạt động",
    "30002": "Người nộp thuế chưa đăng ký sử dụng biên lai điện tử",
    "30003": "Chứng thư số chưa được đăng ký hoặc hết hiệu lực",
}
