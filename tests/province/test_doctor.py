"""`hcc doctor`: the embedded default is not ready for production, and each blocker is named."""

import dataclasses
from datetime import UTC, date, datetime, timedelta

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from core.accounts import ensure_demo_centre
from core.devcert import make_ca, make_signing_cert
from province.doctor import exit_code, go_live_blockers, unit_ready
from province.series import register_series
from province.units import set_signing_pkcs12
from tests.province.conftest import make_centre, make_unit

NOW = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)


def codes(blockers, scope=None):
    return {b.code for b in blockers if scope is None or b.scope == scope}


def p12(days=365, development=False):
    ca_key, ca = make_ca(development=development)
    key, cert = make_signing_cert(ca_key, ca, "Sở Tư pháp tỉnh Bắc Ninh", "STP", days=days, development=development)
    return pkcs12.serialize_key_and_certificates(b"stp", key, cert, [ca],
                                                 serialization.BestAvailableEncryption(b"pw"))


def test_the_fresh_embedded_default_is_blocked_and_says_why(session, settings):
    ensure_demo_centre(session)
    blockers = go_live_blockers(session, dataclasses.replace(settings, secret_key_generated=True), now=NOW)
    assert exit_code(blockers) == 1
    assert {"sandbox-on", "default-secret-key", "no-smtp", "no-encryption-keys",
            "sandbox-gateway-credentials"} <= codes(blockers, "deployment")
    assert {"no-carrier-account"} <= codes(blockers, "centre DEMO-HN")
    # The demo centre serves the demo unit, which signs with the development key only.
    assert {"no-signing-key"} <= codes(blockers, "unit DEMO-HN")
    assert all(b.message and b.line() for b in blockers)


def test_a_unit_without_series_or_key_is_not_ready(session, settings):
    unit = make_unit(session, centres=[make_centre(session)])
    blockers = go_live_blockers(session, settings, now=NOW)
    assert {"no-series", "no-signing-key"} <= codes(blockers, "unit STP")
    problems = unit_ready(session, settings, unit, now=NOW)
    assert len(problems) == 2 and all("STP" in p for p in problems)


def test_a_ready_unit_and_a_certificate_that_expires(session, settings):
    s = dataclasses.replace(settings, extra={"HCC_ENCRYPTION_KEYS": Fernet.generate_key().decode()})
    unit = make_unit(session, centres=[make_centre(session)])
    register_series(session, unit, "EBL01", "26T", 2026, registered_on=date(2026, 1, 5))
    set_signing_pkcs12(session, s, unit, p12(days=400), b"pw")
    assert unit.signing_kind == "pkcs12" and "Bắc Ninh" in unit.cert_subject
    assert unit_ready(session, s, unit, now=NOW) == []
    soon = unit.cert_not_after - timedelta(days=10)
    for year in {soon.year, soon.year + 1} - {2026}:  # the certificate was made now, so it ends in a later year
        register_series(session, unit, "EBL01", f"{year % 100}T", year, registered_on=date(2026, 1, 5))
    found = [b for b in go_live_blockers(session, s, now=soon) if b.scope == "unit STP"]
    assert [b for b in found if b.code == "certificate-expiring"][0].blocking is False
    assert unit_ready(session, s, unit, now=soon) == []
    later = unit.cert_not_after + timedelta(seconds=1)
    assert "certificate-expired" in codes(go_live_blockers(session, s, now=later), "unit STP")
    assert any("hết hạn" in p for p in unit_ready(session, s, unit, now=later))


def test_a_development_certificate_blocks_production(session, settings):
    s = dataclasses.replace(settings, extra={"HCC_ENCRYPTION_KEYS": Fernet.generate_key().decode()})
    unit = make_unit(session, centres=[make_centre(session)])
    register_series(session, unit, "EBL01", "26T", 2026, registered_on=date(2026, 1, 5))
    set_signing_pkcs12(session, s, unit, p12(development=True), b"pw")
    assert "development-certificate" in codes(go_live_blockers(session, s, now=NOW), "unit STP")
    assert unit_ready(session, s, unit, now=NOW) == []
    production = dataclasses.replace(s, env="production", sandbox=False)
    assert any("thử nghiệm" in p for p in unit_ready(session, production, unit, now=NOW))
