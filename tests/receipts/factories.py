"""Paid payments for receipt scenarios, made through the real payment state machine."""

from __future__ import annotations

import itertools
import os

from core import audit
from core.accounts import DEMO_UNIT_CODE, ensure_demo_centre
from fees.payments import ItemRequest, Payer, create_payment, lock_payment, transition

_seq = itertools.count(1)

LINES = (
    ItemRequest("LP-TL", 2, name="Lệ phí cấp bản sao trích lục hộ tịch", kind="le_phi", unit_amount=8_000),
    ItemRequest("P-TĐ", 1, name="Phí thẩm định hồ sơ đăng ký kinh doanh", kind="phi", unit_amount=184_000),
)


def demo_unit(session):
    from province.units import unit_by_code

    ensure_demo_centre(session)
    return unit_by_code(session, DEMO_UNIT_CODE)


def ensure_demo_series(session, year: int, *, width: int | None = None):
    """The demo unit's EBL01 series of `year`, registered (tests that move the clock to another year)."""
    from datetime import date

    from sqlalchemy import select

    from province.models import ReceiptSeries
    from province.series import register_series

    unit = demo_unit(session)
    series = session.scalar(select(ReceiptSeries).where(ReceiptSeries.unit_id == unit.id,
                                                        ReceiptSeries.symbol == f"{year % 100:02d}T"))
    if series is None:
        series = register_series(session, unit, "EBL01", f"{year % 100:02d}T", year, registered_on=date(year - 1, 12, 1))
    if width is not None:
        series.number_width = width
    session.flush()
    return series


def pending_payment(session, *, items=LINES, payer_name="Nguyễn Thị Hồng Nhung",
                    payer_address="Số 12 Lý Thường Kiệt, phường Hoàn Kiếm, thành phố Hà Nội",
                    payer_email="nhung@example.vn", payer_phone="0912345678", centre=None):
    centre = centre or ensure_demo_centre(session)
    return create_payment(session, centre, dossier_code=f"000.00.01.H26-251124-{next(_seq):04d}",
                          payer=Payer(payer_name, phone=payer_phone, email=payer_email, address=payer_address),
                          items=list(items), actor=audit.SYSTEM, channels=["vnpay", "counter", "vietqr"])


def pay(session, payment, *, channel="vnpay", channel_ref=None):
    p = lock_payment(session, payment_id=payment.id)
    return transition(session, p, "paid", actor=audit.SYSTEM, channel=channel,
                      channel_ref=channel_ref or f"{next(_seq):08d}", paid_amount=p.amount)


def paid_payment(session, *, channel="vnpay", commit=True, **kwargs):
    """A payment paid through `channel`; committed by default, which (jobs immediate) issues its receipt."""
    p = pending_payment(session, **kwargs)
    pay(session, p, channel=channel)
    if commit:
        session.commit()
    return p


SOFTHSM_MODULE = next((p for p in ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")
                       if os.path.exists(p)), None)


def softhsm_available() -> bool:
    import shutil

    return bool(SOFTHSM_MODULE and shutil.which("softhsm2-util") and shutil.which("pkcs11-tool"))


def make_softhsm_token(base, *, label: str, pin: str, key_label: str, common_name: str, ca_name: str,
                       organisation: str = "Trung tâm Phục vụ hành chính công (thử nghiệm HSM)",
                       ca_on_token: bool = True) -> dict:
    """A SoftHSM2 token in `base` holding a signing key and its certificate under a test CA (not a development one).

    With `ca_on_token` the CA certificate is written on the token too (label "ca"), as providers' tokens
    usually carry it. Points SOFTHSM2_CONF at `base` and re-initialises the library if this process already
    loaded it (SoftHSM reads its configuration and tokens only then): sessions open on other tokens end.
    Returns the paths and names a test needs.
    """
    import subprocess
    from pathlib import Path

    from cryptography.hazmat.primitives import serialization

    from core.devcert import make_ca, make_signing_cert

    base = Path(base)
    (base / "tokens").mkdir(parents=True, exist_ok=True)
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)  # read by the library when it initialises
    ca_key, ca_cert = make_ca(ca_name, development=False)
    key, cert = make_signing_cert(ca_key, ca_cert, organisation, common_name, development=False)
    (base / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
    (base / "cert.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    (base / "ca.der").write_bytes(ca_cert.public_bytes(serialization.Encoding.DER))
    (base / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}

    def run(*args):
        subprocess.run(args, check=True, env=env, capture_output=True, timeout=60)

    run("softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", "13579", "--pin", pin)
    run("softhsm2-util", "--import", str(base / "key.pem"), "--token", label, "--label", key_label,
        "--id", "01", "--pin", pin)
    run("pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", label, "--login", "--pin", pin,
        "--write-object", str(base / "cert.der"), "--type", "cert", "--label", key_label, "--id", "01")
    if ca_on_token:
        run("pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", label, "--login", "--pin", pin,
            "--write-object", str(base / "ca.der"), "--type", "cert", "--label", "ca", "--id", "02")
    reinitialise_pkcs11()
    return {"module": SOFTHSM_MODULE, "token_label": label, "pin": pin, "key_label": key_label,
            "common_name": common_name, "ca_pem": base / "ca.pem", "cert": cert, "ca_cert": ca_cert}


def reinitialise_pkcs11() -> None:
    """Make an already loaded SoftHSM read SOFTHSM2_CONF and its tokens again (nothing to do if not loaded)."""
    import pkcs11

    from receipts.signing import clear_cache

    clear_cache()  # their sessions would not survive C_Finalize
    lib = pkcs11.lib(SOFTHSM_MODULE)
    lib.reinitialize()
