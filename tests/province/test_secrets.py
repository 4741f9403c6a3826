"""Secrets are encrypted at rest, never listed, and re-encrypted by rotation."""

import dataclasses

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from core.models import AuditLog
from core.settings import Settings
from province import secrets
from province.secrets import SecretsError

SECRET = b"VNPAY-hash-secret-0123456789ABCDEF"


def with_keys(settings: Settings, *keys: bytes) -> Settings:
    extra = {**settings.extra, "HCC_ENCRYPTION_KEYS": ",".join(k.decode() for k in keys)}
    return dataclasses.replace(settings, extra=extra)


def test_a_secret_is_not_readable_in_the_raw_row(session, settings):
    key = Fernet.generate_key()
    s = with_keys(settings, key)
    secrets.set_secret(session, s, "unit", 1, "vnpay_hash_secret", SECRET)
    session.commit()
    raw = session.execute(text("SELECT ciphertext FROM credential WHERE name = 'vnpay_hash_secret'")).scalar_one()
    assert SECRET.decode() not in raw and b"VNPAY" not in raw.encode()
    assert secrets.get_secret(session, s, "unit", 1, "vnpay_hash_secret") == SECRET
    other = with_keys(settings, Fernet.generate_key())
    with pytest.raises(SecretsError):
        secrets.get_secret(session, other, "unit", 1, "vnpay_hash_secret")


def test_listing_and_audit_never_carry_the_value(session, settings):
    s = with_keys(settings, Fernet.generate_key())
    secrets.set_secret(session, s, "unit", 7, "momo_secret_key", SECRET)
    [info] = secrets.describe(session, "unit", 7)
    assert info.name == "momo_secret_key" and SECRET.decode() not in repr(info)
    assert str(len(SECRET)) in info.hint
    for row in session.query(AuditLog).all():
        assert SECRET.decode() not in repr((row.before, row.after, row.detail))


def test_rotation_re_encrypts_with_the_first_key_and_old_keys_can_go(session, settings):
    old, new = Fernet.generate_key(), Fernet.generate_key()
    secrets.set_secret(session, with_keys(settings, old), "deployment", 0, "momo_access_key", SECRET)
    secrets.set_secret(session, with_keys(settings, old), "carrier_account", 3, "carrier_token", b"token-42")
    both = with_keys(settings, new, old)
    assert secrets.rotate(session, both) == 2
    only_new = with_keys(settings, new)
    assert secrets.get_secret(session, only_new, "deployment", 0, "momo_access_key") == SECRET
    assert secrets.get_secret(session, only_new, "carrier_account", 3, "carrier_token") == b"token-42"
    with pytest.raises(SecretsError):
        secrets.get_secret(session, with_keys(settings, old), "deployment", 0, "momo_access_key")


def test_rotation_without_the_old_key_changes_nothing(session, settings):
    old = Fernet.generate_key()
    row = secrets.set_secret(session, with_keys(settings, old), "unit", 1, "signing_pkcs11_pin", b"123456")
    before = row.ciphertext
    with pytest.raises(SecretsError):
        secrets.rotate(session, with_keys(settings, Fernet.generate_key()))
    assert row.ciphertext == before


def test_the_embedded_default_generates_a_private_key_file(session, settings):
    assert not secrets.keys_are_configured(settings)
    secrets.set_secret(session, settings, "unit", 1, "signing_pkcs12_password", b"pw")
    path = settings.instance_dir / "encryption_keys"
    assert path.stat().st_mode & 0o777 == 0o600
    assert secrets.get_secret(session, settings, "unit", 1, "signing_pkcs12_password") == b"pw"


def test_production_needs_keys_and_a_bad_key_is_named_not_shown(settings):
    prod = dataclasses.replace(settings, env="production")
    with pytest.raises(SecretsError, match="HCC_ENCRYPTION_KEYS"):
        secrets.configured_keys(prod)
    bad = dataclasses.replace(settings, extra={"HCC_ENCRYPTION_KEYS": f"{Fernet.generate_key().decode()},not-a-key"})
    with pytest.raises(SecretsError) as e:
        secrets.configured_keys(bad)
    assert "key 2" in str(e.value) and "not-a-key" not in str(e.value)


def test_unknown_names_are_refused(session, settings):
    with pytest.raises(Exception, match="unknown credential"):
        secrets.set_secret(session, settings, "unit", 1, "vnpay_hash_secrte", b"x")
