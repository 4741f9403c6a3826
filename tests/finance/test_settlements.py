"""Money that arrives net and in lumps: a month of VNPAY and MoMo traffic, their settlement reports, one bank
credit per settlement day (camt.053 and CSV), and carrier COD remittances net of postage, close every day with
zero unexplained differences; a gateway's mistakes show as exactly one typed discrepancy each."""

from __future__ import annotations

import itertools
import random
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from core import audit
from core.accounts import ensure_demo_centre
from core.clock import VN_TZ, local_day
from fees.gateways import ledger
from fees.gateways.attempts import open_attempt
from fees.gateways.settlement_sandbox import FeeRate, settlement_file
from fees.payments import ItemRequest, Payer, create_payment, lock_payment, transition
from finance.closing import close_day
from finance.models import Discrepancy, FeeBooking, SettlementBatch, StatementLine
from finance.reconcile import import_statement
from finance.settlement_files import cod_remittance
from finance.settlements import day_position, fees_booked, import_settlement
from tests.finance.factories import fee, paid_payment

OFFICER = audit.Actor(type="user", id="7", name="ketoan")
TMN, PARTNER = "HCCTEST1", "MOMOHCC01"
RATES = {"vnpay": FeeRate.parse("1.1%+1650"), "momo": FeeRate.parse("1.5%")}
AMOUNTS = (50_000, 100_000, 150_000, 200_000, 275_000)
_seq = itertools.count(1)


@pytest.fixture(autouse=True)
def clean_ledger():
    ledger.clear()
    yield
    ledger.clear()


def _when(day: date, rnd: random.Random) -> datetime:
    return datetime.combine(day, time(rnd.randint(7, 21), rnd.randint(0, 59), rnd.randint(0, 59)), tzinfo=VN_TZ)


def _new_payment(session, rnd: random.Random, name: str):
    amount = rnd.choice(AMOUNTS)
    fee(session, code=f"F{amount}", name=f"Lệ phí thử {amount}", amount=amount)
    centre = session.info.get("test_centre") or session.info.setdefault("test_centre", ensure_demo_centre(session))
    return create_payment(session, centre, dossier_code=f"HS-S{next(_seq):05d}", payer=Payer(name),
                          items=[ItemRequest(f"F{amount}", 1)], actor=audit.SYSTEM), amount


def _gateway_payment(session, gateway: str, day: date, rnd: random.Random):
    """A payment paid at a gateway as the domain records it: its own order (sometimes after a cancelled first
    attempt), the gateway's transaction number, paid at a time of the day; and the sandbox's ledger of it."""
    p, amount = _new_payment(session, rnd, "Trần Thị Bình")
    p = lock_payment(session, payment_id=p.id)
    merchant = TMN if gateway == "vnpay" else PARTNER
    if rnd.random() < 0.2:  # the citizen cancelled a first attempt: its order stays at the gateway, unpaid
        first = open_attempt(session, p, gateway, merchant_id=merchant)
        ledger.put(ledger.SandboxTxn(gateway, first.order_ref, amount, status="cancelled", data={"tmn_code": merchant}))
    attempt = open_attempt(session, p, gateway, merchant_id=merchant)
    when = _when(day, rnd)
    trans_no = str(14_000_000 + next(_seq)) if gateway == "vnpay" else str(4_000_000_000 + next(_seq))
    ledger.put(ledger.SandboxTxn(gateway, attempt.order_ref, amount, status="paid", transaction_no=trans_no,
                                 pay_date=when.strftime("%Y%m%d%H%M%S"), data={"tmn_code": merchant}))
    transition(session, p, "paid", actor=audit.SYSTEM, channel=gateway, channel_ref=trans_no, paid_amount=amount,
               paid_at=when)
    return p, attempt.order_ref


