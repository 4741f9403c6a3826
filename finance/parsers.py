"""Parsers for statements and settlement reports: each turns a file into plain lines or says which
line is wrong and why. Nothing here touches the database."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from core.clock import VN_TZ

# No statement line is a quadrillion đồng; beyond it the number is garbage (and would overflow BIGINT sums).
MAX_AMOUNT = 10**15


class ImportFormatError(ValueError):
    """Raised when a file cannot be imported; names the line (1-based, header included) and the reason."""

    def __init__(self, line_no: int | None, reason: str):
        self.line_no, self.reason = line_no, reason
        where = f"dòng {line_no}: " if line_no else ""
        super().__init__(f"{where}{reason}")


@dataclass(frozen=True)
class ParsedLine:
    line_no: int
    value_date: date
    reference: str
    amount: int
    description: str = ""
    order_ref: str | None = None
    raw: dict = field(default_factory=dict)


def _text(data: bytes) -> str:
    # UTF-16 only with its byte-order mark (Excel's "Unicode text"): without one, almost any even-length
    # bytes decode as UTF-16, and a Windows-1258 export would be refused for a "missing header" instead.
    encodings = ("utf-16",) if data.startswith((b"\xff\xfe", b"\xfe\xff")) else ("utf-8-sig",)
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:  # a binary file, or one PostgreSQL would refuse to store
            raise ImportFormatError(text[:text.index("\x00")].count("\n") + 1, "có ký tự NUL (tệp không phải văn bản)")
        return text
    raise ImportFormatError(None, "tệp không phải văn bản UTF-8")


def _amount(value: str, line_no: int) -> int:
    """Whole đồng: '200000', '200.000', '200,000' or '200000.00' — never a fraction of a đồng."""
    v = (value or "").strip().replace(" ", "").replace("₫", "").replace("VND", "").replace("đ", "")
    if not v:
        raise ImportFormatError(line_no, "thiếu số tiền")
    negative = v.startswith("-")
    v = v.lstrip("+-")
    if re.fullmatch(r"\d+[.,]00", v):
        v = v[:-3]
    if re.fullmatch(r"\d{1,3}([.,]\d{3})+", v):
        v = re.sub(r"[.,]", "", v)
    if not v.isdigit():
        raise ImportFormatError(line_no, f"số tiền không hợp lệ '{value}'")
    if len(v) > 16 or int(v) >= MAX_AMOUNT:
        raise ImportFormatError(line_no, f"số tiền quá lớn '{value}'")
    return -int(v) if negative else int(v)


def _date(value: str, line_no: int) -> date:
    v = (value or "").strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%Y-%m-%dT%H:%M:%S", "%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S",
                "%Y%m%d%H%M%S", "%d/%m/%Y %H:%M"):
        try:
            return datetime.strptime(v, fmt).date()
        except ValueError:
            continue
    raise ImportFormatError(line_no, f"ngày không hợp lệ '{value}'")


def _rows(data: bytes, required: list[str]) -> list[tuple[int, dict[str, str]]]:
    text = _text(data)
    sample = text[:2048]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    missing = [c for c in required if c not in header]
    if missing:
        raise ImportFormatError(1, f"thiếu cột {', '.join(missing)} (tiêu đề cần có: {', '.join(required)})")
    rows = []
    for i, row in enumerate(reader, start=2):
        if None in row:
            raise ImportFormatError(i, "thừa cột so với tiêu đề")
        if not any((v or "").strip() for v in row.values()):
            continue
        if any(row.get(c) is None for c in required):
            raise ImportFormatError(i, "thiếu cột so với tiêu đề")
        rows.append((i, {k: (v or "").strip() for k, v in row.items()}))
    if not rows:
        raise ImportFormatError(None, "tệp không có dòng giao dịch nào")
    return rows


def parse_bank_csv(data: bytes) -> list[ParsedLine]:
    """The generic bank CSV: `date,reference,amount,description` (date YYYY-MM-DD, amount in đồng)."""
    out = []
    for n, row in _rows(data, ["date", "reference", "amount", "description"]):
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["date"]):
            raise ImportFormatError(n, f"ngày phải có dạng YYYY-MM-DD, không phải '{row['date']}'")
        if not row["reference"]:
            raise ImportFormatError(n, "thiếu số tham chiếu")
        amount = _amount(row["amount"], n)
        if amount < 0:
            continue  # a debit (bank fee, transfer out, refund) is not a fee collection, as in the other statements
        out.append(ParsedLine(n, _date(row["date"], n), row["reference"], amount, row["description"], raw=row))
    return out


def parse_vcb_csv(data: bytes) -> list[ParsedLine]:
    """A Vietcombank-style statement export: credits only are money collected."""
    cols = ["Ngày giao dịch", "Số tham chiếu", "Số tiền ghi nợ", "Số tiền ghi có", "Mô tả"]
    out = []
    for n, row in _rows(data, cols):
        credit = row["Số tiền ghi có"]
        if not credit or credit in ("0", "-"):
            continue  # debits (fees, transfers out) are not fee collections
        out.append(ParsedLine(n, _date(row["Ngày giao dịch"], n), row["Số tham chiếu"], _amount(credit, n),
                              row["Mô tả"], raw=row))
    return out


def parse_vnpay_csv(data: bytes) -> list[ParsedLine]:
    """VNPAY merchant transaction report: vnp_TransactionNo, vnp_TxnRef, amount, pay date, status."""
    cols = ["Mã GD VNPAY", "Mã tham chiếu", "Số tiền", "Ngày thanh toán", "Trạng thái"]
    out = []
    for n, row in _rows(data, cols):
        if row["Trạng thái"].lower() not in ("thành công", "success", "00"):
            continue
        out.append(ParsedLine(n, _date(row["Ngày thanh toán"], n), row["Mã GD VNPAY"], _amount(row["Số tiền"], n),
                              row.get("Nội dung", ""), order_ref=row["Mã tham chiếu"], raw=row))
    return out


def parse_momo_csv(data: bytes) -> list[ParsedLine]:
    """MoMo for Business transaction report: transId, orderId, amount, time, result."""
    cols = ["Mã giao dịch MoMo", "Mã đơn hàng", "Số tiền", "Thời gian", "Trạng thái"]
    out = []
    for n, row in _rows(data, cols):
        if row["Trạng thái"].lower() not in ("thành công", "success", "0"):
            continue
        out.append(ParsedLine(n, _date(row["Thời gian"], n), row["Mã giao dịch MoMo"], _amount(row["Số tiền"], n),
                              row.get("Nội dung", ""), order_ref=row["Mã đơn hàng"], raw=row))
    return out


def parse_cod_csv(data: bytes) -> list[ParsedLine]:
    """A carrier's COD remittance list: tracking code, COD amount collected, delivery and remittance dates."""
    cols = ["Mã vận đơn", "Số tiền COD", "Ngày phát", "Ngày chuyển tiền"]
    out = []
    for n, row in _rows(data, cols):
        out.append(ParsedLine(n, _date(row["Ngày chuyển tiền"], n), row["Mã vận đơn"], _amount(row["Số tiền COD"], n),
                              f"Phát ngày {row['Ngày phát']}", order_ref=row.get("Mã đơn hàng") or None, raw=row))
    return out


