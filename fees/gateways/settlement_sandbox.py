"""Settlement files as the gateways send them: one file per settlement day, per transaction its gross amount,
the gateway's fee and the net paid out; the day's net sum arrives as one bank credit whose description names
the batch. The sandbox builds them from its ledger (what it took as paid that Vietnamese day).

Sources: VNPAY's merchant terms describe the process (VNPAY sends the file of day T by e-mail/SFTP, the
merchant checks it, VNPAY pays the day's transactions minus its fee by the contract); the identifiers are
VNPAY's and MoMo's API fields (vnp_TmnCode, vnp_TxnRef, vnp_TransactionNo, vnp_BankCode; partnerCode,
orderId, transId). The column headers, the date formats, the batch reference and the bank transfer
description are not published: they are ASSUMED, each in the one block below per gateway (and in
docs/finance/settlements.md). finance.settlement_files reads these files with the same definitions.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from core.clock import VN_TZ
from fees.gateways import ledger

# ---- ASSUMED: VNPAY merchant reconciliation file (file đối soát) -------------------------------------------
VNPAY_COLUMNS = ("STT", "Mã đợt thanh toán", "vnp_TmnCode", "vnp_TxnRef", "vnp_TransactionNo", "vnp_BankCode",
                 "Ngày giao dịch", "Ngày thanh toán", "Số tiền giao dịch", "Phí giao dịch", "Số tiền thực nhận",
                 "Loại giao dịch")
VNPAY_TXN_TIME = "%d/%m/%Y %H:%M:%S"      # VNPAY's screens show dd/MM/yyyy HH:mm:ss (GMT+7)
VNPAY_SETTLE_DATE = "%d/%m/%Y"
VNPAY_PAYMENT_TYPE = "Thanh toán"         # refunds are listed as "Hoàn tiền" with negative amounts
VNPAY_CREDIT_DAYS = 1                     # T+1 by the usual contract


def vnpay_batch_ref(tmn_code: str, day: date) -> str:
    return f"VNP{tmn_code}{day:%Y%m%d}"


def vnpay_transfer_description(batch_ref: str) -> str:
    return f"VNPAY TT DOI SOAT {batch_ref}"
# ---- end of VNPAY assumptions -------------------------------------------------------------------------------


# ---- ASSUMED: MoMo settlement report (báo cáo quyết toán, MoMo for Business) -------------------------------
MOMO_COLUMNS = ("partnerCode", "settlementId", "orderId", "transId", "transType", "transTime", "amount", "fee",
                "settledAmount", "settleDate")
MOMO_TXN_TIME = "%Y-%m-%d %H:%M:%S"
MOMO_SETTLE_DATE = "%Y-%m-%d"
MOMO_PAYMENT_TYPE = "payment"             # refunds: "refund", negative amounts
MOMO_CREDIT_DAYS = 1


def momo_batch_ref(partner_code: str, day: date) -> str:
    return f"MM{partner_code}{day:%Y%m%d}"


def momo_transfer_description(batch_ref: str) -> str:
    return f"MOMO QUYET TOAN {batch_ref}"
# ---- end of MoMo assumptions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeeRate:
    """A fee contract: a share of the amount (in hundredths of a percent) plus a fixed sum, rounded half up."""

    basis_points: int
    fixed: int = 0

    def fee(self, amount: int) -> int:
        return (amount * self.basis_points + 5_000) // 10_000 + self.fixed

    @classmethod
    def parse(cls, text: str) -> FeeRate:
        """'1.1%', '1.1%+1650', '0%'."""
        rate, _, fixed = text.strip().partition("+")
        percent = rate.strip().rstrip("%")
        whole, _, frac = percent.partition(".")
        bp = int(whole or 0) * 100 + int((frac + "00")[:2] or 0)
        return cls(bp, int(fixed or 0))


@dataclass(frozen=True)
class SettlementFile:
    gateway: str
    batch_ref: str
    day: date
    credit_day: date
    gross: int
    fee: int
    net: int
    count: int
    data: bytes
    description: str  # what the bank statement says for the credit


def _vn_day(pay_date: str | None) -> tuple[date, datetime] | None:
    if not pay_date:
        return None
    when = datetime.strptime(pay_date, "%Y%m%d%H%M%S").replace(tzinfo=VN_TZ)
    return when.date(), when


def _paid_on(gateway: str, day: date) -> list[tuple[ledger.SandboxTxn, datetime]]:
    out = []
    for txn in ledger.all_of(gateway):
        got = _vn_day(txn.pay_date) if txn.status == "paid" or txn.refunded else None
        if got and got[0] == day and txn.transaction_no:
            out.append((txn, got[1]))
    out.sort(key=lambda t: (t[1], t[0].order_id))
    return out


def _write(columns: tuple[str, ...], rows: list[list]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(columns)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8-sig")


def vnpay_settlement(day: date, *, tmn_code: str, rate: FeeRate, fee_overrides: dict[str, int] | None = None,
                     omit: set[str] | frozenset = frozenset()) -> SettlementFile:
    """The file VNPAY sends for day `day` (Vietnamese calendar day of vnp_PayDate).

    fee_overrides (vnp_TxnRef -> fee) and omit (vnp_TxnRefs left out) let a test show a gateway's mistake."""
    batch = vnpay_batch_ref(tmn_code, day)
    settle = day + timedelta(days=VNPAY_CREDIT_DAYS)
    rows, gross, fees = [], 0, 0
    for txn, when in _paid_on("vnpay", day):
        if txn.order_id in omit or txn.data.get("tmn_code", tmn_code) != tmn_code:
            continue
        fee = (fee_overrides or {}).get(txn.order_id, rate.fee(txn.amount))
        rows.append([len(rows) + 1, batch, tmn_code, txn.order_id, txn.transaction_no, txn.data.get("bank_code", "NCB"),
                     when.strftime(VNPAY_TXN_TIME), settle.strftime(VNPAY_SETTLE_DATE), txn.amount, fee,
                     txn.amount - fee, VNPAY_PAYMENT_TYPE])
        gross, fees = gross + txn.amount, fees + fee
    return SettlementFile("vnpay", batch, day, settle, gross, fees, gross - fees, len(rows),
                          _write(VNPAY_COLUMNS, rows), vnpay_transfer_description(batch))


