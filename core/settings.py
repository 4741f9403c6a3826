"""Settings read from HCC_* environment variables, with safe defaults for the embedded mode."""

from __future__ import annotations

import importlib
import math
import os
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path


class SettingsError(Exception):
    """Raised when settings are missing, malformed or unsafe for production."""


def _bool(value: str) -> bool:
    v = value.strip().lower()
    if v in {"1", "true", "yes", "on"}:
        return True
    if v in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


@dataclass(frozen=True)
class Setting:
    """One documented HCC_* setting; the README table is generated from these."""

    name: str
    default: str
    help: str


# Every setting the service reads. Feature packages add theirs through `register_settings` so that
# one table (README, `hcc settings`) lists them all.
SETTINGS: dict[str, Setting] = {}


def register_settings(*items: Setting) -> None:
    for item in items:
        SETTINGS[item.name] = item


register_settings(
    Setting("HCC_ENV", "development", "`development` (embedded default) or `production`; production refuses unsafe settings."),
    Setting("HCC_INSTANCE_DIR", "./instance", "Folder for the SQLite database, generated secret, development certificate and stored files."),
    Setting("HCC_DATABASE_URL", "sqlite:///<instance>/hcc.sqlite3", "SQLAlchemy URL; PostgreSQL in production: `postgresql+psycopg://user@host/db`."),
    Setting("HCC_SECRET_KEY", "generated into `<instance>/secret_key`", "Flask session and CSRF secret; must be set in production: at least 32 characters, 10 distinct, about 128 bits (`python -c 'import secrets; print(secrets.token_urlsafe(48))'`)."),
    Setting("HCC_QUEUE_URL", "sqlite:///<instance>/queue.sqlite3", "Job queue storage: `sqlite:///path`, `redis://host:port/db` or `memory://` (tests)."),
    Setting("HCC_QUEUE_WORKERS", "2", "Worker threads of `hcc worker` and of the embedded in-process worker."),
    Setting("HCC_QUEUE_IMMEDIATE", "0", "Run jobs synchronously in the caller (tests only)."),
    Setting("HCC_SANDBOX", "1 in development, 0 in production", "Serve the outside systems' sandboxes under /sandbox and point adapters at them."),
    Setting("HCC_PUBLIC_URL", "http://127.0.0.1:5000", "Base URL citizens and gateways reach this service at (pay links, return and IPN URLs, QR codes)."),
    Setting("HCC_SIGNING_PKCS12", "generated into `<instance>/signing/dev-signing.p12`", "PKCS#12 file with the receipt signing key and certificate chain."),
    Setting("HCC_SIGNING_PKCS12_PASSWORD", "generated", "Password of the PKCS#12 file."),
    Setting("HCC_DEFAULT_LANGUAGE", "vi", "Language of pages when the visitor has not chosen one (`vi` or `en`)."),
    Setting("HCC_SESSION_COOKIE_SECURE", "0 in development, 1 in production", "Send the staff session cookie over HTTPS only."),
    Setting("HCC_LOG_LEVEL", "INFO", "Python logging level."),
)

DEV_SECRET_MARKERS = ("dev", "change-me", "changeme", "secret", "development")
SECRET_MIN_LENGTH = 32
SECRET_MIN_DISTINCT = 10
SECRET_MIN_BITS = 128

# Feature packages check their own settings for production through `register_production_check` (a
# function of Settings returning problems, each naming its setting). They are imported by name here,
# as core/registry.py does for models, so the start-up check sees them before the app imports anything.
PRODUCTION_CHECK_MODULES = ["core.outbound", "fees.config", "postal.production", "tax.channel"]
_PRODUCTION_CHECKS: list[Callable[[Settings], list[str]]] = []


def register_production_check(check: Callable[[Settings], list[str]]) -> Callable[[Settings], list[str]]:
    if check not in _PRODUCTION_CHECKS:
        _PRODUCTION_CHECKS.append(check)
    return check


