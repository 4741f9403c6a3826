"""A collecting unit that signs its receipts on its own PKCS#11 token (issue 10): a real SoftHSM2 token.

Scenario: the Department of Agriculture and Environment (SNNMT) keeps its key on a token whose CA certificate
is on the token too; the centre's staff point the unit at the token with its PIN, and its receipts are signed
there and verify. A wrong PIN stops the unit's receipts with the reason instead of failing the payment.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import date

import pytest
from sqlalchemy import select, text

from api.cli import main
from core import audit, jobs
from core.accounts import ensure_demo_centre
from core.clock import local_day
from core.errors import InvalidInput
from fees.models import FeeType
from fees.payments import ItemRequest, Payer, create_payment
from province import secrets
from province.models import CentreUnit, CollectingUnit, Credential
from province.series import register_series
from province.units import set_signing_pkcs11
from receipts.issuance import BLOCKED, read_pdf, receipts_for_payment
from receipts.signing import _cache, clear_cache, load_unit_signer
from receipts.verify import verify_pdf
from tests.receipts.factories import make_softhsm_token, pay, softhsm_available

pytestmark = pytest.mark.skipif(not softhsm_available(), reason="softhsm2 and opensc are installed by scripts/setup.sh")

PIN = "864201"
COMMON_NAME = "Khóa ký SNNMT trên token"


@pytest.fixture(scope="module")
def token(tmp_path_factory):
    """One token for the module (key generation and token set-up are slow)."""
    made = make_softhsm_token(tmp_path_factory.mktemp("softhsm-unit"), label="snnmt-token", pin=PIN,
                              key_label="SNNMT-BN", common_name=COMMON_NAME, ca_name="CA thử nghiệm token SNNMT",
                              organisation="Sở Nông nghiệp và Môi trường tỉnh Bắc Ninh")
    yield made
    clear_cache()


@pytest.fixture(autouse=True)
def _log_out_after_each_test(token):
    yield
    clear_cache()  # closes the token sessions of the signers loaded by the test


def make_unit(session):
    """SNNMT with its own fee and this year's registered series, its key not set yet."""
    centre = ensure_demo_centre(session)
    unit = CollectingUnit(code="SNNMT", name="Sở Nông nghiệp và Môi trường tỉnh Bắc Ninh", tax_code="2300245389",
                          address="Số 11 Lý Thái Tổ, phường Kinh Bắc, tỉnh Bắc Ninh", gateway={}, active=True)
    session.add(unit)
    session.flush()
    session.add(CentreUnit(centre_id=centre.id, unit_id=unit.id))
    session.add(FeeType(unit_id=unit.id, centre_id=centre.id, code="TĐ-ĐTM",
                        name="Phí thẩm định báo cáo đánh giá tác động môi trường", kind="phi", amount=5_000_000,
                        effective_from=date(2020, 1, 1), active=True))
    year = local_day().year
    register_series(session, unit, "EBL01", f"{year % 100:02d}T", year, registered_on=date(year, 1, 1))
    session.commit()
    return unit


def on_token(session, settings, unit, token, *, pin=PIN, **overrides):
    options = dict(module=token["module"], token_label=token["token_label"], key_label=token["key_label"])
    return set_signing_pkcs11(session, settings, unit, pin=pin.encode(), **{**options, **overrides})


def paid_unit_payment(session, dossier="000.00.01.H26-251202-0001"):
    p = create_payment(session, ensure_demo_centre(session), dossier_code=dossier,
                       payer=Payer("Trần Thị Mai", address="Số 3 Ngô Gia Tự, phường Kinh Bắc, tỉnh Bắc Ninh"),
                       items=[ItemRequest("TĐ-ĐTM")], actor=audit.SYSTEM, channels=["vnpay", "counter"])
    session.commit()
    pay(session, p)
    session.commit()  # jobs run at once: the unit's receipt is issued (or blocked) now
    return p


def test_pointing_a_unit_at_its_token_reads_the_certificate_and_keeps_the_pin_encrypted(session, settings, token):
    unit = on_token(session, settings, make_unit(session), token)
    session.commit()

    assert unit.signing_kind == "pkcs11"
    assert f"CN={COMMON_NAME}" in unit.cert_subject
    assert unit.cert_not_after == token["cert"].not_valid_after_utc
    assert (unit.pkcs11_module, unit.pkcs11_token_label, unit.pkcs11_key_label) == (
        token["module"], "snnmt-token", "SNNMT-BN")
    raw = session.execute(text("SELECT ciphertext FROM credential WHERE name = 'signing_pkcs11_pin'")).scalar_one()
    assert PIN not in str(raw)
    assert secrets.get_secret(session, settings, "unit", unit.id, "signing_pkcs11_pin") == PIN.encode()


@pytest.mark.parametrize(("overrides", "field", "reason"), [
    ({"pin": "000000"}, "signing_pkcs11_pin", "sai mã PIN"),
    ({"token_label": "khong-co-token"}, "pkcs11_token_label", "không tìm thấy token"),
    ({"key_label": "khong-co-khoa"}, "pkcs11_key_label", "khóa ký"),
    ({"module": "/usr/lib/khong-co/libpkcs11.so"}, "pkcs11_module", "không nạp được thư viện PKCS#11"),
])
def test_a_token_that_cannot_sign_is_refused_and_nothing_is_stored(session, settings, token, overrides, field, reason):
    unit = make_unit(session)
    with pytest.raises(InvalidInput, match="Không mở được token PKCS#11 của đơn vị SNNMT") as e:
        on_token(session, settings, unit, token, **overrides)
    assert reason in e.value.message and list(e.value.errors) == [field]
    session.rollback()
    unit = session.get(CollectingUnit, unit.id)
    assert unit.signing_kind is None and unit.cert_subject is None and unit.pkcs11_module is None
    assert session.scalar(select(Credential.id).where(Credential.owner_id == unit.id)) is None