def parse_camt053(data: bytes) -> list[ParsedLine]:
    """ISO 20022 camt.053 bank-to-customer statement (parsed by pycamt); credit entries only."""
    from lxml import etree
    from pycamt.parser import Camt053ParseError, Camt053Parser

    try:
        parser = Camt053Parser(data)
        transactions = parser.get_transactions()
    except (etree.XMLSyntaxError, Camt053ParseError, ValueError, AttributeError, TypeError, IndexError) as e:
        line = getattr(e, "lineno", None)
        raise ImportFormatError(line, f"tệp camt.053 không hợp lệ: {str(e) or 'không có sao kê (Stmt) nào'}") from e
    out = []
    for i, tx in enumerate(transactions, start=1):
        if tx.get("CreditDebitIndicator") != "CRDT" or tx.get("ReversalIndicator") == "true":
            continue
        if tx.get("Currency") not in (None, "VND"):
            raise ImportFormatError(i, f"giao dịch {i}: tiền tệ {tx.get('Currency')} không phải VND")
        reference = tx.get("TransactionID") or tx.get("EndToEndId")
        if not reference:
            raise ImportFormatError(i, f"giao dịch {i}: thiếu số tham chiếu (AcctSvcrRef)")
        day = tx.get("ValueDate") or tx.get("BookingDate")
        if not day:
            raise ImportFormatError(i, f"giao dịch {i}: thiếu ngày")
        description = tx.get("RemittanceInformationFull") or tx.get("RemittanceInformation") or \
            tx.get("AdditionalEntryInformation") or ""
        out.append(ParsedLine(i, _camt_day(day, i), reference, _amount(tx.get("Amount") or "", i), description,
                              raw={k: v for k, v in tx.items() if isinstance(v, str)}))
    if not out:
        raise ImportFormatError(None, "tệp camt.053 không có giao dịch ghi có nào")
    return out


def _camt_day(value: str, line_no: int) -> date:
    """A camt.053 date (`Dt`), or a date-time (`DtTm`) counted in its Vietnamese day when it carries an offset."""
    value = value.strip()
    if len(value) > 10:
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ImportFormatError(line_no, f"ngày không hợp lệ '{value}'") from None
        return when.astimezone(VN_TZ).date() if when.tzinfo else when.date()
    return _date(value, line_no)


PARSERS = {
    "bank-csv": parse_bank_csv,
    "vcb-csv": parse_vcb_csv,
    "camt053": parse_camt053,
    "vnpay-csv": parse_vnpay_csv,
    "momo-csv": parse_momo_csv,
    "cod-csv": parse_cod_csv,
}


def parse(source: str, data: bytes) -> list[ParsedLine]:
    try:
        parser = PARSERS[source]
    except KeyError:
        raise ImportFormatError(None, f"nguồn '{source}' không được hỗ trợ; chọn: {', '.join(PARSERS)}") from None
    lines = parser(data)
    if not lines:  # only debits, failed transactions or empty rows: nothing to reconcile
        raise ImportFormatError(None, "tệp không có giao dịch thu tiền nào")
    return lines
