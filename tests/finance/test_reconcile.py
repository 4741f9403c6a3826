"""A finance officer's day: import the bank statement, see what does not match, resolve it, close."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from core import audit
from core.clock import local_day
from core.errors import Conflict, InvalidInput
from finance.closing import DayClosedError, close_day
from finance.models import Discrepancy, StatementImport, StatementLine
from finance.reconcile import import_statement, resolve_discrepancy
from tests.finance.factories import paid_payment

OFFICER = audit.Actor(type="user", id="7", name="ketoan")


def bank_csv(rows):
    return ("date,reference,amount,description\n" + "".join(f"{d},{r},{a},{t}\n" for d, r, a, t in rows)).encode()


def test_a_statement_with_four_problems_yields_exactly_those_four(session, centre):
    day = local_day() - timedelta(days=1)
    ok = [paid_payment(session, on=day) for _ in range(5)]
    missing = paid_payment(session, on=day)                       # not in the bank's file
    off = paid_payment(session, on=day, amount=150_000)           # bank credited 1.000 đ less
    duplicated = paid_payment(session, on=day, amount=50_000)     # the bank lists it twice
    rows = [(day, f"FT{i}", p.paid_amount, f"HCC {p.code} nop phi") for i, p in enumerate(ok)]
    rows += [(day, "FT-OFF", 149_000, f"HCC {off.code}"),
             (day, "FT-DUP", 50_000, f"HCC {duplicated.code}"), (day, "FT-DUP", 50_000, f"HCC {duplicated.code}"),
             (day, "FT-UNKNOWN", 300_000, "chuyen tien khong ro noi dung")]
    result = import_statement(session, centre.id, "bank-csv", "saoke.csv", bank_csv(rows), OFFICER)
    session.commit()

    assert result.summary_line == "matched: 6, discrepancies: 4"
    found = {(d.type, d.payment_id) for d in session.scalars(select(Discrepancy))}
    unknown_line = session.scalars(select(StatementLine).where(StatementLine.reference == "FT-UNKNOWN")).one()
    assert found == {("missing_theirs", missing.id), ("amount_differs", off.id), ("duplicate", duplicated.id),
                     ("missing_ours", None)}
    amount = session.scalars(select(Discrepancy).where(Discrepancy.type == "amount_differs")).one()
    assert (amount.expected_amount, amount.actual_amount) == (150_000, 149_000)
    assert session.scalars(select(Discrepancy).where(Discrepancy.type == "missing_ours")).one().line_id == unknown_line.id


def test_importing_the_same_file_twice_changes_nothing(session, centre):
    from core.models import AuditLog

    day = local_day() - timedelta(days=1)
    p = paid_payment(session, on=day)
    paid_payment(session, on=day)  # not in the file: missing on theirs
    data = bank_csv([(day, "FT1", p.paid_amount, f"HCC {p.code}"), (day, "FT2", 7_000, "khong ro")])

    def state():
        return (sorted((d.type, d.payment_id, d.line_id, d.status) for d in session.scalars(select(Discrepancy))),
                sorted((x.reference, x.status, x.payment_id) for x in session.scalars(select(StatementLine))),
                session.query(StatementImport).count(), session.query(AuditLog).count())

    first = import_statement(session, centre.id, "bank-csv", "a.csv", data, OFFICER)
    session.commit()
    before = state()
    second = import_statement(session, centre.id, "bank-csv", "a-again.csv", data, OFFICER)
    session.commit()
    assert not second.created and second.statement.id == first.statement.id
    assert (second.matched, second.discrepancies) == (first.matched, first.discrepancies) == (1, 2)
    assert state() == before and before[2] == 1 and len(before[1]) == 2


def test_a_malformed_line_refuses_the_whole_file_naming_the_line(session, centre):
    data = b"date,reference,amount,description\n2026-11-01,FT1,200000,ok\n2026-11-01,FT2,hai tram,bad\n"
    with pytest.raises(InvalidInput) as e:
        import_statement(session, centre.id, "bank-csv", "bad.csv", data, OFFICER)
    assert "dòng 3" in str(e.value) and "hai tram" in str(e.value)
    assert e.value.errors["line"] == ["3"]
    session.rollback()
    assert session.query(StatementImport).count() == 0 and session.query(StatementLine).count() == 0


def test_a_debit_on_the_statement_is_not_money_collected(session, centre):
    day = local_day() - timedelta(days=1)
    p = paid_payment(session, on=day)
    data = bank_csv([(day, "FT1", p.paid_amount, f"HCC {p.code}"),
                     (day, "FT2", -p.paid_amount, f"Hoan tien HCC {p.code}"), (day, "FEE", "-11000", "Phi SMS")])
    result = import_statement(session, centre.id, "bank-csv", "debit.csv", data, OFFICER)
    assert (result.matched, result.discrepancies) == (1, 0)
    assert (result.statement.line_count, result.statement.total_amount) == (1, p.paid_amount)


def test_a_file_with_nothing_collected_is_refused_not_a_500(session, centre):
    files = {"vcb-csv": "Ngày giao dịch,Số tham chiếu,Số tiền ghi nợ,Số tiền ghi có,Mô tả\n01/11/2026,X,5000,0,phi\n",
             "vnpay-csv": "Mã GD VNPAY,Mã tham chiếu,Số tiền,Ngày thanh toán,Trạng thái\n1,X,100,01/11/2026,Thất bại\n",
             "bank-csv": "date,reference,amount,description\n2026-11-01,FEE,-11000,Phi SMS\n"}
    for source, text in files.items():
        with pytest.raises(InvalidInput, match="không có giao dịch thu tiền"):
            import_statement(session, centre.id, source, "rong.csv", text.encode(), OFFICER)
        session.rollback()
    assert session.query(StatementImport).count() == 0


def test_a_gateway_settlement_matches_on_the_transaction_number(session, centre):
    day = local_day() - timedelta(days=1)
    p = paid_payment(session, channel="vnpay", channel_ref="14226112", on=day)
    data = ("Mã GD VNPAY,Mã tham chiếu,Số tiền,Ngày thanh toán,Trạng thái\n"
            f"14226112,{p.code},{p.paid_amount},{day:%d/%m/%Y} 10:01:02,Thành công\n").encode()
    result = import_statement(session, centre.id, "vnpay-csv", "vnpay.csv", data, OFFICER)
    assert (result.matched, result.discrepancies) == (1, 0)


def test_money_paid_twice_through_two_channels_is_a_duplicate_not_a_match(session, centre):
    # Paid by VNPAY, then the citizen also transferred by VietQR with the code in the description.
    day = local_day() - timedelta(days=1)
    p = paid_payment(session, channel="vnpay", channel_ref="14226113", on=day)
    bank = import_statement(session, centre.id, "bank-csv", "bank.csv",
                            bank_csv([(day, "FT88", p.paid_amount, f"HCC {p.code}")]), OFFICER)
    assert (bank.matched, bank.discrepancies) == (0, 1)
    d = session.scalars(select(Discrepancy)).one()
    assert (d.type, d.payment_id, d.actual_amount) == ("duplicate", p.id, p.paid_amount)
    # VNPAY's own settlement still matches the payment it settled.
    vnpay = import_statement(session, centre.id, "vnpay-csv", "vnpay.csv", (
        "Mã GD VNPAY,Mã tham chiếu,Số tiền,Ngày thanh toán,Trạng thái\n"
        f"14226113,{p.code},{p.paid_amount},{day:%d/%m/%Y} 10:01:02,Thành công\n").encode(), OFFICER)
    assert (vnpay.matched, vnpay.discrepancies) == (1, 0)


def test_a_bank_reference_equal_to_another_channels_transaction_number_is_not_a_match(session, centre):
    day = local_day() - timedelta(days=1)
    paid_payment(session, channel="vnpay", channel_ref="14226114", on=day, amount=100_000)
    result = import_statement(session, centre.id, "bank-csv", "bank.csv",
                              bank_csv([(day, "14226114", 100_000, "chuyen tien")]), OFFICER)
    assert (result.matched, result.discrepancies) == (0, 1)
    assert session.scalars(select(Discrepancy.type)).all() == ["missing_ours"]


def test_cod_remittance_matches_on_the_tracking_code(session, centre):
    day = local_day() - timedelta(days=2)
    paid_payment(session, channel="cod", channel_ref="EB123456789VN", on=day, amount=75_000)
    data = ("Mã vận đơn,Số tiền COD,Ngày phát,Ngày chuyển tiền\n"
            f"EB123456789VN,75.000,{day:%d/%m/%Y},{day + timedelta(days=1):%d/%m/%Y}\n").encode()
    result = import_statement(session, centre.id, "cod-csv", "cod.csv", data, OFFICER)
    assert (result.matched, result.discrepancies) == (1, 0)


def test_late_money_is_a_late_settlement(session, centre):
    day = local_day() - timedelta(days=9)
    p = paid_payment(session, on=day)
    data = bank_csv([(day + timedelta(days=6), "FT9", p.paid_amount, f"{p.code}")])
    result = import_statement(session, centre.id, "bank-csv", "late.csv", data, OFFICER, late_days=3)
    assert result.matched == 1
    assert session.scalars(select(Discrepancy.type)).all() == ["late_settlement"]


def test_resolving_needs_an_action_and_a_note_and_is_audited(session, centre):
    day = local_day() - timedelta(days=1)
    p = paid_payment(session, on=day)
    import_statement(session, centre.id, "bank-csv", "x.csv", bank_csv([(day, "FT7", p.paid_amount, "khong ma")]),
                     OFFICER)
    d = session.scalars(select(Discrepancy).where(Discrepancy.type == "missing_ours")).one()
    with pytest.raises(InvalidInput) as e:
        resolve_discrepancy(session, d.id, centre.id, action="link", note="", actor=OFFICER)
    assert "note" in e.value.errors
    resolve_discrepancy(session, d.id, centre.id, action="link", note="Người nộp ghi thiếu mã", actor=OFFICER,
                        payment_code=p.code)
    session.commit()
    assert d.status == "resolved" and d.line.payment_id == p.id
    with pytest.raises(Conflict):
        resolve_discrepancy(session, d.id, centre.id, action="accept", note="lần hai", actor=OFFICER)


def test_linking_money_to_a_payment_needs_its_amount_and_no_other_match(session, centre):
    day = local_day() - timedelta(days=1)
    p = paid_payment(session, on=day)
    import_statement(session, centre.id, "bank-csv", "l.csv",
                     bank_csv([(day, "FT1", p.paid_amount, f"HCC {p.code}"), (day, "FT2", p.paid_amount, "khong ma"),
                               (day, "FT3", 5_000, "khong ma")]), OFFICER)
    again = session.scalars(select(Discrepancy).join(StatementLine).where(StatementLine.reference == "FT2")).one()
    small = session.scalars(select(Discrepancy).join(StatementLine).where(StatementLine.reference == "FT3")).one()
    with pytest.raises(InvalidInput, match="already matched"):  # the citizen's second transfer is not the first's
        resolve_discrepancy(session, again.id, centre.id, action="link", note="nhầm", actor=OFFICER,
                            payment_code=p.code)
    with pytest.raises(InvalidInput, match="amount differs"):
        resolve_discrepancy(session, small.id, centre.id, action="link", note="nhầm", actor=OFFICER,
                            payment_code=p.code)
    assert {again.status, small.status} == {"open"}
    resolve_discrepancy(session, again.id, centre.id, action="refund", note="Nộp hai lần, hoàn lại", actor=OFFICER)


def test_a_closed_day_refuses_changes_to_its_payments_and_discrepancies(session, centre):
    day = local_day() - timedelta(days=1)
    p = paid_payment(session, on=day)
    import_statement(session, centre.id, "bank-csv", "y.csv",
                     bank_csv([(day, "FT1", p.paid_amount, p.code), (day, "FT2", 10_000, "la")]), OFFICER)
    session.commit()
    stray = session.scalars(select(Discrepancy)).one()
    with pytest.raises(Conflict, match="chưa xử lý"):
        close_day(session, centre.id, day, OFFICER)
    resolve_discrepancy(session, stray.id, centre.id, action="write_off", note="Tiền nhầm, đã trả lại", actor=OFFICER)
    close_day(session, centre.id, day, OFFICER)
    session.commit()

    p.paid_amount = p.paid_amount - 1
    with pytest.raises(DayClosedError, match="khoá sổ"):
        session.flush()
    session.rollback()
    with pytest.raises(Conflict, match="đã khoá sổ"):
        close_day(session, centre.id, day, OFFICER)


def test_a_closed_days_payment_cannot_be_unpaid_moved_or_given_another_fee_line(session, centre):
    from datetime import datetime

    from fees.models import PaymentItem

    day = local_day() - timedelta(days=1)
    p = paid_payment(session, on=day)
    other = paid_payment(session)  # paid today, an open day
    session.commit()
    close_day(session, centre.id, day, OFFICER)
    session.commit()

    p.paid_at = None  # would drop it from the closed day's totals
    with pytest.raises(DayClosedError):
        session.flush()
    session.rollback()
    other.paid_at = datetime.combine(day, p.paid_at.time(), tzinfo=p.paid_at.tzinfo)  # would add it to them
    with pytest.raises(DayClosedError):
        session.flush()
    session.rollback()
    item = p.items[0]
    session.add(PaymentItem(payment=p, fee_type_id=item.fee_type_id, fee_code=item.fee_code, name=item.name,
                            kind=item.kind, unit_amount=1_000, quantity=1, amount=1_000))
    with pytest.raises(DayClosedError):
        session.flush()
    session.rollback()


def test_a_closed_days_resolved_discrepancy_cannot_be_reopened(session, centre):
    day = local_day() - timedelta(days=1)
    import_statement(session, centre.id, "bank-csv", "w.csv", bank_csv([(day, "FT3", 10_000, "la")]), OFFICER)
    d = session.scalars(select(Discrepancy)).one()
    resolve_discrepancy(session, d.id, centre.id, action="write_off", note="Tiền nhầm, đã trả lại", actor=OFFICER)
    close_day(session, centre.id, day, OFFICER)
    session.commit()
    d.status, d.action = "open", None
    with pytest.raises(DayClosedError):
        session.flush()
    session.rollback()


def test_today_cannot_be_closed_before_it_is_over(session, centre):
    with pytest.raises(Conflict, match="đã kết thúc"):
        close_day(session, centre.id, local_day(), OFFICER)


def test_money_for_a_closed_day_is_booked_today(session, centre):
    day = local_day() - timedelta(days=2)
    close_day(session, centre.id, day, OFFICER, allow_empty=True)
    import_statement(session, centre.id, "bank-csv", "z.csv", bank_csv([(day, "FT5", 99_000, "khong ro")]), OFFICER)
    assert session.scalars(select(Discrepancy.day)).one() == local_day()


def test_a_day_with_nothing_on_its_books_closes_only_when_the_officer_confirms_it(session, centre):
    from finance.closing import EmptyDayError, is_closed

    sunday = local_day() - timedelta(days=3)   # nothing was collected, refunded or imported that day
    with pytest.raises(EmptyDayError, match="không có khoản thu"):
        close_day(session, centre.id, sunday, OFFICER)
    assert not is_closed(session, centre.id, sunday)
    closed = close_day(session, centre.id, sunday, OFFICER, allow_empty=True)
    session.commit()
    assert is_closed(session, centre.id, sunday) and closed.summary["payments"] == 0


def test_a_day_with_only_a_statement_line_is_not_empty(session, centre):
    day = local_day() - timedelta(days=1)
    import_statement(session, centre.id, "bank-csv", "a.csv", bank_csv([(day, "FT9", 10_000, "la")]), OFFICER)
    d = session.scalars(select(Discrepancy)).one()
    resolve_discrepancy(session, d.id, centre.id, action="write_off", note="Tiền nhầm, đã trả lại", actor=OFFICER)
    assert close_day(session, centre.id, day, OFFICER).day == day   # no confirmation needed


def test_camt053_statement(session, centre):
    day = local_day() - timedelta(days=1)
    p = paid_payment(session, on=day, amount=100_000)
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>STMT-1</MsgId><CreDtTm>{day}T23:00:00</CreDtTm></GrpHdr>
<Stmt><Id>1</Id><Acct><Id><Othr><Id>0011001234567</Id></Othr></Id><Ccy>VND</Ccy></Acct>
<Ntry><Amt Ccy="VND">100000</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt><AcctSvcrRef>FT24001</AcctSvcrRef>
<NtryDtls><TxDtls><Refs><EndToEndId>E2E1</EndToEndId></Refs><Amt Ccy="VND">100000</Amt>
<RmtInf><Ustrd>HCC {p.code} NOP LE PHI</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
<Ntry><Amt Ccy="VND">5000</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>{day}</Dt></BookgDt>
<AcctSvcrRef>FEE1</AcctSvcrRef></Ntry>
</Stmt></BkToCstmrStmt></Document>""".encode()
    result = import_statement(session, centre.id, "camt053", "stmt.xml", xml, OFFICER)
    assert (result.matched, result.discrepancies) == (1, 0)