def _cod_payment(session, store, carrier: str, day: date, rnd: random.Random):
    """A parcel sent COD through the carrier sandbox, delivered (COD collected) on `day`, recorded as paid then."""
    from carriers.sandbox import sandbox_fee

    p, amount = _new_payment(session, rnd, "Lê Văn Cường")
    # Sandbox time set back to 07:00 of the day: the parcel is created then and delivered 22 carrier-hours later
    # at the store's speed (minutes of sandbox time), the same Vietnamese day.
    target = datetime.combine(day, time(7, rnd.randint(0, 59)), tzinfo=VN_TZ)
    store.advance((target - store.now()).total_seconds() * store.speed)
    code = f"SB{next(_seq):09d}VN"
    store.create(carrier, code, f"HCC-{p.code}", {}, note="", cod_amount=amount, fee=sandbox_fee(400, amount))
    store.advance(23 * 3600)
    delivered = next(e for e in store.events_of(carrier, code) if e.status == "delivered")
    p = lock_payment(session, payment_id=p.id)
    transition(session, p, "paid", actor=audit.SYSTEM, channel="cod", channel_ref=code,
               paid_amount=delivered.cod_collected, paid_at=delivered.at)
    return p


def _without_receipts(session) -> None:
    """The paid payments' receipt jobs (signed PDFs) are not this test's subject: they are dropped, not run."""
    session.info.pop("hcc_after_commit", None)


def bank_csv(rows) -> bytes:
    return ("date,reference,amount,description\n" + "".join(f"{d},{r},{a},{t}\n" for d, r, a, t in rows)).encode()


