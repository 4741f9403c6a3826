"""Reconciliation through the API and the `hcc reconcile` command."""

import io
from datetime import timedelta

from openpyxl import load_workbook

from api.cli import main
from core.clock import local_day
from tests.factories import bearer, make_api_key
from tests.finance.factories import paid_payment


def statement(rows):
    return ("date,reference,amount,description\n" + "".join(f"{d},{r},{a},{t}\n" for d, r, a, t in rows)).encode()


def test_cli_import_prints_the_summary_line(runner, session, tmp_path):
    day = local_day() - timedelta(days=1)
    p = paid_payment(session, on=day)
    session.commit()
    f = tmp_path / "saoke.csv"
    f.write_bytes(statement([(day, "FT1", p.paid_amount, f"NOP PHI {p.code}"), (day, "FT2", 5_000, "khong ro")]))
    result = runner.invoke(main, ["reconcile", "import", str(f), "--source", "bank-csv"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "matched: 1, discrepancies: 1"
    again = runner.invoke(main, ["reconcile", "import", str(f), "--source", "bank-csv"])
    assert "nothing changed" in again.output and again.output.strip().endswith("matched: 1, discrepancies: 1")


def test_cli_refuses_a_malformed_file_with_the_line(runner, tmp_path):
    f = tmp_path / "bad.csv"
    f.write_bytes(b"date,reference,amount,description\n2026-11-01,FT1,12.5,x\n")
    result = runner.invoke(main, ["reconcile", "import", str(f), "--source", "bank-csv"])
    assert result.exit_code != 0 and "dòng 2" in result.output


def test_api_lists_discrepancies_with_their_type_and_resolves_one(client, session):
    key = make_api_key(session, roles=("finance",))
    day = local_day() - timedelta(days=1)
    paid_payment(session, on=day)
    session.commit()
    r = client.post("/api/v1/reconciliation/imports", headers=bearer(key),
                    data={"source": "bank-csv", "file": (io.BytesIO(statement([(day, "FT9", 10_000, "la")])), "s.csv")})
    assert r.status_code == 201 and r.json["matched"] == 0 and r.json["discrepancies"] == 2
    listed = client.get("/api/v1/reconciliation/discrepancies?status=open", headers=bearer(key)).json
    assert sorted(d["type"] for d in listed["items"]) == ["missing_ours", "missing_theirs"]
    target = next(d for d in listed["items"] if d["type"] == "missing_ours")
    bad = client.post(f"/api/v1/reconciliation/discrepancies/{target['id']}/resolve", headers=bearer(key),
                      json={"action": "write_off"})
    assert bad.status_code == 422 and "note" in bad.json["errors"]
    ok = client.post(f"/api/v1/reconciliation/discrepancies/{target['id']}/resolve", headers=bearer(key),
                     json={"action": "write_off", "note": "Chuyển nhầm, đã trả lại người nộp"})
    assert ok.status_code == 200 and ok.json["status"] == "resolved"


def test_a_cashier_key_cannot_reconcile(client, session):
    key = make_api_key(session, roles=("cashier",))
    assert client.get("/api/v1/reconciliation/discrepancies", headers=bearer(key)).status_code == 403


def test_report_downloads_as_xlsx_with_the_same_totals(client, session):
    key = make_api_key(session, roles=("finance",))
    day = local_day()
    for amount in (200_000, 100_000, 100_000):
        paid_payment(session, on=day, amount=amount)
    session.commit()
    q = f"from={day}&to={day}"
    data = client.get(f"/api/v1/reports/summary?{q}", headers=bearer(key)).json
    assert data["payments"] == 3 and data["collected"] == 400_000
    r = client.get(f"/api/v1/reports/summary?{q}&format=xlsx", headers=bearer(key))
    ws = load_workbook(io.BytesIO(r.data))["Tổng hợp"]
    totals = {row[0]: row[2] for row in ws.iter_rows(values_only=True)}
    assert totals["Tổng số khoản thu"] == 400_000


def test_the_dashboard_shows_figures_in_words_not_raw_data(client, session):
    from tests.factories import make_user, sign_in

    make_user(session, roles=("finance",), username="ketoan2")
    paid_payment(session, on=local_day(), amount=200_000)
    session.commit()
    sign_in(client, "ketoan2")
    page = client.get("/staff/finance/").get_data(as_text=True)
    assert "Biên lai đã phát hành" in page and "Đã phát thành công" in page
    assert "{'count'" not in page and "automatic_share" not in page


def test_garbage_files_are_refused_with_a_reason_never_a_500(client, session):
    key = make_api_key(session, roles=("finance",))
    header = b"date,reference,amount,description\n"
    for source, data, reason in [
            ("bank-csv", header + b"2026-11-01,FT1,99999999999999999999999,x\n", "dòng 2: số tiền quá lớn"),
            ("camt053", b"<Document><NotAStatement/></Document>", "camt.053 không hợp lệ"),
            # A Windows-1258 export (even length: it must not pass for BOM-less UTF-16 either).
            ("bank-csv", header + "2026-11-01,FT2,100000,Văn Ân nop phi.\n".encode("cp1258"), "UTF-8"),
            ("bank-csv", b"", "thiếu cột"),
            ("bank-csv", header + b"2026-11-01,FT\x001,100,x\n", "dòng 2: có ký tự NUL")]:
        r = client.post("/api/v1/reconciliation/imports", headers=bearer(key),
                        data={"source": source, "file": (io.BytesIO(data), "rac.csv")})
        assert r.status_code == 422 and r.mimetype == "application/problem+json", (source, data, r.data)
        assert reason in r.json["errors"]["file"][0]
    assert client.get("/api/v1/reconciliation/imports", headers=bearer(key)).json["items"] == []


def test_an_id_beyond_any_row_is_a_404_not_a_database_overflow(client, session):
    key = make_api_key(session, roles=("finance",))
    r = client.post(f"/api/v1/reconciliation/discrepancies/{2**70}/resolve", headers=bearer(key),
                    json={"action": "accept", "note": "x"})
    assert r.status_code == 404 and r.mimetype == "application/problem+json"


def test_a_report_from_the_first_day_of_the_calendar_is_empty_not_a_500(client, session):
    key = make_api_key(session, roles=("finance",))
    r = client.get("/api/v1/reports/summary?from=0001-01-01&to=0001-01-31", headers=bearer(key))
    assert r.status_code == 200 and r.json["payments"] == 0


def test_the_same_file_uploaded_twice_at_once_is_stored_once(app, session):
    # On PostgreSQL the second upload waits on the unique (centre, sha256) index, then must answer as a re-import.
    import threading

    from finance.models import StatementImport

    key = make_api_key(session, roles=("finance",))
    day = local_day() - timedelta(days=1)
    data = statement([(day, f"FT{i}", 1_000 + i, "khong ro") for i in range(300)])
    answers, start = [], threading.Barrier(2)

    def upload():
        c = app.test_client()
        start.wait()
        answers.append(c.post("/api/v1/reconciliation/imports", headers=bearer(key),
                              data={"source": "bank-csv", "file": (io.BytesIO(data), "s.csv")}))

    threads = [threading.Thread(target=upload) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(r.status_code for r in answers) == [200, 201], [r.data[:200] for r in answers]
    assert len({r.json["statement"]["id"] for r in answers}) == 1
    assert {(r.json["matched"], r.json["discrepancies"]) for r in answers} == {(0, 300)}
    assert session.query(StatementImport).count() == 1


def test_an_uploaded_file_name_keeps_only_printable_characters(client, session):
    key = make_api_key(session, roles=("finance",))
    r = client.post("/api/v1/reconciliation/imports", headers=bearer(key),
                    data={"source": "bank-csv", "file": (io.BytesIO(statement([("2026-11-01", "FT1", 100, "x")])),
                                                         "sao\x00ke\t.csv")})
    assert r.status_code == 201 and r.json["statement"]["filename"] == "saoke.csv", r.json


def test_cli_close_prepares_a_fresh_embedded_instance_like_import(tmp_path, signing_files):
    from api import create_app
    from core.settings import Settings

    settings = Settings.from_env(environ={}, instance_dir=tmp_path / "instance",
                                 database_url=f"sqlite:///{tmp_path / 'fresh.sqlite3'}", queue_url="memory://",
                                 queue_immediate=True, secret_key="test-" + "k" * 40,
                                 signing_pkcs12=signing_files.pkcs12,
                                 signing_pkcs12_password=signing_files.password, public_url="http://localhost")
    app = create_app({"settings": settings, "TESTING": True})
    day = local_day() - timedelta(days=3)
    result = app.test_cli_runner().invoke(main, ["reconcile", "close", str(day), "--allow-empty"])
    app.extensions["hcc"].db.dispose()
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"closed {day}: 0 payments")
