"""Which centres a staff user or API key may see: its home centre, extra centres, or the whole province."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from core.errors import InvalidInput
from core.models import Centre
from province.models import PRINCIPAL_TYPES, PrincipalCentre


def centre_ids_for(session: Session, principal_type: str, principal_id: int, home_centre_id: int | None,
                   province_wide: bool = False) -> frozenset[int]:
    """Every centre id the principal may see; queries filter with `Model.centre_id.in_(...)`.

    Province-wide when `province_wide` is true (a flag on User/ApiClient, to be added as a column) or when
    a principal_centre row with centre_id NULL exists: then every centre, including ones created later.
    Otherwise the home centre plus the principal's principal_centre rows.
    """
    if principal_type not in PRINCIPAL_TYPES:
        raise InvalidInput(f"unknown principal type {principal_type!r}")
    rows = list(session.scalars(select(PrincipalCentre.centre_id).where(
        PrincipalCentre.principal_type == principal_type, PrincipalCentre.principal_id == principal_id)))
    if province_wide or any(r is None for r in rows):
        return frozenset(session.scalars(select(Centre.id)))
    ids = {r for r in rows if r is not None}
    if home_centre_id is not None:
        ids.add(home_centre_id)
    return frozenset(ids)


def grant_centre(session: Session, principal_type: str, principal_id: int, centre_id: int | None, *,
                 actor: audit.Actor = audit.SYSTEM) -> bool:
    """Let a principal see one more centre (centre_id None: the whole province). False if it already could."""
    if principal_type not in PRINCIPAL_TYPES:
        raise InvalidInput(f"unknown principal type {principal_type!r}")
    cond = [PrincipalCentre.principal_type == principal_type, PrincipalCentre.principal_id == principal_id,
            PrincipalCentre.centre_id.is_(None) if centre_id is None else PrincipalCentre.centre_id == centre_id]
    if session.scalar(select(PrincipalCentre.id).where(*cond)) is not None:
        return False
    session.add(PrincipalCentre(principal_type=principal_type, principal_id=principal_id, centre_id=centre_id))
    session.flush()
    audit.record(session, actor, "access.granted", entity_type=principal_type, entity_id=principal_id,
                 after={"centre_id": centre_id, "province_wide": centre_id is None})
    return True


def revoke_centre(session: Session, principal_type: str, principal_id: int, centre_id: int | None, *,
                  actor: audit.Actor = audit.SYSTEM) -> bool:
    cond = [PrincipalCentre.principal_type == principal_type, PrincipalCentre.principal_id == principal_id,
            PrincipalCentre.centre_id.is_(None) if centre_id is None else PrincipalCentre.centre_id == centre_id]
    row = session.scalar(select(PrincipalCentre).where(*cond))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    audit.record(session, actor, "access.revoked", entity_type=principal_type, entity_id=principal_id,
                 before={"centre_id": centre_id, "province_wide": centre_id is None})
    return True
