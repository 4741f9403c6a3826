"""Settlement reports and COD remittances read into batches (one payout each) of transactions with their gross,
deductions and net; and the carriers' remittance files made from the carrier sandbox's parcels.

The gateways' formats are defined (and their assumptions marked) in fees.gateways.settlement_sandbox, which writes
them; the carriers' remittance format is defined (and its assumptions marked) here. Nothing here touches the
database."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from core.clock import VN_TZ
from fees.gateways import settlement_sandbox as gw
from finance.parsers import ImportFormatError, _amount, _rows

# ---- ASSUMED: carriers' COD remittance list (bảng kê đối soát/chuyển tiền COD) -------------------------------
# VNPost, Viettel Post and GHN each export the remittance of a period from their customer portal (GHN: "COD và
# đối soát", one sheet of parcels with the fee it kept); the per-parcel facts are theirs (tracking code, COD
# collected, postage, COD fee, net), the header labels below are one common shape we assume for all three.
COD_COLUMNS = ("Đơn vị vận chuyển", "Mã bảng kê", "Ngày chuyển tiền", "Mã vận đơn", "Mã đơn hàng", "Ngày phát",
               "Tiền thu hộ", "Cước phí", "Phí thu hộ", "Thực chuyển")
COD_DATE = "%d/%m/%Y"
CARRIER_NAMES = {"vnpost": "VNPOST", "viettelpost": "VIETTELPOST", "ghn": "GHN"}


def cod_transfer_description(carrier: str, batch_ref: str) -> str:
    return f"{CARRIER_NAMES.get(carrier, carrier.upper())} CHUYEN TIEN COD {batch_ref}"


def cod_fee_of(cod_amount: int) -> int:
    """The sandbox carriers' COD fee (carriers.sandbox.sandbox_fee): 0.5% of the COD, at least 5.000 đ."""
    return max(5000, cod_amount // 200) if cod_amount else 0
# ---- end of COD remittance assumptions -----------------------------------------------------------------------


@dataclass(frozen=True)
class SettlementTxn:
    line_no: int
    txn_day: date
    reference: str
    order_ref: str | None
    gross: int
    fee: int
    postage: int
    net: int
    raw: dict = field(default_factory=dict)


@dataclass
class ParsedBatch:
    provider: str
    batch_ref: str
    settle_day: date
    expected_credit: date
    lines: list[SettlementTxn] = field(default_factory=list)
    description: str = ""

    @property
    def gross(self) -> int:
        return sum(x.gross for x in self.lines)

    @property
    def fee(self) -> int:
        return sum(x.fee + x.postage for x in self.lines)

    @property
    def net(self) -> int:
        return sum(x.net for x in self.lines)


def _day(value: str, fmt: str, n: int) -> datetime:
    try:
        return datetime.strptime(value.strip(), fmt)
    except ValueError:
        raise ImportFormatError(n, f"ngày không hợp lệ '{value}' (cần dạng {fmt})") from None


def _batches(items: list[tuple[str, str, date, date, SettlementTxn]]) -> list[ParsedBatch]:
    out: dict[tuple[str, str], ParsedBatch] = {}
    for provider, ref, day, credit, line in items:
        b = out.setdefault((provider, ref), ParsedBatch(provider, ref, day, credit))
        b.settle_day, b.expected_credit = min(b.settle_day, day), max(b.expected_credit, credit)
        b.lines.append(line)
    if not out:
        raise ImportFormatError(None, "tệp không có giao dịch thanh toán nào")
    return list(out.values())


def parse_vnpay_settlement(data: bytes) -> list[ParsedBatch]:
    items = []
    for n, row in _rows(data, list(gw.VNPAY_COLUMNS)):
        if row["Loại giao dịch"] != gw.VNPAY_PAYMENT_TYPE:
            continue  # refunds are reconciled with the refunds, not the day's takings
        when = _day(row["Ngày giao dịch"], gw.VNPAY_TXN_TIME, n).date()
        settle = _day(row["Ngày thanh toán"], gw.VNPAY_SETTLE_DATE, n).date()
        gross, fee, net = (_amount(row[c], n) for c in ("Số tiền giao dịch", "Phí giao dịch", "Số tiền thực nhận"))
        if not row["vnp_TransactionNo"] or not row["vnp_TxnRef"] or not row["Mã đợt thanh toán"]:
            raise ImportFormatError(n, "thiếu vnp_TransactionNo, vnp_TxnRef hoặc mã đợt thanh toán")
        line = SettlementTxn(n, when, row["vnp_TransactionNo"], row["vnp_TxnRef"], gross, fee, 0, net, raw=row)
        items.append(("vnpay", row["Mã đợt thanh toán"], when, settle, line))
    batches = _batches(items)
    for b in batches:
        b.description = gw.vnpay_transfer_description(b.batch_ref)
    return batches


def parse_momo_settlement(data: bytes) -> list[ParsedBatch]:
    items = []
    for n, row in _rows(data, list(gw.MOMO_COLUMNS)):
        if row["transType"] != gw.MOMO_PAYMENT_TYPE:
            continue
        when = _day(row["transTime"], gw.MOMO_TXN_TIME, n).date()
        settle = _day(row["settleDate"], gw.MOMO_SETTLE_DATE, n).date()
        gross, fee, net = (_amount(row[c], n) for c in ("amount", "fee", "settledAmount"))
        if not row["transId"] or not row["orderId"] or not row["settlementId"]:
            raise ImportFormatError(n, "thiếu transId, orderId hoặc settlementId")
        line = SettlementTxn(n, when, row["transId"], row["orderId"], gross, fee, 0, net, raw=row)
        items.append(("momo", row["settlementId"], when, settle, line))
    batches = _batches(items)
    for b in batches:
        b.description = gw.momo_transfer_description(b.batch_ref)
    return batches


def parse_cod_remittance(data: bytes) -> list[ParsedBatch]:
    items = []
    for n, row in _rows(data, list(COD_COLUMNS)):
        carrier = row["Đơn vị vận chuyển"].strip().lower().replace(" ", "")
        if carrier not in CARRIER_NAMES:
            raise ImportFormatError(n, f"đơn vị vận chuyển '{row['Đơn vị vận chuyển']}' không được hỗ trợ "
                                       f"({', '.join(CARRIER_NAMES)})")
        delivered = _day(row["Ngày phát"], COD_DATE, n).date()
        remitted = _day(row["Ngày chuyển tiền"], COD_DATE, n).date()
        gross, postage, fee, net = (_amount(row[c], n) for c in ("Tiền thu hộ", "Cước phí", "Phí thu hộ", "Thực chuyển"))
        if not row["Mã vận đơn"] or not row["Mã bảng kê"]:
            raise ImportFormatError(n, "thiếu mã vận đơn hoặc mã bảng kê")
        line = SettlementTxn(n, delivered, row["Mã vận đơn"], row["Mã đơn hàng"] or None, gross, fee, postage, net,
                             raw=row)
        items.append((carrier, row["Mã bảng kê"], remitted, remitted, line))
    batches = _batches(items)
    for b in batches:
        b.description = cod_transfer_description(b.provider, b.batch_ref)
    return batches


PARSERS = {"vnpay-settlement": parse_vnpay_settlement, "momo-settlement": parse_momo_settlement,
           "cod-remittance": parse_cod_remittance}


# -- the carrier sandboxes' remittances ------------------------------------------------------------------------

@dataclass(frozen=True)
class RemittanceFile:
    carrier: str
    batch_ref: str
    remit_day: date
    gross: int
    postage: int
    cod_fee: int
    net: int
    count: int
    data: bytes
    description: str


def cod_remittance(store, carrier: str, start: date, end: date, *, remit_day: date | None = None,
                   omit: set[str] | frozenset = frozenset()) -> RemittanceFile:
    """The remittance of `carrier` for parcels delivered (with COD collected) from `start` to `end`, Vietnamese
    days, read from a carriers.sandbox.SandboxStore (read only); paid out the next day unless `remit_day`."""
    remit_day = remit_day or end + timedelta(days=1)
    batch = f"BK{CARRIER_NAMES[carrier][:3]}{start:%y%m%d}{end:%y%m%d}"
    rows, totals = [], defaultdict(int)
    for ev in store.feed(carrier, 0, limit=1_000_000):
        if ev.status != "delivered" or not ev.cod_collected or ev.tracking_code in omit:
            continue
        delivered = ev.at.astimezone(VN_TZ).date()
        if not start <= delivered <= end:
            continue
        parcel = store.get(carrier, ev.tracking_code)
        cod_fee = cod_fee_of(parcel.cod_amount)
        postage = parcel.fee - cod_fee
        net = ev.cod_collected - postage - cod_fee
        rows.append([CARRIER_NAMES[carrier], batch, remit_day.strftime(COD_DATE), ev.tracking_code,
                     parcel.order_number, delivered.strftime(COD_DATE), ev.cod_collected, postage, cod_fee, net])
        for k, v in (("gross", ev.cod_collected), ("postage", postage), ("cod_fee", cod_fee), ("net", net)):
            totals[k] += v
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(COD_COLUMNS)
    w.writerows(rows)
    return RemittanceFile(carrier, batch, remit_day, totals["gross"], totals["postage"], totals["cod_fee"],
                          totals["net"], len(rows), buf.getvalue().encode("utf-8-sig"),
                          cod_transfer_description(carrier, batch))