def secret_key_problem(secret: str) -> str | None:
    """Why `secret` is too weak for HCC_SECRET_KEY (None when it will do).

    The rule: at least 32 characters, at least 10 distinct ones, not one piece repeated, and at least
    128 bits estimated as length x Shannon entropy of its own characters (a 48-byte `token_urlsafe` has
    about 340, a `token_hex(32)` about 250). The estimate cannot see every pattern; it catches the
    defaults, keyboard runs and repeated characters people type.
    """
    if len(secret) < SECRET_MIN_LENGTH or secret.lower() in DEV_SECRET_MARKERS:
        return f"HCC_SECRET_KEY is a default or too short (at least {SECRET_MIN_LENGTH} characters)"
    counts = Counter(secret)
    bits = -len(secret) * sum(n / len(secret) * math.log2(n / len(secret)) for n in counts.values())
    periodic = secret in (secret + secret)[1:-1]
    if len(counts) < SECRET_MIN_DISTINCT or bits < SECRET_MIN_BITS or periodic:
        return (f"HCC_SECRET_KEY is too predictable ({len(counts)} distinct characters, about {bits:.0f} bits"
                f"{', a repeated pattern' if periodic else ''}); it needs at least {SECRET_MIN_DISTINCT} distinct "
                f"characters, no repeated pattern and at least {SECRET_MIN_BITS} bits estimated as length x "
                f"Shannon entropy per character: generate one with "
                f"`python -c 'import secrets; print(secrets.token_urlsafe(48))'`")
    return None


