"""Production refuses to start on what would fail or leak later (issue 16, finding 7), and a gateway that
is unconfigured all the same answers a clear 503, not a 500."""

from __future__ import annotations

import secrets

import pytest

from core.devcert import UnreadablePkcs12, ensure_dev_signing, is_development_pkcs12
from core.settings import Settings, SettingsError
from fees.schedule import seed_default
from tests.factories import bearer, make_api_key
from tests.production_env import CARRIER_SETTINGS, GATEWAY_SETTINGS, production_env


def refusal(env: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as e:
        Settings.from_env(env).check_production()
    return str(e.value)


# --- (a) the signing PKCS#12 --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev_signing(tmp_path_factory):
    return ensure_dev_signing(tmp_path_factory.mktemp("dev"))


def test_a_development_pkcs12_with_a_wrong_password_is_refused(tmp_path, dev_signing):
    message = refusal(production_env(tmp_path, HCC_SIGNING_PKCS12=str(dev_signing.pkcs12),
                                     HCC_SIGNING_PKCS12_PASSWORD="not-the-password"))
    assert "HCC_SIGNING_PKCS12 cannot be used" in message and "wrong or missing password" in message


def test_a_development_pkcs12_without_its_password_is_refused(tmp_path, dev_signing):
    message = refusal(production_env(tmp_path, HCC_SIGNING_PKCS12=str(dev_signing.pkcs12),
                                     HCC_SIGNING_PKCS12_PASSWORD=None))
    assert "HCC_SIGNING_PKCS12 cannot be used" in message and "HCC_SIGNING_PKCS12_PASSWORD" in message


def test_a_missing_pkcs12_file_is_refused(tmp_path):
    message = refusal(production_env(tmp_path, HCC_SIGNING_PKCS12=str(tmp_path / "nowhere.p12")))
    assert "HCC_SIGNING_PKCS12 cannot be used" in message and "cannot read" in message


def test_a_file_that_is_no_pkcs12_is_refused(tmp_path):
    junk = tmp_path / "junk.p12"
    junk.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot really\n")
    assert "HCC_SIGNING_PKCS12 cannot be used" in refusal(production_env(tmp_path, HCC_SIGNING_PKCS12=str(junk)))


def test_a_development_pkcs12_with_its_password_is_refused(tmp_path, dev_signing):
    message = refusal(production_env(tmp_path, HCC_SIGNING_PKCS12=str(dev_signing.pkcs12),
                                     HCC_SIGNING_PKCS12_PASSWORD=dev_signing.password))
    assert "HCC_SIGNING_PKCS12 points at a development certificate" in message


def test_looking_at_an_unreadable_pkcs12_never_answers_not_development(dev_signing):
    assert is_development_pkcs12(dev_signing.pkcs12, dev_signing.password) is True
    with pytest.raises(UnreadablePkcs12):
        is_development_pkcs12(dev_signing.pkcs12, "wrong")


# --- (b) gateways and carriers ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GATEWAY_SETTINGS) + sorted(CARRIER_SETTINGS))
def test_each_missing_gateway_or_carrier_setting_is_named(tmp_path, name):
    assert name in refusal(production_env(tmp_path, **{name: None}))


def test_every_missing_setting_is_named_at_once(tmp_path):
    env = {k: v for k, v in production_env(tmp_path).items() if k not in GATEWAY_SETTINGS and k not in CARRIER_SETTINGS}
    message = refusal(env)
    missing = [n for n in (*GATEWAY_SETTINGS, *CARRIER_SETTINGS) if n not in message]
    assert not missing, message
    for gateway in ("vnpay", "momo", "vietqr"):
        assert f"the {gateway} gateway needs" in message
    for carrier in ("vnpost", "viettelpost", "ghn"):
        assert f"the {carrier} carrier needs" in message


def test_only_the_carriers_in_use_need_settings(tmp_path):
    unused = {n: None for n in CARRIER_SETTINGS if not n.startswith("HCC_VNPOST_")}
    Settings.from_env(production_env(tmp_path, HCC_POSTAL_CARRIERS="vnpost", **unused)).check_production()
    # A centre that uses GHN makes GHN's settings necessary again.
    message = refusal(production_env(tmp_path, HCC_POSTAL_CARRIERS="vnpost", HCC_POSTAL_CARRIERS_HCC_QN="ghn",
                                     **unused))
    assert "HCC_GHN_TOKEN" in message and "HCC_VIETTELPOST_PASSWORD" not in message


def test_an_unknown_carrier_name_is_named(tmp_path):
    assert "HCC_POSTAL_CARRIERS names 'vnpots'" in refusal(production_env(tmp_path, HCC_POSTAL_CARRIERS="vnpots"))


def test_a_malformed_webhook_allow_list_is_named(tmp_path):
    message = refusal(production_env(tmp_path, HCC_WEBHOOK_ALLOWED_NETWORKS="10.0.0.0/8, intranet"))
    assert "HCC_WEBHOOK_ALLOWED_NETWORKS" in message and "intranet" in message


def test_production_does_not_start_without_gateway_secrets(tmp_path, database_url):
    from api import create_app

    env = production_env(tmp_path, HCC_VNPAY_HASH_SECRET=None, HCC_VIETQR_ACCOUNT=None)
    with pytest.raises(SettingsError, match="HCC_VNPAY_HASH_SECRET.*HCC_VIETQR_ACCOUNT|HCC_VIETQR_ACCOUNT.*HCC_VNPAY"):
        create_app({"settings": Settings.from_env(env, database_url=database_url, queue_url="memory://"),
                    "TESTING": True})


@pytest.fixture
def production_app(tmp_path, database_url):
    from cryptography.fernet import Fernet

    from api import create_app
    from core.accounts import ensure_demo_centre
    from province.units import set_signing_pkcs12, units_served_at

    # Throttling in production wants Redis; it is not what these tests are about.
    settings = Settings.from_env(production_env(tmp_path / "instance", HCC_RATELIMIT_ENABLED="0",
                                                HCC_ENCRYPTION_KEYS=Fernet.generate_key().decode()),
                                 database_url=database_url, queue_url="memory://")
    app = create_app({"settings": settings, "TESTING": True})
    with app.extensions["hcc"].db.session() as session:
        centre = ensure_demo_centre(session)
        seed_default(session, centre)
        # A unit takes payments in production only once it can sign its receipts with a real key.
        for unit in units_served_at(session, centre.id):
            set_signing_pkcs12(session, settings, unit, settings.signing_pkcs12.read_bytes(), b"pw")
        session.commit()
        app.config["test_key"] = make_api_key(session)
    yield app
    app.extensions["hcc"].db.dispose()


def test_a_gateway_unconfigured_at_request_time_answers_503_naming_it(production_app):
    production_app.extensions["hcc"].settings.extra.pop("HCC_VIETQR_ACCOUNT")  # e.g. a bad reload
    body = {"dossier_code": "000.00.12.H26-260101-0042", "payer": {"name": "Lê Văn Cường", "phone": "0987654321"},
            "items": [{"fee_code": "LLTP", "quantity": 1}]}
    resp = production_app.test_client().post("/api/v1/payments", json=body,
                                             headers=bearer(production_app.config["test_key"]))
    assert resp.status_code == 503 and resp.mimetype == "application/problem+json"
    problem = resp.get_json()
    assert "vietqr" in problem["title"] and "HCC_VIETQR_ACCOUNT" in problem["detail"]
    assert problem["type"] == "urn:hcc:problem:gateway-not-configured"


def test_a_configured_production_app_creates_payments(production_app):
    body = {"dossier_code": "000.00.12.H26-260101-0043", "payer": {"name": "Lê Văn Cường", "phone": "0987654321"},
            "items": [{"fee_code": "LLTP", "quantity": 1}]}
    resp = production_app.test_client().post("/api/v1/payments", json=body,
                                             headers=bearer(production_app.config["test_key"]))
    assert resp.status_code == 201 and resp.get_json()["vietqr"].startswith("000201")


# --- (c) the secret key ---------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [
    "a" * 40,
    "ab" * 24,
    "0123456789abcdef" * 3,
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabcdefghij",
    "qwertyuiopqwertyuiopqwertyuiopqw",
])
def test_a_low_entropy_secret_key_is_refused(tmp_path, secret):
    message = refusal(production_env(tmp_path, HCC_SECRET_KEY=secret))
    assert "HCC_SECRET_KEY is too predictable" in message and "128 bits" in message and "10 distinct" in message


def test_a_short_or_default_secret_key_is_refused(tmp_path):
    assert "HCC_SECRET_KEY is a default or too short" in refusal(production_env(tmp_path, HCC_SECRET_KEY="changeme"))


@pytest.mark.parametrize("secret", [secrets.token_urlsafe(48), secrets.token_hex(32), secrets.token_urlsafe(32)],
                         ids=["urlsafe-48", "hex-32", "urlsafe-32"])
def test_a_generated_secret_key_is_accepted(tmp_path, secret):
    Settings.from_env(production_env(tmp_path, HCC_SECRET_KEY=secret)).check_production()
