"""Signing through a PKCS#11 token: a real SoftHSM2 token with a key that never leaves it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from core.devcert import make_ca, make_signing_cert
from receipts.issuance import read_pdf, receipt_id_for_payment
from receipts.models import Receipt
from receipts.signing import _cache, clear_cache, load_signer
from receipts.verify import verify_pdf
from tests.receipts.factories import paid_payment

MODULE = next((p for p in ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")
               if os.path.exists(p)), None)
pytestmark = pytest.mark.skipif(not (MODULE and shutil.which("softhsm2-util") and shutil.which("pkcs11-tool")),
                                reason="softhsm2 and opensc are installed by scripts/setup.sh")
PIN = "246810"


@pytest.fixture(scope="module")
def token(tmp_path_factory):
    """A SoftHSM2 token holding a signing key and certificate issued by a test CA (not a development one)."""
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)  # read by the library when it initialises
    ca_key, ca_cert = make_ca("Test Token CA", development=False)
    key, cert = make_signing_cert(ca_key, ca_cert, "Trung tâm Phục vụ hành chính công (thử nghiệm HSM)", "Ký biên lai HSM",
                                  development=False)
    (base / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
    (base / "cert.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    (base / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}

    def run(*args):
        subprocess.run(args, check=True, env=env, capture_output=True, timeout=60)

    run("softhsm2-util", "--init-token", "--free", "--label", "hcc-receipts", "--so-pin", "13579", "--pin", PIN)
    run("softhsm2-util", "--import", str(base / "key.pem"), "--token", "hcc-receipts", "--label", "bienlai",
        "--id", "01", "--pin", PIN)
    run("pkcs11-tool", "--module", MODULE, "--token-label", "hcc-receipts", "--login", "--pin", PIN,
        "--write-object", str(base / "cert.der"), "--type", "cert", "--label", "bienlai", "--id", "01")
    return {"HCC_SIGNING_PKCS11_MODULE": MODULE, "HCC_SIGNING_PKCS11_TOKEN_LABEL": "hcc-receipts",
            "HCC_SIGNING_PKCS11_PIN": PIN, "HCC_SIGNING_PKCS11_KEY_LABEL": "bienlai",
            "HCC_SIGNING_TRUST_ROOTS": str(base / "ca.pem")}


@pytest.fixture
def hsm_settings(settings, token):
    settings.extra.update(token)
    yield settings
    for signer in list(_cache.values()):
        if signer.kind == "pkcs11":
            signer.signer.pkcs11_session.close()
    clear_cache()


def test_a_receipt_is_signed_on_the_token_and_verifies(session, hsm_settings, tmp_path):
    signer = load_signer(hsm_settings)
    assert signer.kind == "pkcs11"
    assert "Ký biên lai HSM" in signer.subject
    p = paid_payment(session)
    r = session.get(Receipt, receipt_id_for_payment(session, p.id))
    assert r.status == "issued" and "HSM" in r.signer_subject
    data = read_pdf(hsm_settings, r)
    result = verify_pdf(session, hsm_settings, data)
    assert result.valid, result.reasons
    # The first signature goes through pyHanko in full; later ones fill its container as a template,
    # signing on the token too: the second receipt must verify as well.
    assert signer.cms_template is not None
    second = session.get(Receipt, receipt_id_for_payment(session, paid_payment(session).id))
    assert second.status == "issued" and second.id != r.id
    result = verify_pdf(session, hsm_settings, read_pdf(hsm_settings, second))
    assert result.valid, result.reasons
    if shutil.which("pdfsig"):
        path = Path(tmp_path / "hsm.pdf")
        path.write_bytes(data)
        out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60).stdout
        assert "Signature is Valid." in out and "Total document signed" in out


def test_the_token_is_opened_once_and_reused(hsm_settings):
    assert load_signer(hsm_settings) is load_signer(hsm_settings)


def test_a_wrong_pin_is_a_clear_error(settings, token):
    from receipts.signing import SigningError

    settings.extra.update({**token, "HCC_SIGNING_PKCS11_PIN": "000000"})
    try:
        with pytest.raises(SigningError, match="PKCS#11"):
            load_signer(settings)
    finally:
        clear_cache()