@pytest.mark.skipif(not shutil.which("pdfsig"), reason="poppler-utils")
def test_the_units_receipt_is_signed_on_its_token_and_verifies_through_the_token_ca(session, settings, token,
                                                                                     tmp_path):
    unit = on_token(session, settings, make_unit(session), token)
    session.commit()
    p = paid_unit_payment(session)

    [receipt] = receipts_for_payment(session, p.id)
    assert receipt.status == "issued" and receipt.unit_id == unit.id, receipt.last_error
    assert COMMON_NAME in receipt.signer_subject
    assert load_unit_signer(session, settings, unit).kind == "pkcs11"
    data = read_pdf(settings, receipt)
    path = tmp_path / "snnmt.pdf"
    path.write_bytes(data)
    sig = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60).stdout
    assert "Signature is Valid." in sig
    assert f"Signer Certificate Common Name: {COMMON_NAME}" in sig
    # No HCC_SIGNING_TRUST_ROOTS: the CA is trusted because it is on the unit's token.
    assert settings.get("HCC_SIGNING_TRUST_ROOTS") is None
    result = verify_pdf(session, settings, data)
    assert result.valid, result.reasons


def test_a_wrong_pin_stops_the_units_receipt_with_the_reason_until_it_is_corrected(session, settings, token):
    unit = on_token(session, settings, make_unit(session), token)
    # The PIN changed on the token after it was set here (or was stored through a path that does not check it).
    secrets.set_secret(session, settings, "unit", unit.id, "signing_pkcs11_pin", b"111111")
    session.commit()

    p = paid_unit_payment(session)
    session.refresh(p)
    assert p.status == "paid"
    # The background path allocates the number, then signing fails: the receipt waits, pending, with the reason,
    # and staff see it on the payment (receipt_blocked) as when no number could be taken.
    [receipt] = receipts_for_payment(session, p.id)
    assert receipt.status == "pending"
    assert "Không mở được khóa ký PKCS#11 của đơn vị SNNMT: sai mã PIN" in receipt.last_error
    assert "Traceback" not in receipt.last_error
    assert BLOCKED in p.flags
    assert "sai mã PIN" in p.extra[BLOCKED]["SNNMT"]

    on_token(session, settings, unit, token)
    session.commit()
    jobs.sweep()
    session.expire_all()
    [receipt] = receipts_for_payment(session, p.id)
    assert receipt.status == "issued" and COMMON_NAME in receipt.signer_subject
    session.refresh(p)
    assert BLOCKED not in p.flags and "SNNMT" not in (p.extra.get(BLOCKED) or {})


def test_a_wrong_pin_at_the_counter_desk_is_noted_as_blocked(session, settings, token):
    from receipts.issuance import issue_receipts

    unit = on_token(session, settings, make_unit(session), token)
    secrets.set_secret(session, settings, "unit", unit.id, "signing_pkcs11_pin", b"111111")
    session.commit()
    p = create_payment(session, ensure_demo_centre(session), dossier_code="000.00.01.H26-251202-0009",
                       payer=Payer("Trần Thị Mai"), items=[ItemRequest("TĐ-ĐTM")], actor=audit.SYSTEM,
                       channels=["counter"])
    pay(session, p, channel="counter")
    assert issue_receipts(session, p.id) == []
    assert BLOCKED in p.flags
    assert "Không mở được khóa ký PKCS#11 của đơn vị SNNMT: sai mã PIN" in p.extra[BLOCKED]["SNNMT"]
    session.rollback()


def test_a_new_key_closes_the_old_tokens_session(session, settings, token):
    import pkcs11

    unit = on_token(session, settings, make_unit(session), token)
    session.commit()
    first = load_unit_signer(session, settings, unit)
    assert load_unit_signer(session, settings, unit) is first  # logged in once, reused

    on_token(session, settings, unit, token)  # set again: a new credential, so a new key as far as the cache goes
    session.commit()
    second = load_unit_signer(session, settings, unit)
    assert second is not first and first not in _cache.values()
    with pytest.raises(pkcs11.exceptions.PKCS11Error):
        first.signer.pkcs11_session.generate_random(64)  # the old session is closed
    assert second.sign_raw(b"still signs", "sha256")


def test_the_cli_sets_the_pin_and_fills_in_the_certificate(runner, session, settings, token):
    unit = make_unit(session)
    # What the province file sets for a PKCS#11 unit (signing: {kind: pkcs11, module, token_label, key_label}).
    unit.signing_kind, unit.pkcs11_module = "pkcs11", token["module"]
    unit.pkcs11_token_label, unit.pkcs11_key_label = token["token_label"], token["key_label"]
    session.commit()

    wrong = runner.invoke(main, ["credentials", "set", "signing-pkcs11-pin", "--unit", "SNNMT"], input="000000\n")
    assert wrong.exit_code == 1 and "sai mã PIN" in wrong.output
    assert "000000" not in wrong.output
    assert session.scalar(select(Credential.id).where(Credential.owner_id == unit.id)) is None

    result = runner.invoke(main, ["credentials", "set", "signing-pkcs11-pin", "--unit", "SNNMT"], input=PIN + "\n",
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert PIN not in result.output and "token opened" in result.output
    session.expire_all()
    unit = session.get(CollectingUnit, unit.id)
    assert f"CN={COMMON_NAME}" in unit.cert_subject and unit.cert_not_after is not None