def test_a_camt053_date_time_in_utc_counts_in_its_vietnamese_day():
    from datetime import date

    from finance.parsers import parse_camt053

    def entry(ref, when):
        return (f'<Ntry><Amt Ccy="VND">100000</Amt><CdtDbtInd>CRDT</CdtDbtInd><ValDt><DtTm>{when}</DtTm></ValDt>'
                f"<AcctSvcrRef>{ref}</AcctSvcrRef></Ntry>")

    xml = ('<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt>'
           + entry("LATE", "2026-11-23T16:30:00Z")      # 23:30 on the 23rd in Vietnam
           + entry("EARLY", "2026-11-23T17:30:00Z")     # 00:30 on the 24th in Vietnam
           + entry("LOCAL", "2026-11-23T23:30:00+07:00")
           + "</Stmt></BkToCstmrStmt></Document>").encode()
    days = {line.reference: line.value_date for line in parse_camt053(xml)}
    assert days == {"LATE": date(2026, 11, 23), "EARLY": date(2026, 11, 24), "LOCAL": date(2026, 11, 23)}


def test_a_closed_days_receipt_cannot_be_edited_but_can_be_cancelled_today(session, centre):
    from sqlalchemy import update

    from receipts.issuance import cancel_receipt, receipt_id_for_payment
    from receipts.models import Receipt
    from tests.receipts.factories import paid_payment as paid_with_receipt

    p = paid_with_receipt(session)
    receipt = session.get(Receipt, receipt_id_for_payment(session, p.id))
    yesterday = local_day() - timedelta(days=1)
    from core.clock import day_bounds_utc

    noon = day_bounds_utc(yesterday)[0] + timedelta(hours=5)
    session.execute(update(Receipt).where(Receipt.id == receipt.id).values(issued_at=noon, collected_at=noon))
    session.commit()
    close_day(session, centre.id, yesterday, OFFICER)
    session.commit()
    session.refresh(receipt)

    receipt.amount = receipt.amount + 1000
    with pytest.raises(DayClosedError, match="Biên lai số"):
        session.flush()
    session.rollback()
    # A cancellation is a correction made today, referring back: allowed.
    cancel_receipt(session, receipt.id, reason="Thu nhầm hồ sơ, hoàn trả người nộp", actor=OFFICER)
    session.commit()
    assert session.get(Receipt, receipt.id).status == "cancelled"


