"""Go-live check: what, per deployment, centre and unit, still blocks production (`hcc doctor`).

`go_live_blockers` lists blockers and warnings (a certificate expiring within 30 days, next year's
series not yet registered in December); `hcc doctor` exits non-zero while any item is blocking.
`unit_ready` is the short list production checks before taking a payment for a unit's fees.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.clock import local_day, utcnow
from core.devcert import DEV_MARKER
from core.models import Centre
from core.settings import DEV_SECRET_MARKERS, Settings
from fees.models import FeeType
from province import secrets
from province.models import CarrierAccount, CentreUnit, CollectingUnit
from province.series import usable_series
from province.taxcode import is_valid_tax_code

EXPIRY_WARNING = timedelta(days=30)
# Deployment-wide gateway secrets (fees/config.py); unset means the sandbox default, as does a SANDBOX… value.
GATEWAY_SECRETS = ("HCC_VNPAY_HASH_SECRET", "HCC_MOMO_ACCESS_KEY", "HCC_MOMO_SECRET_KEY", "HCC_BANK_WEBHOOK_SECRET")


@dataclass(frozen=True)
class Blocker:
    """One finding: where (`deployment`, `centre TTPVHCC`, `unit STP`), a stable code, a Vietnamese message."""

    scope: str
    code: str
    message: str
    blocking: bool = True

    def line(self) -> str:
        return f"[{'CHẶN' if self.blocking else 'CẢNH BÁO'}] {self.scope}: {self.message} ({self.code})"


def _signing_findings(session: Session, unit: CollectingUnit, now: datetime) -> list[tuple[str, str, bool]]:
    found = []
    if unit.signing_kind is None:
        found.append(("no-signing-key", "Chưa có khóa ký biên lai (PKCS#12, PKCS#11 hoặc ký số từ xa)", True))
    elif unit.signing_kind == "pkcs12" and not secrets.has_secret(session, "unit", unit.id, "signing_pkcs12"):
        found.append(("no-signing-key", "Chưa tải lên tệp PKCS#12 của khóa ký", True))
    elif unit.signing_kind == "pkcs11" and (
            not unit.pkcs11_module or not secrets.has_secret(session, "unit", unit.id, "signing_pkcs11_pin")):
        found.append(("no-signing-key", "Khóa ký PKCS#11 thiếu thư viện hoặc mã PIN", True))
    elif unit.signing_kind == "remote" and not secrets.has_secret(session, "unit", unit.id, "signing_remote"):
        found.append(("no-signing-key", "Ký số từ xa chưa có cấu hình dịch vụ", True))
    if unit.cert_not_after is not None:
        day = unit.cert_not_after.strftime("%d/%m/%Y")
        if unit.cert_not_after <= now:
            found.append(("certificate-expired", f"Chứng thư số đã hết hạn ngày {day}; ngừng cấp biên lai", True))
        elif unit.cert_not_after <= now + EXPIRY_WARNING:
            found.append(("certificate-expiring", f"Chứng thư số hết hạn ngày {day}; cần gia hạn", False))
    if unit.cert_subject and DEV_MARKER in unit.cert_subject:
        found.append(("development-certificate", "Khóa ký là chứng thư thử nghiệm, không dùng cho vận hành thật", True))
    return found


def _series_findings(session: Session, unit: CollectingUnit, now: datetime) -> list[tuple[str, str, bool]]:
    today = local_day(now)
    found = []
    if not usable_series(session, unit.id, today.year, today):
        found.append(("no-series", f"Chưa có ký hiệu biên lai đã đăng ký với cơ quan thuế cho năm {today.year}", True))
    if today.month == 12 and not usable_series(session, unit.id, today.year + 1):
        found.append(("no-series-next-year", f"Chưa đăng ký ký hiệu biên lai cho năm {today.year + 1}", False))
    return found


def unit_ready(session: Session, settings: Settings, unit: CollectingUnit, *, now: datetime | None = None) -> list[str]:
    """Why a payment for this unit's fees must be refused now (Vietnamese messages); empty when ready.

    Checks what would make the receipt fail later: inactive unit, no registered series for this year,
    no or expired signing key, a development certificate in production.
    """
    now = now or utcnow()
    problems = []
    if not unit.active:
        problems.append(f"Đơn vị thu {unit.code} đã ngừng hoạt động")
    for code, message, blocking in _series_findings(session, unit, now) + _signing_findings(session, unit, now):
        if not blocking or (code == "development-certificate" and not settings.production):
            continue
        problems.append(f"Đơn vị thu {unit.code}: {message}")
    return problems


def _deployment(settings: Settings) -> list[Blocker]:
    out = []

    def block(code: str, message: str) -> None:
        out.append(Blocker("deployment", code, message))

    if settings.sandbox:
        block("sandbox-on", "Đang bật môi trường thử nghiệm (HCC_SANDBOX=1): cổng thanh toán và vận chuyển là giả lập")
    if (settings.secret_key_generated or not settings.secret_key or len(settings.secret_key) < 32
            or settings.secret_key.lower() in DEV_SECRET_MARKERS):
        block("default-secret-key", "HCC_SECRET_KEY chưa đặt (đang dùng khóa tự sinh hoặc khóa mặc định)")
    if not settings.get("HCC_SMTP_HOST"):
        block("no-smtp", "Chưa cấu hình máy chủ thư (HCC_SMTP_HOST): biên lai không gửi được qua thư điện tử")
    if not secrets.keys_are_configured(settings):
        block("no-encryption-keys", "Chưa đặt HCC_ENCRYPTION_KEYS: bí mật đang mã hóa bằng khóa tự sinh trong thư mục instance")
    sandboxed = [name for name in GATEWAY_SECRETS
                 if not settings.get(name) or str(settings.get(name)).upper().startswith("SANDBOX")]
    if sandboxed:
        block("sandbox-gateway-credentials", "Khóa cổng thanh toán vẫn là khóa thử nghiệm: " + ", ".join(sandboxed))
    return out


def go_live_blockers(session: Session, settings: Settings, *, now: datetime | None = None) -> list[Blocker]:
    """Everything that blocks (or should be looked at before) production, deployment first, then centres, units."""
    now = now or utcnow()
    out = _deployment(settings)
    centres = list(session.scalars(select(Centre).order_by(Centre.code)))
    units = list(session.scalars(select(CollectingUnit).where(CollectingUnit.active.is_(True))
                                 .order_by(CollectingUnit.code)))
    if not centres:
        out.append(Blocker("deployment", "no-centre", "Chưa có trung tâm nào (nhập tệp tỉnh: hcc province import)"))
    if not units:
        out.append(Blocker("deployment", "no-unit", "Chưa có đơn vị thu nào (nhập tệp tỉnh: hcc province import)"))
    for centre in centres:
        scope = f"centre {centre.code}"
        if centre.is_demo:
            out.append(Blocker(scope, "demo-centre", "Trung tâm thử nghiệm (DEMO) vẫn còn trong cơ sở dữ liệu", False))
        served = session.scalar(select(func.count()).select_from(CentreUnit).where(CentreUnit.centre_id == centre.id))
        if not served:
            out.append(Blocker(scope, "no-unit-served", "Trung tâm chưa thu hộ cho đơn vị nào"))
        accounts = list(session.scalars(select(CarrierAccount).where(CarrierAccount.centre_id == centre.id,
                                                                     CarrierAccount.active.is_(True))))
        if not accounts:
            out.append(Blocker(scope, "no-carrier-account",
                               "Chưa có tài khoản đơn vị vận chuyển (VNPost, Viettel Post, GHN) để trả kết quả qua bưu chính"))
        for account in accounts:
            if not secrets.has_secret(session, "carrier_account", account.id, "carrier_token"):
                out.append(Blocker(scope, "no-carrier-token", f"Tài khoản {account.carrier} chưa có token API"))
    for unit in units:
        scope = f"unit {unit.code}"
        if not is_valid_tax_code(unit.tax_code):
            out.append(Blocker(scope, "invalid-tax-code", f"Mã số thuế {unit.tax_code!r} không hợp lệ"))
        for code, message, blocking in _series_findings(session, unit, now) + _signing_findings(session, unit, now):
            out.append(Blocker(scope, code, message, blocking))
        if not session.scalar(select(func.count()).select_from(CentreUnit).where(CentreUnit.unit_id == unit.id)):
            out.append(Blocker(scope, "unit-not-served", "Đơn vị chưa được trung tâm nào thu hộ", False))
        if not session.scalar(select(func.count()).select_from(FeeType).where(FeeType.unit_id == unit.id)):
            out.append(Blocker(scope, "no-fees", "Đơn vị chưa có danh mục phí, lệ phí", False))
        if not (unit.bank_bin and unit.bank_account_number):
            out.append(Blocker(scope, "no-bank-account",
                               "Chưa có tài khoản ngân hàng cho VietQR (đang dùng tài khoản chung của hệ thống)", False))
        for gateway, (id_key, names) in secrets.gateway_unit_fields().items():
            has_id = bool(id_key and (unit.gateway or {}).get(id_key))
            missing = [n for n in names if not secrets.has_secret(session, "unit", unit.id, n)]
            if has_id and missing:
                out.append(Blocker(scope, f"incomplete-{gateway}", f"Có mã {gateway.upper()} nhưng thiếu {', '.join(missing)}"))
    return out


def exit_code(blockers: list[Blocker]) -> int:
    """What `hcc doctor` exits with: 1 while anything blocks, else 0."""
    return 1 if any(b.blocking for b in blockers) else 0
