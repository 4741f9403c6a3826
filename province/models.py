"""Tables of the province model: collecting units, where they are served, their series, credentials, accounts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from core.clock import utcnow
from core.db import Base, UTCDateTime
from core.errors import InvalidInput
from core.models import Centre
from province.taxcode import TaxCodeError, normalise_tax_code

SIGNING_KINDS = ("pkcs12", "pkcs11", "remote")
SERIES_STATES = ("draft", "submitted", "registered", "in_use", "closed")
# Who a credential belongs to. A deployment-wide credential has owner_id 0 (there is one deployment).
OWNER_TYPES = ("unit", "centre", "deployment", "carrier_account")
CARRIERS = ("vnpost", "viettelpost", "ghn")
PRINCIPAL_TYPES = ("user", "api_client")


class CollectingUnit(Base):
    """A collecting unit (đơn vị thu phí, lệ phí): owns fees, money and receipts (its name, tax code, key).

    Secrets (PKCS#12 file and password, PKCS#11 PIN, gateway keys) are `Credential` rows with
    owner_type 'unit'; only what is not secret lives here. `cert_subject`/`cert_not_after` describe the
    signing certificate and are filled when a signing credential is set.
    """

    __tablename__ = "collecting_unit"
    __table_args__ = (
        CheckConstraint("signing_kind IS NULL OR signing_kind IN ('pkcs12', 'pkcs11', 'remote')", name="signing_kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    tax_code: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(500))
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(255))
    # The bank account VietQR codes show for this unit's fees (NAPAS BIN, number, holder name).
    bank_bin: Mapped[str | None] = mapped_column(String(8))
    bank_account_number: Mapped[str | None] = mapped_column(String(32))
    bank_account_name: Mapped[str | None] = mapped_column(String(255))
    signing_kind: Mapped[str | None] = mapped_column(String(8))
    pkcs11_module: Mapped[str | None] = mapped_column(String(500))
    pkcs11_slot: Mapped[int | None] = mapped_column(Integer)
    pkcs11_token_label: Mapped[str | None] = mapped_column(String(255))
    pkcs11_key_label: Mapped[str | None] = mapped_column(String(255))
    pkcs11_cert_label: Mapped[str | None] = mapped_column(String(255))
    cert_subject: Mapped[str | None] = mapped_column(String(500))
    cert_not_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Non-secret gateway ids of the unit's own merchant accounts: {"vnpay_tmn_code": ..., "momo_partner_code": ...}.
    gateway: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @validates("tax_code")
    def _check_tax_code(self, _key: str, value: str) -> str:
        try:
            return normalise_tax_code(value)
        except TaxCodeError as e:
            raise InvalidInput(str(e), errors={"tax_code": [str(e)]}) from e


class CentreUnit(Base):
    """A unit served at a centre: the centre collects and issues receipts on the unit's behalf."""

    __tablename__ = "centre_unit"
    __table_args__ = (UniqueConstraint("centre_id", "unit_id", name="uq_centre_unit_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("collecting_unit.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    centre: Mapped[Centre] = relationship()
    unit: Mapped[CollectingUnit] = relationship()


class ReceiptSeries(Base):
    """A unit's receipt series (ký hiệu mẫu + ký hiệu) for one year: draft → registered → in_use → closed.

    Its state changes only through `province.series`. `registered_on` is the day the tax authority
    accepted the registration; a series migrated from before units existed has the Vietnamese day of
    its first receipt there (NULL if it had none).
    """

    __tablename__ = "receipt_series"
    __table_args__ = (
        UniqueConstraint("unit_id", "template", "symbol", name="uq_receipt_series_unit_template_symbol"),
        CheckConstraint("state IN ('draft', 'submitted', 'registered', 'in_use', 'closed')", name="state_known"),
        CheckConstraint("number_width BETWEEN 1 AND 12", name="number_width_range"),
        Index("ix_receipt_series_unit_year", "unit_id", "year"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("collecting_unit.id"))
    template: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(16))
    year: Mapped[int] = mapped_column(Integer)
    number_width: Mapped[int] = mapped_column(Integer, default=7)
    state: Mapped[str] = mapped_column(String(16), default="draft")
    registered_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    unit: Mapped[CollectingUnit] = relationship()


class Credential(Base):
    """A secret encrypted at rest (a Fernet token); read and written only through `province.secrets`.

    owner_type/owner_id: ('unit', unit id), ('centre', centre id), ('carrier_account', account id),
    or ('deployment', 0). `key_id` is a fingerprint of the key that encrypted it (not the key).
    """

    __tablename__ = "credential"
    __table_args__ = (
        UniqueConstraint("owner_type", "owner_id", "name", name="uq_credential_owner_name"),
        CheckConstraint("owner_type IN ('unit', 'centre', 'deployment', 'carrier_account')", name="owner_type_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_type: Mapped[str] = mapped_column(String(24))
    owner_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    ciphertext: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(16))
    # Size of the plaintext, so a listing can say "set, 2 KB" without decrypting anything.
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CarrierAccount(Base):
    """A centre's contract with a carrier; its API token is a Credential (owner_type 'carrier_account')."""

    __tablename__ = "carrier_account"
    __table_args__ = (
        UniqueConstraint("centre_id", "carrier", name="uq_carrier_account_centre_carrier"),
        CheckConstraint("carrier IN ('vnpost', 'viettelpost', 'ghn')", name="carrier_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id"), index=True)
    carrier: Mapped[str] = mapped_column(String(16))
    customer_code: Mapped[str | None] = mapped_column(String(64))
    contract_number: Mapped[str | None] = mapped_column(String(64))
    pickup_address: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    centre: Mapped[Centre] = relationship()


class PrincipalCentre(Base):
    """Extra centres a staff user or API key belongs to, beyond its home centre (User/ApiClient.centre_id).

    A row with centre_id NULL means the whole province (province admins and finance): every centre,
    including centres created later. Read through `province.access.centre_ids_for`.
    """

    __tablename__ = "principal_centre"
    __table_args__ = (
        UniqueConstraint("principal_type", "principal_id", "centre_id", name="uq_principal_centre_row"),
        CheckConstraint("principal_type IN ('user', 'api_client')", name="principal_type_known"),
        Index("ix_principal_centre_principal", "principal_type", "principal_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    principal_type: Mapped[str] = mapped_column(String(16))
    principal_id: Mapped[int] = mapped_column(Integer)
    centre_id: Mapped[int | None] = mapped_column(ForeignKey("centre.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
