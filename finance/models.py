"""Imported statements and their lines, discrepancies, and closed days."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.clock import utcnow
from core.db import Base, UTCDateTime

SOURCES = {
    # source: (label, payment channel its money belongs to)
    "bank-csv": ("Sao kê ngân hàng (CSV chung)", "vietqr"),
    "vcb-csv": ("Sao kê Vietcombank (CSV)", "vietqr"),
    "camt053": ("Sao kê ngân hàng ISO 20022 camt.053", "vietqr"),
    "vnpay-csv": ("Đối soát VNPAY (CSV)", "vnpay"),
    "momo-csv": ("Đối soát MoMo (CSV)", "momo"),
    "cod-csv": ("Bảng kê chuyển tiền COD của bưu chính (CSV)", "cod"),
    # Settlement reports: per transaction gross, fee and net; the bank credits each batch's net sum.
    "vnpay-settlement": ("Tệp đối soát thanh toán VNPAY (gộp theo ngày, trừ phí)", "vnpay"),
    "momo-settlement": ("Báo cáo quyết toán MoMo (gộp theo ngày, trừ phí)", "momo"),
    "cod-remittance": ("Bảng kê chuyển tiền COD (trừ cước và phí thu hộ)", "cod"),
}
SETTLEMENT_SOURCES = ("vnpay-settlement", "momo-settlement", "cod-remittance")
BANK_SOURCES = ("bank-csv", "vcb-csv", "camt053")

DISCREPANCY_TYPES = ("missing_ours", "missing_theirs", "amount_differs", "duplicate", "status_differs",
                     "late_settlement", "wrong_fee", "net_differs", "late_credit")
# What a settlement's deductions are booked as, per day and channel.
FEE_KINDS = {"gateway_fee": "Phí cổng thanh toán", "postage": "Cước bưu chính", "cod_fee": "Phí thu hộ COD"}
RESOLUTION_ACTIONS = ("link", "refund", "write_off", "accept")
# A statement import is validated in the request and matched by a background job (finance.imports).
IMPORT_STATES = ("queued", "running", "done", "failed")


class StatementImport(Base):
    """One imported file; the same file (by SHA-256) is imported once per centre."""

    __tablename__ = "statement_import"
    __table_args__ = (UniqueConstraint("centre_id", "sha256", name="uq_statement_import_centre_sha"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id"), index=True)
    source: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    imported_by: Mapped[str | None] = mapped_column(String(64))
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    line_count: Mapped[int] = mapped_column(Integer, default=0)
    matched_count: Mapped[int] = mapped_column(Integer, default=0)
    discrepancy_count: Mapped[int] = mapped_column(Integer, default=0)
    total_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    # queued -> running -> done | failed; `processed` of `line_count` lines are matched and committed.
    state: Mapped[str] = mapped_column(String(16), default="done", server_default="done", index=True)
    processed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    message: Mapped[str | None] = mapped_column(Text)  # why it failed, in Vietnamese
    raw_file: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)  # the file as uploaded
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the job's last committed batch
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    lines: Mapped[list[StatementLine]] = relationship(back_populates="statement", order_by="StatementLine.line_no")


class StatementLine(Base):
    """A line of an imported file, and the payment it was matched to (if any)."""

    __tablename__ = "statement_line"
    # A line is stored once per import: a re-run of a killed import job cannot add it twice.
    __table_args__ = (Index("ix_statement_line_reference", "reference"),
                      Index("uq_statement_line_import_line", "import_id", "line_no", unique=True))

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("statement_import.id"), index=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    line_no: Mapped[int] = mapped_column(Integer)
    value_date: Mapped[date] = mapped_column(Date, index=True)
    reference: Mapped[str] = mapped_column(String(128))
    order_ref: Mapped[str | None] = mapped_column(String(128))
    amount: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str | None] = mapped_column(Text)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"), index=True)
    # matched, duplicate, unmatched, mismatch (matched to a payment but with a difference)
    status: Mapped[str] = mapped_column(String(16))
    match_rule: Mapped[str | None] = mapped_column(String(32))
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    statement: Mapped[StatementImport] = relationship(back_populates="lines")


class Discrepancy(Base):
    """A difference between our payments and someone else's record of the money, for finance to resolve."""

    __tablename__ = "discrepancy"
    __table_args__ = (  # the discrepancy list's paging (finance.discrepancies), migration 0021
        Index("ix_discrepancy_centre_status_day", "centre_id", "status", "day", "id"),
        Index("ix_discrepancy_import_status_day", "import_id", "status", "day", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id"), index=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    type: Mapped[str] = mapped_column(String(24), index=True)
    channel: Mapped[str | None] = mapped_column(String(16))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"), index=True)
    line_id: Mapped[int | None] = mapped_column(ForeignKey("statement_line.id"), index=True)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("statement_import.id"))
    expected_amount: Mapped[int | None] = mapped_column(BigInteger)
    actual_amount: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open, resolved
    action: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    line: Mapped[StatementLine | None] = relationship()


class ClosedDay(Base):
    """A Vietnamese calendar day whose payments, receipts and matches are frozen for a centre."""

    __tablename__ = "closed_day"
    __table_args__ = (UniqueConstraint("centre_id", "day", name="uq_closed_day_centre_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id"))
    day: Mapped[date] = mapped_column(Date)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SettlementBatch(Base):
    """One payout of a gateway (a settlement day) or a carrier (a COD remittance): many transactions, their
    fees deducted, one bank credit of the net sum."""

    __tablename__ = "settlement_batch"
    __table_args__ = (UniqueConstraint("centre_id", "provider", "batch_ref", name="uq_settlement_batch_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id"), index=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("statement_import.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))     # vnpay, momo, cod
    provider: Mapped[str] = mapped_column(String(16))    # vnpay, momo, vnpost, viettelpost, ghn
    batch_ref: Mapped[str] = mapped_column(String(64))
    settle_day: Mapped[date] = mapped_column(Date, index=True)  # the transactions' day (gateway) or remittance day
    expected_credit: Mapped[date] = mapped_column(Date)
    line_count: Mapped[int] = mapped_column(Integer, default=0)
    gross: Mapped[int] = mapped_column(BigInteger, default=0)
    fee: Mapped[int] = mapped_column(BigInteger, default=0)
    net: Mapped[int] = mapped_column(BigInteger, default=0)
    # awaiting_credit, credited, late (expected date passed, no credit), net_differs (credited another sum)
    status: Mapped[str] = mapped_column(String(16), default="awaiting_credit", index=True)
    credit_line_id: Mapped[int | None] = mapped_column(ForeignKey("statement_line.id"))
    credited_on: Mapped[date | None] = mapped_column(Date)
    credited_amount: Mapped[int | None] = mapped_column(BigInteger)

    lines: Mapped[list[SettlementLine]] = relationship(back_populates="batch", order_by="SettlementLine.line_no")


class SettlementLine(Base):
    """A transaction of a settlement report (or a parcel of a remittance): gross, deductions, net."""

    __tablename__ = "settlement_line"
    __table_args__ = (Index("ix_settlement_line_reference", "reference"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("settlement_batch.id"), index=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    line_no: Mapped[int] = mapped_column(Integer)
    txn_day: Mapped[date] = mapped_column(Date, index=True)
    reference: Mapped[str] = mapped_column(String(128))  # vnp_TransactionNo, MoMo transId, tracking code
    order_ref: Mapped[str | None] = mapped_column(String(128))  # vnp_TxnRef, MoMo orderId, carrier order number
    gross: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger, default=0)     # gateway fee, or the carrier's COD fee
    postage: Mapped[int] = mapped_column(BigInteger, default=0)  # carrier postage deducted from COD
    net: Mapped[int] = mapped_column(BigInteger)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # matched, mismatch, unmatched, duplicate
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    batch: Mapped[SettlementBatch] = relationship(back_populates="lines")


class FeeBooking(Base):
    """What a settlement deducted, booked as an expense of its day and channel (gateway fee, postage, COD fee)."""

    __tablename__ = "fee_booking"
    __table_args__ = (UniqueConstraint("batch_id", "kind", name="uq_fee_booking_batch_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id"), index=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("settlement_batch.id"), index=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    channel: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