def camt053(rows) -> bytes:
    entries = "".join(f"""<Ntry><Amt Ccy="VND">{a}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>{d}</Dt></BookgDt><ValDt><Dt>{d}</Dt></ValDt><AcctSvcrRef>{r}</AcctSvcrRef>
<NtryDtls><TxDtls><Refs><EndToEndId>{r}</EndToEndId></Refs><Amt Ccy="VND">{a}</Amt>
<RmtInf><Ustrd>{t}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>""" for d, r, a, t in rows)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>STMT-S</MsgId><CreDtTm>{rows[-1][0]}T23:00:00</CreDtTm></GrpHdr>
<Stmt><Id>1</Id><Acct><Id><Othr><Id>0011001234567</Id></Othr></Id><Ccy>VND</Ccy></Acct>{entries}
</Stmt></BkToCstmrStmt></Document>""".encode()


def _previous_month() -> list[date]:
    first = local_day().replace(day=1)
    start = (first - timedelta(days=1)).replace(day=1)
    return [start + timedelta(days=i) for i in range((first - start).days)]


def test_a_month_of_net_settlements_closes_every_day_with_nothing_unexplained(session, centre, tmp_path):
    from carriers.sandbox import SandboxStore

    rnd = random.Random(14)
    store = SandboxStore(tmp_path / "carriers.sqlite", speed=3000)
    days = _previous_month()
    qr = []
    for day in days:
        for _ in range(3):
            _gateway_payment(session, "vnpay", day, rnd)
            _gateway_payment(session, "momo", day, rnd)
        if day.day % 3 == 0:
            _cod_payment(session, store, "ghn" if day.day % 2 else "vnpost", day, rnd)
        if day.day % 4 == 0:  # VietQR transfers arrive one by one, each its own bank line
            qr.append(paid_payment(session, channel="vietqr", on=day, at=time(11, 0), amount=120_000))
    _without_receipts(session)
    session.commit()

    credits = []
    for day in days:
        for gateway, merchant in (("vnpay", TMN), ("momo", PARTNER)):
            sf = settlement_file(gateway, day, merchant=merchant, rate=RATES[gateway])
            result = import_settlement(session, centre.id, f"{gateway}-settlement", f"{gateway}-{day}.csv", sf.data,
                                       OFFICER, rates=RATES)
            assert (result.batches, result.matched, result.discrepancies) == (1, sf.count, 0)
            credits.append((sf.credit_day, f"FT{gateway[:2].upper()}{day:%m%d}", sf.net, sf.description))
    remitted = 0
    for carrier in ("ghn", "vnpost"):
        for week in range(0, len(days), 7):
            start, end = days[week], days[min(week + 6, len(days) - 1)]
            rf = cod_remittance(store, carrier, start, end)
            if not rf.count:
                continue
            assert rf.net == rf.gross - rf.postage - rf.cod_fee and rf.postage > 0
            result = import_settlement(session, centre.id, "cod-remittance", f"{carrier}-{start}.csv", rf.data,
                                       OFFICER, rates=RATES)
            assert result.discrepancies == 0 and result.matched == rf.count
            remitted += rf.count
            credits.append((rf.remit_day, f"FTCOD{carrier[:3].upper()}{start:%m%d}", rf.net, rf.description))
    assert remitted == len([d for d in days if d.day % 3 == 0])
    credits += [(local_day(p.paid_at), f"FTQR{p.id}", p.paid_amount, f"HCC {p.code} nop le phi") for p in qr]
    # The bank's statement of the month: the first half as its CSV export, the second as camt.053.
    credits.sort(key=lambda r: (r[0], r[1]))
    middle = days[len(days) // 2]
    first = import_statement(session, centre.id, "bank-csv", "saoke-1.csv",
                             bank_csv([c for c in credits if c[0] < middle]), OFFICER)
    second = import_statement(session, centre.id, "camt053", "saoke-2.xml",
                              camt053([c for c in credits if c[0] >= middle]), OFFICER)
    session.commit()

    assert first.discrepancies == second.discrepancies == 0 and first.matched + second.matched == len(credits)
    assert session.scalar(select(SettlementBatch).where(SettlementBatch.status != "credited")) is None
    assert {x.match_rule for x in session.scalars(select(StatementLine))} == {"settlement_batch", "code_in_description"}
    assert session.scalar(select(Discrepancy)) is None
    for day in days:
        for channel, figures in day_position(session, centre.id, day).items():
            assert figures["unexplained"] == 0 and figures["payments"] == figures["gross"], (day, channel, figures)
            assert figures["credited"] == figures["gross"] - figures["fee"] - figures["postage"]
        close_day(session, centre.id, day, OFFICER)
    session.commit()
    booked = fees_booked(session, centre.id, days[0], days[-1] + timedelta(days=1))
    assert set(booked) == {"vnpay", "momo", "cod"} and set(booked["cod"]) == {"postage", "cod_fee"}
    assert sum(b.amount for b in session.scalars(select(FeeBooking))) == sum(
        b.fee for b in session.scalars(select(SettlementBatch)))


def test_a_missing_transaction_a_wrong_fee_and_a_late_credit_each_show_as_one_typed_discrepancy(session, centre):
    rnd = random.Random(7)
    days = _previous_month()[:3]
    vnpay_refs, momo_refs = [], []
    for day in days:
        vnpay_refs += [_gateway_payment(session, "vnpay", day, rnd) for _ in range(4)]
        momo_refs += [_gateway_payment(session, "momo", day, rnd) for _ in range(3)]
    _without_receipts(session)
    session.commit()
    left_out, _ = vnpay_refs[1]                     # VNPAY's report forgets a transaction of day 1
    overcharged, over_ref = momo_refs[4]            # MoMo charges 5.000 đ more than the contract on day 2
    credits, late = [], None
    for day in days:
        for gateway, merchant in (("vnpay", TMN), ("momo", PARTNER)):
            sf = settlement_file(gateway, day, merchant=merchant, rate=RATES[gateway],
                                 omit={vnpay_refs[1][1]} if gateway == "vnpay" else frozenset(),
                                 fee_overrides={over_ref: RATES["momo"].fee(overcharged.paid_amount) + 5_000})
            import_settlement(session, centre.id, f"{gateway}-settlement", f"{gateway}-{day}.csv", sf.data, OFFICER,
                              rates=RATES)
            credit = (sf.credit_day, f"FT{gateway}{day:%d}", sf.net, sf.description)
            if gateway == "momo" and day == days[0]:
                late = credit                       # MoMo pays day 1 three days late
            else:
                credits.append(credit)
    import_statement(session, centre.id, "bank-csv", "thang.csv", bank_csv(sorted(credits)), OFFICER)
    session.commit()

    found = {d.type: d for d in session.scalars(select(Discrepancy).where(Discrepancy.status == "open"))}
    assert sorted(d.type for d in session.scalars(select(Discrepancy))) == ["late_credit", "missing_theirs", "wrong_fee"]
    assert found["missing_theirs"].payment_id == left_out.id and found["missing_theirs"].channel == "vnpay"
    assert found["wrong_fee"].payment_id == overcharged.id
    assert found["wrong_fee"].actual_amount - found["wrong_fee"].expected_amount == 5_000
    assert found["late_credit"].channel == "momo" and found["late_credit"].day == days[0]
    with pytest.raises(Exception, match="chênh lệch"):
        close_day(session, centre.id, days[0], OFFICER)
    session.rollback()

    day, _, amount, text = late
    import_statement(session, centre.id, "camt053", "tre.xml",
                     camt053([(day + timedelta(days=3), "FTLATE", amount, text)]), OFFICER)
    session.commit()
    still_open = sorted(d.type for d in session.scalars(select(Discrepancy).where(Discrepancy.status == "open")))
    assert still_open == ["missing_theirs", "wrong_fee"]
    batch = session.scalars(select(SettlementBatch).where(SettlementBatch.provider == "momo",
                                                          SettlementBatch.settle_day == days[0])).one()
    assert batch.status == "credited" and batch.credited_on == day + timedelta(days=3)
    assert session.scalars(select(Discrepancy).where(Discrepancy.type == "late_credit")).one().status == "resolved"


def test_a_settlement_file_with_a_bad_line_is_refused_whole(session, centre):
    from core.errors import InvalidInput
    from fees.gateways.settlement_sandbox import VNPAY_COLUMNS

    data = (",".join(VNPAY_COLUMNS) + "\n1,B1,T,REF,123,NCB,01/11/2026 10:00:00,02/11/2026,hai tram,0,0,Thanh toán\n")
    with pytest.raises(InvalidInput) as e:
        import_settlement(session, centre.id, "vnpay-settlement", "x.csv", data.encode(), OFFICER)
    assert e.value.errors["line"] == ["2"]


def test_staff_upload_a_settlement_report_beside_statements_and_see_its_batch(client, session, centre):
    """The officer uploads VNPAY's file on the finance page, then the bank statement; the batch page shows the
    day's gross, fee and net and the credit that paid it; the fee is in the month's fee ledger."""
    import io

    from tests.factories import csrf_token, make_user, sign_in

    rnd = random.Random(3)
    day = local_day() - timedelta(days=2)
    for _ in range(3):
        _gateway_payment(session, "vnpay", day, rnd)
    _without_receipts(session)
    session.commit()
    user = make_user(session, roles=("finance",))
    sign_in(client, user.username)
    sf = settlement_file("vnpay", day, merchant=TMN, rate=FeeRate.parse("1.1%"))  # the default contract rate
    page = client.post("/staff/finance/import", data={
        "source": "vnpay-settlement", "file": (io.BytesIO(sf.data), "doisoat-vnpay.csv"),
        "csrf_token": csrf_token(client, "/staff/finance/")}, content_type="multipart/form-data", follow_redirects=True)
    assert "doisoat-vnpay.csv" in page.get_data(as_text=True)
    client.post("/staff/finance/import", data={
        "source": "bank-csv", "file": (io.BytesIO(bank_csv([(sf.credit_day, "FT777", sf.net, sf.description)])),
                                       "saoke.csv"),
        "csrf_token": csrf_token(client, "/staff/finance/")}, content_type="multipart/form-data")
    html = client.get(f"/staff/finance/settlements?month={day:%Y-%m}").get_data(as_text=True)
    net = f"{sf.net:,}".replace(",", ".")
    assert sf.batch_ref in html and "Đã về tiền" in html and net in html
    assert "Phí cổng thanh toán" in html
    assert session.scalar(select(Discrepancy).where(Discrepancy.status == "open")) is None

    from tests.factories import bearer, make_api_key

    key = make_api_key(session, roles=("finance",))
    listed = client.get("/api/v1/reconciliation/batches", headers=bearer(key)).json["items"]
    assert [(b["batch_ref"], b["gross"], b["fee"], b["net"], b["status"], b["credited_amount"]) for b in listed] == [
        (sf.batch_ref, sf.gross, sf.fee, sf.net, "credited", sf.net)]


def test_the_sandboxes_serve_their_settlement_files_for_download(client, session, centre, settings):
    """VNPAY's file for a day and a carrier's COD remittance come from the sandboxes as files, with the batch and
    the transfer description the bank will show; imported, they match with nothing left over."""
    from carriers.sandbox import store_for
    from fees import merchants

    rnd = random.Random(5)
    day = local_day() - timedelta(days=3)
    tmn = merchants.default_account(settings, "vnpay").tmn_code
    for _ in range(2):
        _gateway_payment(session, "vnpay", day, rnd)
    store = store_for(settings)
    store.speed = 3000
    parcel = _cod_payment(session, store, "viettelpost", day, rnd)
    _without_receipts(session)
    session.commit()
    ledger.put(ledger.SandboxTxn("vnpay", "OTHER-MERCHANT", 90_000, status="paid", transaction_no="1",
                                 pay_date=f"{day:%Y%m%d}100000", data={"tmn_code": "ANOTHER1"}))

    got = client.get(f"/sandbox/vnpay/settlement/{day}.csv?merchant={TMN}")
    assert got.status_code == 200 and got.headers["X-Settlement-Batch"].startswith(f"VNP{TMN}")
    assert "attachment" in got.headers["Content-Disposition"] and "OTHER-MERCHANT" not in got.get_data(as_text=True)
    result = import_settlement(session, centre.id, "vnpay-settlement", "vnpay.csv", got.data, OFFICER)
    assert (result.batches, result.matched, result.discrepancies) == (1, 2, 0)
    assert tmn  # the deployment's own merchant is the default when none is named
    assert client.get(f"/sandbox/vnpay/settlement/{day}.csv").status_code == 200

    cod = client.get(f"/sandbox/cod-remittance/viettelpost.csv?from={day}&to={day}")
    assert cod.status_code == 200 and parcel.channel_ref in cod.get_data(as_text=True)
    result = import_settlement(session, centre.id, "cod-remittance", "vtp.csv", cod.data, OFFICER)
    assert (result.matched, result.discrepancies) == (1, 0)
    assert client.get(f"/sandbox/cod-remittance/nobody.csv?from={day}&to={day}").status_code == 404


def test_a_transaction_in_the_report_that_is_not_ours_is_one_missing_ours(session, centre):
    rnd = random.Random(11)
    day = _previous_month()[5]
    for _ in range(2):
        _gateway_payment(session, "momo", day, rnd)
    _without_receipts(session)
    session.commit()
    ledger.put(ledger.SandboxTxn("momo", "KHONGPHAICUATA", 80_000, status="paid", transaction_no="4999999999",
                                 pay_date=f"{day:%Y%m%d}153000"))
    sf = settlement_file("momo", day, merchant=PARTNER, rate=RATES["momo"])
    result = import_settlement(session, centre.id, "momo-settlement", "momo.csv", sf.data, OFFICER, rates=RATES)
    assert (result.matched, result.discrepancies) == (2, 1)
    d = session.scalars(select(Discrepancy)).one()
    assert (d.type, d.channel, d.actual_amount, d.payment_id) == ("missing_ours", "momo", 80_000, None)
    assert "4999999999" in d.detail
    # The bank pays the whole batch, the stranger's money included: the credit itself matches the report.
    import_statement(session, centre.id, "bank-csv", "s.csv", bank_csv([(sf.credit_day, "FT1", sf.net, sf.description)]),
                     OFFICER)
    assert session.scalars(select(SettlementBatch)).one().status == "credited"
    assert [x.type for x in session.scalars(select(Discrepancy).where(Discrepancy.status == "open"))] == ["missing_ours"]
