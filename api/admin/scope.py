"""What an administrator may see: the centres of the caller, the units served there, or the whole province."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NotFound, PermissionDenied
from core.models import Centre
from province.access import centre_ids_for
from province.models import CarrierAccount, CentreUnit, CollectingUnit, PrincipalCentre


@dataclass(frozen=True)
class AdminScope:
    """The centres (ids) a caller administers; `province_wide` also reaches units served nowhere yet."""

    centre_ids: frozenset[int]
    province_wide: bool

    def centres(self, session: Session) -> list[Centre]:
        return list(session.scalars(select(Centre).where(Centre.id.in_(list(self.centre_ids))).order_by(Centre.code)))

    def centre(self, session: Session, code: str) -> Centre:
        """The centre by code, or NotFound when it does not exist or is another centre's (never a 403)."""
        centre = session.scalar(select(Centre).where(Centre.code == code))
        if centre is None or centre.id not in self.centre_ids:
            raise NotFound(f"Không có trung tâm mã {code!r}")
        return centre

    def units(self, session: Session) -> list[CollectingUnit]:
        stmt = select(CollectingUnit).order_by(CollectingUnit.code)
        if not self.province_wide:
            served = select(CentreUnit.unit_id).where(CentreUnit.centre_id.in_(list(self.centre_ids)))
            stmt = stmt.where(CollectingUnit.id.in_(served))
        return list(session.scalars(stmt))

    def unit(self, session: Session, code: str) -> CollectingUnit:
        """The unit by code, or NotFound when it does not exist or is served at none of the caller's centres."""
        unit = session.scalar(select(CollectingUnit).where(CollectingUnit.code == code))
        if unit is None or not (self.province_wide or self.serves(session, unit.id)):
            raise NotFound(f"Không có đơn vị thu mã {code!r}")
        return unit

    def unit_to_change(self, session: Session, code: str) -> CollectingUnit:
        """The unit by code, for a change of its fees, series or credentials.

        A unit served at several centres is the money and receipts of all of them: an administrator of
        one of those centres sees it, but only one who administers every centre serving it (or the whole
        province) may change it, so a commune desk cannot close the series or replace the key the
        provincial centre issues with. The others get 403 naming why (they may see the unit).
        """
        unit = self.unit(session, code)
        if self.province_wide:
            return unit
        serving = set(session.scalars(select(CentreUnit.centre_id).where(CentreUnit.unit_id == unit.id)))
        if not serving <= self.centre_ids:
            raise PermissionDenied(f"Đơn vị thu {unit.code} còn được trung tâm khác thu hộ; chỉ quản trị cấp tỉnh "
                                   "hoặc quản trị của mọi trung tâm đó được thay đổi phí, ký hiệu và khóa của đơn vị")
        return unit

    def serves(self, session: Session, unit_id: int) -> bool:
        return session.scalar(select(CentreUnit.id).where(CentreUnit.unit_id == unit_id,
                                                          CentreUnit.centre_id.in_(list(self.centre_ids)))) is not None

    def carrier_account(self, session: Session, centre: Centre, carrier: str) -> CarrierAccount:
        account = session.scalar(select(CarrierAccount).where(CarrierAccount.centre_id == centre.id,
                                                              CarrierAccount.carrier == carrier))
        if account is None:
            raise NotFound(f"Trung tâm {centre.code} chưa có tài khoản {carrier}")
        return account


def scope_for(session: Session, principal_type: str, principal_id: int, home_centre_id: int | None) -> AdminScope:
    wide = session.scalar(select(PrincipalCentre.id).where(
        PrincipalCentre.principal_type == principal_type, PrincipalCentre.principal_id == principal_id,
        PrincipalCentre.centre_id.is_(None))) is not None
    return AdminScope(centre_ids_for(session, principal_type, principal_id, home_centre_id), wide)


def current_scope(session: Session) -> AdminScope:
    """The scope of the request's principal (set by api.auth.require_roles)."""
    from api.auth import current_principal

    p = current_principal()
    return scope_for(session, p.kind, p.id, p.centre_id)
