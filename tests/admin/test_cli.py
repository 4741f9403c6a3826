"""`hcc province`, `hcc credentials`, `hcc doctor`, `hcc series`, and keys and users of several centres."""

from __future__ import annotations

from sqlalchemy import func, select, text

from api.cli import main
from core.models import ApiClient, Centre, User
from province.access import centre_ids_for
from province.models import CollectingUnit, Credential, ReceiptSeries
from tests.admin.conftest import EXAMPLE


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_importing_the_example_brings_up_two_centres_and_three_units_and_a_rerun_changes_nothing(runner, session):
    first = runner.invoke(main, ["province", "import", str(EXAMPLE)], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "Trung tâm: tạo mới 2" in first.stdout and "Đơn vị thu: tạo mới 3" in first.stdout
    assert session.scalar(select(func.count()).select_from(Centre).where(Centre.code.in_(["TTPVHCC", "PVHCC-KB"]))) == 2
    assert {"STP", "SNNMT", "UBND-KB"} <= set(session.scalars(select(CollectingUnit.code)))

    second = runner.invoke(main, ["province", "import", str(EXAMPLE)], catch_exceptions=False)
    assert second.exit_code == 0, second.output
    assert "Không có thay đổi nào." in second.stdout


def test_an_invalid_file_writes_nothing_and_names_each_error_with_its_path(runner, session, tmp_path):
    bad = tmp_path / "tinh.yaml"
    bad.write_text(EXAMPLE.read_text(encoding="utf-8").replace('tax_code: "2300245389"', 'tax_code: "2300245388"')
                   .replace("amount: 200000", "amount: -5"), encoding="utf-8")
    units_before = _count(session, CollectingUnit)

    result = runner.invoke(main, ["province", "import", str(bad)])

    assert result.exit_code == 1
    assert "units[0].tax_code" in result.stderr and "units[0].fees[0].amount" in result.stderr
    assert result.stdout == ""
    assert _count(session, CollectingUnit) == units_before
    assert session.scalar(select(Centre).where(Centre.code == "TTPVHCC")) is None


def test_the_example_imports_into_an_instance_that_already_seeded_its_demo_fees(runner, session):
    # `hcc serve` seeds the demo centre's fees (CT-BANSAO, CT-CHUKY...) before anyone imports a province.
    from core.accounts import ensure_demo_centre
    from fees.schedule import seed_default

    seed_default(session, ensure_demo_centre(session))
    session.commit()
    result = runner.invoke(main, ["province", "import", str(EXAMPLE)])
    assert result.exit_code == 0, result.output + result.stderr
    assert "Đơn vị thu: tạo mới 3" in result.stdout


def test_a_file_that_is_not_yaml_is_refused(runner, tmp_path):
    bad = tmp_path / "tinh.yaml"
    bad.write_text("units: [\n", encoding="utf-8")
    result = runner.invoke(main, ["province", "import", str(bad)])
    assert result.exit_code == 1 and "YAML" in result.stderr


def test_export_writes_the_import_format_that_imports_back_unchanged(runner, tmp_path):
    runner.invoke(main, ["province", "import", str(EXAMPLE)], catch_exceptions=False)
    out = tmp_path / "xuat.yaml"
    result = runner.invoke(main, ["province", "export", "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0
    text_ = out.read_text(encoding="utf-8")
    assert "Sở Tư pháp tỉnh Bắc Ninh" in text_ and "password" not in text_.lower()

    again = runner.invoke(main, ["province", "import", str(out)], catch_exceptions=False)
    assert again.exit_code == 0 and "Không có thay đổi nào." in again.stdout


def test_a_secret_set_from_standard_input_is_never_printed_and_is_stored_encrypted(runner, session, province):
    secret = "bi-mat-vnpay-0123456789"
    result = runner.invoke(main, ["credentials", "set", "--unit", "STP", "vnpay-hash-secret"], input=secret + "\n",
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert secret not in result.output

    raw = session.execute(text("SELECT name, ciphertext, size FROM credential")).one()
    assert raw.name == "vnpay_hash_secret" and raw.size == len(secret)
    assert secret not in raw.ciphertext and secret.encode().hex() not in raw.ciphertext

    listing = runner.invoke(main, ["credentials", "list"], catch_exceptions=False)
    assert "unit STP" in listing.stdout and "vnpay_hash_secret" in listing.stdout and "••••••" in listing.stdout
    assert secret not in listing.output


def test_a_carrier_token_belongs_to_the_centres_carrier_account(runner, session, province):
    result = runner.invoke(main, ["credentials", "set", "--centre", "TTPVHCC", "--carrier", "vnpost", "carrier-token"],
                           input="tok-123", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert session.scalars(select(Credential.owner_type)).one() == "carrier_account"


def test_a_signing_file_is_read_from_a_file_with_its_password_on_standard_input(runner, session, province,
                                                                               signing_files):
    result = runner.invoke(main, ["credentials", "set", "--unit", "STP", "signing-pkcs12", "--file",
                                  str(signing_files.pkcs12)], input=signing_files.password, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert signing_files.password not in result.output
    unit = session.scalar(select(CollectingUnit).where(CollectingUnit.code == "STP"))
    assert unit.signing_kind == "pkcs12" and unit.cert_subject and unit.cert_not_after


def test_an_unknown_secret_name_is_refused(runner, province):
    result = runner.invoke(main, ["credentials", "set", "--unit", "STP", "api-password"], input="x")
    assert result.exit_code != 0 and "unknown secret" in result.output


def test_rotate_reencrypts_with_the_first_key(runner, session, province, settings):
    from cryptography.fernet import Fernet

    from province import secrets

    runner.invoke(main, ["credentials", "set", "--unit", "STP", "momo-secret-key"], input="momo", catch_exceptions=False)
    old = secrets.configured_keys(settings)[0].decode()
    settings.extra[secrets.SETTING] = f"{Fernet.generate_key().decode()},{old}"
    result = runner.invoke(main, ["credentials", "rotate"], catch_exceptions=False)
    assert result.exit_code == 0 and "1 " in result.stdout
    session.expire_all()
    assert secrets.get_secret(session, settings, "unit", session.scalar(
        select(CollectingUnit.id).where(CollectingUnit.code == "STP")), "momo_secret_key") == b"momo"


def test_doctor_exits_non_zero_on_the_embedded_default_and_names_each_blocker(runner):
    result = runner.invoke(main, ["doctor"])
    assert result.exit_code == 1
    assert "[CHẶN] deployment:" in result.stdout and "(no-encryption-keys)" in result.stdout
    assert "(no-smtp)" in result.stdout and "centre DEMO-HN" in result.stdout


def test_series_register_and_list(runner, session, province):
    result = runner.invoke(main, ["series", "register", "--unit", "UBND-KB", "--template", "EBL01", "--symbol", "27T",
                                  "--year", "2027", "--registered-on", "2026-12-01"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    row = session.scalar(select(ReceiptSeries).where(ReceiptSeries.symbol == "27T",
                                                     ReceiptSeries.unit_id == CollectingUnit.id,
                                                     CollectingUnit.code == "UBND-KB"))
    assert row.state == "registered" and str(row.registered_on) == "2026-12-01"
    listing = runner.invoke(main, ["series", "list", "--unit", "UBND-KB"], catch_exceptions=False)
    assert "27T\t2027\tregistered" in listing.stdout

    bad = runner.invoke(main, ["series", "register", "--unit", "UBND-KB", "--template", "EBL01", "--symbol", "28T",
                               "--year", "2027"])
    assert bad.exit_code == 1 and "symbol" in bad.stderr


def test_an_api_key_of_two_centres_sees_both(runner, session, province):
    result = runner.invoke(main, ["api-keys", "create", "--name", "Một cửa", "--centre", "TTPVHCC", "--centre",
                                  "PVHCC-KB", "--role", "cashier"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    client = session.scalars(select(ApiClient)).one()
    ids = {c.code: c.id for c in session.scalars(select(Centre))}
    assert client.centre_id == ids["TTPVHCC"]
    assert centre_ids_for(session, "api_client", client.id, client.centre_id) == {ids["TTPVHCC"], ids["PVHCC-KB"]}


def test_a_province_user_sees_every_centre(runner, session, province):
    result = runner.invoke(main, ["users", "create", "tinh", "--role", "finance", "--password", "mật-khẩu-đủ-dài",
                                  "--centre", "TTPVHCC", "--province"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    user = session.scalars(select(User)).one()
    assert centre_ids_for(session, "user", user.id, user.centre_id) == set(session.scalars(select(Centre.id)))
