"""Settings: safe embedded defaults, and production refusing development values by name."""

import pytest

from core.devcert import ensure_dev_signing, is_development_pkcs12
from core.settings import Settings, SettingsError
from tests.production_env import GOOD_SECRET, production_env


def test_embedded_defaults_live_under_the_instance_folder(tmp_path):
    s = Settings.from_env({"HCC_INSTANCE_DIR": str(tmp_path / "inst")})
    assert s.database_url == f"sqlite:///{tmp_path / 'inst' / 'hcc.sqlite3'}"
    assert s.sandbox is True and s.production is False
    s.ensure_instance()
    assert s.secret_key and s.secret_key_generated
    # The generated secret is kept: a restart keeps staff signed in.
    again = Settings.from_env({"HCC_INSTANCE_DIR": str(tmp_path / "inst")})
    again.ensure_instance()
    assert again.secret_key == s.secret_key


def test_environment_overrides_defaults(tmp_path):
    s = Settings.from_env({"HCC_INSTANCE_DIR": str(tmp_path), "HCC_DATABASE_URL": "postgresql+psycopg://x/y",
                           "HCC_VNPAY_TMN_CODE": "ABC"})
    assert s.database_url == "postgresql+psycopg://x/y"
    assert s.get("HCC_VNPAY_TMN_CODE") == "ABC"


def test_a_malformed_value_names_its_setting(tmp_path):
    with pytest.raises(SettingsError, match="HCC_QUEUE_WORKERS"):
        Settings.from_env({"HCC_INSTANCE_DIR": str(tmp_path), "HCC_QUEUE_WORKERS": "many"})
    with pytest.raises(SettingsError, match="HCC_SANDBOX"):
        Settings.from_env({"HCC_INSTANCE_DIR": str(tmp_path), "HCC_SANDBOX": "perhaps"})


def test_production_refuses_a_missing_secret_and_a_sandbox(tmp_path):
    s = Settings.from_env({"HCC_ENV": "production", "HCC_INSTANCE_DIR": str(tmp_path), "HCC_SANDBOX": "1"})
    s.ensure_instance()
    with pytest.raises(SettingsError) as e:
        s.check_production()
    assert "HCC_SECRET_KEY" in str(e.value) and "HCC_SANDBOX" in str(e.value)


def test_production_refuses_the_development_certificate(tmp_path):
    dev = ensure_dev_signing(tmp_path / "inst")
    assert is_development_pkcs12(dev.pkcs12, dev.password)
    s = Settings.from_env({"HCC_ENV": "production", "HCC_INSTANCE_DIR": str(tmp_path), "HCC_SECRET_KEY": GOOD_SECRET,
                           "HCC_SIGNING_PKCS12": str(dev.pkcs12), "HCC_SIGNING_PKCS12_PASSWORD": dev.password})
    with pytest.raises(SettingsError, match="HCC_SIGNING_PKCS12 points at a development certificate"):
        s.check_production()


def test_production_refuses_a_default_secret(tmp_path):
    s = Settings.from_env({"HCC_ENV": "production", "HCC_INSTANCE_DIR": str(tmp_path), "HCC_SECRET_KEY": "changeme"})
    with pytest.raises(SettingsError, match="HCC_SECRET_KEY is a default or too short"):
        s.check_production()


def test_production_starts_with_proper_settings(tmp_path):
    s = Settings.from_env(production_env(tmp_path))
    s.check_production()
    assert s.sandbox is False and s.session_cookie_secure is True