def test_over_the_api_an_empty_day_needs_allow_empty(client, session):
    from tests.factories import bearer, make_api_key

    key = make_api_key(session, roles=("finance",))
    sunday = local_day() - timedelta(days=3)
    url = f"/api/v1/reconciliation/days/{sunday}/close"
    refused = client.post(url, headers=bearer(key))
    assert refused.status_code == 409 and refused.json["type"] == "urn:hcc:problem:day-empty"
    assert client.post(url, json={"allow_empty": False}, headers=bearer(key)).status_code == 409
    closed = client.post(url, json={"allow_empty": True}, headers=bearer(key))
    assert closed.status_code == 201 and closed.json["day"] == sunday.isoformat()
    assert client.post(url, json={"allow_empty": True}, headers=bearer(key)).json["type"].endswith("already-closed")


def test_on_the_finance_page_an_empty_day_needs_the_box_ticked(client, session, centre):
    from finance.closing import is_closed
    from tests.factories import csrf_token, make_user, sign_in

    user = make_user(session, roles=("finance",))
    sign_in(client, user.username)
    sunday = local_day() - timedelta(days=3)
    page = client.post("/staff/finance/close", data={"day": sunday.isoformat(), "confirm": "1",
                                                     "csrf_token": csrf_token(client, "/staff/finance/")},
                       follow_redirects=True)
    assert "xác nhận khoá sổ ngày trống" in page.get_data(as_text=True)
    assert not is_closed(session, centre.id, sunday)
    client.post("/staff/finance/close", data={"day": sunday.isoformat(), "allow_empty": "1", "confirm": "1",
                                              "csrf_token": csrf_token(client, "/staff/finance/")})
    assert is_closed(session, centre.id, sunday)