@dataclass
class Settings:
    env: str = "development"
    instance_dir: Path = Path("instance")
    database_url: str = ""
    secret_key: str = ""
    secret_key_generated: bool = False
    queue_url: str = ""
    queue_workers: int = 2
    queue_immediate: bool = False
    sandbox: bool = True
    public_url: str = "http://127.0.0.1:5000"
    signing_pkcs12: Path | None = None
    signing_pkcs12_password: str | None = None
    default_language: str = "vi"
    session_cookie_secure: bool = False
    log_level: str = "INFO"
    # Anything else under HCC_*, for feature packages to read with `get`.
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.env == "production"

    def get(self, name: str, default: str | None = None) -> str | None:
        """An HCC_* setting by its full name, for feature packages."""
        return self.extra.get(name, default)

    def get_int(self, name: str, default: int) -> int:
        raw = self.extra.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError as e:
            raise SettingsError(f"{name} must be an integer, got {raw!r}") from e

    def get_bool(self, name: str, default: bool) -> bool:
        raw = self.extra.get(name)
        if raw is None:
            return default
        try:
            return _bool(raw)
        except ValueError as e:
            raise SettingsError(f"{name} must be 0 or 1, got {raw!r}") from e

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
        """Read settings; `overrides` (field names) win over the environment, for tests."""
        env = dict(os.environ if environ is None else environ)
        mode = overrides.pop("env", None) or env.get("HCC_ENV", "development").strip().lower()
        if mode not in {"development", "production"}:
            raise SettingsError(f"HCC_ENV must be 'development' or 'production', got {mode!r}")
        prod = mode == "production"
        instance = Path(overrides.pop("instance_dir", None) or env.get("HCC_INSTANCE_DIR", "instance")).resolve()

        def flag(name: str, default: bool) -> bool:
            raw = env.get(name)
            if raw is None:
                return default
            try:
                return _bool(raw)
            except ValueError as e:
                raise SettingsError(f"{name} must be 0 or 1, got {raw!r}") from e

        def integer(name: str, default: int) -> int:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                return int(raw)
            except ValueError as e:
                raise SettingsError(f"{name} must be an integer, got {raw!r}") from e

        p12 = env.get("HCC_SIGNING_PKCS12")
        values = dict(
            env=mode,
            instance_dir=instance,
            database_url=env.get("HCC_DATABASE_URL") or f"sqlite:///{instance / 'hcc.sqlite3'}",
            secret_key=env.get("HCC_SECRET_KEY", ""),
            queue_url=env.get("HCC_QUEUE_URL") or f"sqlite:///{instance / 'queue.sqlite3'}",
            queue_workers=integer("HCC_QUEUE_WORKERS", 2),
            queue_immediate=flag("HCC_QUEUE_IMMEDIATE", False),
            sandbox=flag("HCC_SANDBOX", not prod),
            public_url=env.get("HCC_PUBLIC_URL", "http://127.0.0.1:5000").rstrip("/"),
            signing_pkcs12=Path(p12) if p12 else None,
            signing_pkcs12_password=env.get("HCC_SIGNING_PKCS12_PASSWORD"),
            default_language=env.get("HCC_DEFAULT_LANGUAGE", "vi"),
            session_cookie_secure=flag("HCC_SESSION_COOKIE_SECURE", prod),
            log_level=env.get("HCC_LOG_LEVEL", "INFO").upper(),
            extra={k: v for k, v in env.items() if k.startswith("HCC_")},
        )
        known = {f.name for f in fields(cls)}
        for key, value in overrides.items():
            if key not in known:
                raise SettingsError(f"unknown setting {key!r}")
            values[key] = value
        if values["default_language"] not in {"vi", "en"}:
            raise SettingsError("HCC_DEFAULT_LANGUAGE must be 'vi' or 'en'")
        return cls(**values)

    def ensure_instance(self) -> None:
        """Create the instance folder and fill in generated development values."""
        self.instance_dir.mkdir(parents=True, exist_ok=True)
        if not self.secret_key and not self.production:
            path = self.instance_dir / "secret_key"
            if not path.exists():
                path.write_text(secrets.token_urlsafe(48))
                path.chmod(0o600)
            self.secret_key = path.read_text().strip()
            self.secret_key_generated = True

    def check_production(self) -> None:
        """Refuse to run production on development values; name the setting that is wrong."""
        if not self.production:
            return
        problems = []
        if not self.secret_key:
            problems.append("HCC_SECRET_KEY is not set")
        elif weak := secret_key_problem(self.secret_key):
            problems.append(weak)
        if self.sandbox:
            problems.append("HCC_SANDBOX is on; switch it off (HCC_SANDBOX=0) in production")
        if self.queue_immediate:
            problems.append("HCC_QUEUE_IMMEDIATE is on; it is for tests only")
        if self.signing_pkcs12 is None and not self.get("HCC_SIGNING_PKCS11_MODULE"):
            problems.append("HCC_SIGNING_PKCS12 (or HCC_SIGNING_PKCS11_MODULE) is not set; "
                            "the generated development certificate is not for production")
        elif self.signing_pkcs12 is not None:
            from core.devcert import UnreadablePkcs12, is_development_pkcs12

            try:
                if is_development_pkcs12(self.signing_pkcs12, self.signing_pkcs12_password):
                    problems.append("HCC_SIGNING_PKCS12 points at a development certificate")
            except UnreadablePkcs12 as e:
                # What cannot be opened cannot sign, nor be told apart from a development certificate.
                problems.append(f"HCC_SIGNING_PKCS12 cannot be used ({e}); check the file and "
                                f"HCC_SIGNING_PKCS12_PASSWORD")
        for name, value in self.extra.items():
            if name.endswith(("_SECRET", "_SECRET_KEY", "_HASH_SECRET")) and value.upper().startswith("SANDBOX"):
                problems.append(f"{name} is a sandbox secret")
        for module in PRODUCTION_CHECK_MODULES:
            importlib.import_module(module)
        for check in _PRODUCTION_CHECKS:
            problems.extend(check(self))
        if problems:
            raise SettingsError("refusing to start in production: " + "; ".join(problems))