def momo_settlement(day: date, *, partner_code: str, rate: FeeRate, fee_overrides: dict[str, int] | None = None,
                    omit: set[str] | frozenset = frozenset()) -> SettlementFile:
    """MoMo's settlement report for day `day` (the Vietnamese day the wallet payment succeeded)."""
    batch = momo_batch_ref(partner_code, day)
    settle = day + timedelta(days=MOMO_CREDIT_DAYS)
    rows, gross, fees = [], 0, 0
    for txn, when in _paid_on("momo", day):
        if txn.order_id in omit:
            continue
        fee = (fee_overrides or {}).get(txn.order_id, rate.fee(txn.amount))
        rows.append([partner_code, batch, txn.order_id, txn.transaction_no, MOMO_PAYMENT_TYPE,
                     when.strftime(MOMO_TXN_TIME), txn.amount, fee, txn.amount - fee, settle.strftime(MOMO_SETTLE_DATE)])
        gross, fees = gross + txn.amount, fees + fee
    return SettlementFile("momo", batch, day, settle, gross, fees, gross - fees, len(rows),
                          _write(MOMO_COLUMNS, rows), momo_transfer_description(batch))


def settlement_file(gateway: str, day: date, *, merchant: str, rate: FeeRate, **faults) -> SettlementFile:
    if gateway == "vnpay":
        return vnpay_settlement(day, tmn_code=merchant, rate=rate, **faults)
    if gateway == "momo":
        return momo_settlement(day, partner_code=merchant, rate=rate, **faults)
    raise ValueError(f"no settlement file for {gateway}")
