"""Postal background work: creation at the carrier, labels, tracking polls, and the sweeps that re-drive them.

Creation never makes a parcel twice: our shipment code is the carrier's order number, and an attempt
that follows an earlier one (which may have timed out after the carrier created the order) first
looks the order up by that number; a carrier without look-up answers a repeated create with a
duplicate error carrying its code.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from carriers.base import (
    FINAL_STATUSES,
    Carrier,
    CarrierError,
    CreatedShipment,
    DuplicateOrderError,
    NotSupported,
    PermanentCarrierError,
    RetryableCarrierError,
    ShipmentRequest,
    carrier_names,
    get_carrier,
    supports_pickup,
)
from core import audit, events, jobs
from core.clock import utcnow
from core.money import format_vnd
from postal.accounts import account_config, active_account, carrier_for_centre
from postal.models import CarrierCursor, Shipment
from postal.shipments import (
    _flag,
    apply_event,
    carrier_request,
    configured_carriers,
    find_for_event,
    lock_shipment,
    notify_pickup_requested,
)

log = logging.getLogger(__name__)
CARRIER_ACTOR = audit.Actor(type="carrier", name="carrier")
REDRIVE_AFTER = timedelta(seconds=60)


def _actor(carrier: str) -> audit.Actor:
    return audit.Actor(type="carrier", id=carrier, name=carrier)


def _prepare(session: Session, settings, s: Shipment, names) -> dict[str, tuple[Carrier, ShipmentRequest] | CarrierError]:
    """Each carrier as the shipment's centre holds it (its own account there, else the deployment's),
    with the request that carrier is to get (the sender at that account's pickup address); a carrier
    whose account cannot be used maps to why, so it is neither asked nor replaced by another account."""
    prepared: dict[str, tuple[Carrier, ShipmentRequest] | CarrierError] = {}
    for name in names:
        try:
            account = account_config(session, settings, name, s.centre_id)
            # Each carrier gets its own address ids; one that has none for the address is not asked
            # (with `auto`) or fails the creation, never sent a wrong code.
            prepared[name] = (get_carrier(name, settings, account=account),
                              carrier_request(session, s, account.pickup_address if account else None,
                                              carrier=name, settings=settings))
        except CarrierError as e:
            prepared[name] = e
    return prepared


@jobs.job(retries=10, backoff=10.0)
def create_at_carrier(shipment_id: int) -> None:
    settings = jobs.settings()
    with jobs.session_scope() as session:
        s = lock_shipment(session, shipment_id)
        if s is None or s.tracking_code or s.status != "pending" or "create_failed" in (s.flags or []):
            return
        tried_before = s.create_started_at is not None
        s.create_attempts += 1
        s.create_started_at = utcnow()
        carrier_name, have_rates, centre = s.carrier, bool(s.rates), s.centre
        inbound = s.direction == "inbound"
        candidates = configured_carriers(settings, centre)
        if inbound:
            # A dossier pickup can only go to a carrier that sends a postman to the citizen.
            candidates = [c for c in candidates if supports_pickup(c)]
        names = ([] if have_rates else candidates) + ([carrier_name] if carrier_name != "auto" else [])
        prepared = _prepare(session, settings, s, dict.fromkeys(names))
    # The carrier calls happen outside any transaction: a slow carrier must not hold database locks.
    rates, choice, chosen_service = [], None, None
    if not have_rates:
        for name in candidates:
            entry = prepared[name]
            try:
                if isinstance(entry, CarrierError):
                    raise entry
                quoting, quote_request = entry
                rates += [r.__dict__ for r in quoting.quote(quote_request)]
            except CarrierError as e:
                log.info("no quote", extra={"carrier": name, "error": type(e).__name__})
        if carrier_name == "auto":
            if not rates:
                raise jobs.RetryableJobError("no carrier could quote")
            best = min(rates, key=lambda r: r["fee"])
            carrier_name, chosen_service = best["carrier"], best["service"]
            choice = f"{carrier_name}/{best['service']}: rẻ nhất trong {len(rates)} báo giá ({format_vnd(best['fee'])})"
        else:
            own = [r for r in rates if r["carrier"] == carrier_name]
            cheapest = min(rates, key=lambda r: r["fee"]) if rates else None
            choice = f"{carrier_name}: theo yêu cầu"
            if own and cheapest:
                choice += (f" ({format_vnd(min(r['fee'] for r in own))}; "
                           f"rẻ nhất {cheapest['carrier']} {format_vnd(cheapest['fee'])})")
    if chosen_service:
        # Record the carrier before calling it: a worker that dies mid-call must leave the retry
        # asking the same carrier for the order, not quoting again and choosing another one.
        with jobs.session_scope() as session:
            s = lock_shipment(session, shipment_id)
            if s.carrier == "auto":
                s.carrier, s.service, s.rates, s.choice = carrier_name, s.service or chosen_service, rates, choice
    entry = prepared.get(carrier_name) or PermanentCarrierError(f"unknown carrier {carrier_name!r}")
    carrier, request = entry if not isinstance(entry, CarrierError) else (None, None)
    if request is not None and chosen_service and not request.service:
        from dataclasses import replace

        request = replace(request, service=chosen_service)
    created: CreatedShipment | None = None
    error: str | None = None
    permanent = False
    try:
        if isinstance(entry, CarrierError):
            raise entry
        if tried_before:
            try:
                created = carrier.find_by_order_number(request.order_number)
            except NotSupported:
                created = None
        if created is None:
            try:
                created = carrier.request_pickup(request) if inbound else carrier.create(request)
            except DuplicateOrderError as e:
                try:
                    created = CreatedShipment(tracking_code=e.tracking_code) if e.tracking_code else \
                        carrier.find_by_order_number(request.order_number)
                except NotSupported:
                    created = None
                if created is None:
                    # Staff must look the parcel up at the carrier: it exists, but we cannot learn its code.
                    raise PermanentCarrierError("carrier has this order number already but gives no tracking "
                                                "code; look it up at the carrier") from e
    except RetryableCarrierError as e:
        error = f"{type(e).__name__}: {e}"
    except (PermanentCarrierError, NotSupported) as e:
        error, permanent = f"{type(e).__name__}: {e}", True
    with jobs.session_scope() as session:
        s = lock_shipment(session, shipment_id)
        if rates and not s.rates:
            s.rates = rates
        if choice and not s.choice:
            s.choice = choice
        s.carrier = carrier_name
        s.service = s.service or chosen_service
        if created is None:
            s.last_error = error
            if permanent:
                _flag(s, "create_failed")
                audit.record(session, _actor(carrier_name), "shipment.create_failed", entity_type="shipment",
                             entity_id=s.id, centre_id=s.centre_id, detail=error)
        elif not s.tracking_code and s.status == "cancelled":
            # Cancelled by staff while the carrier was creating it: undo it there as well.
            s.tracking_code = created.tracking_code
            try:
                carrier.cancel(created.tracking_code)
                detail = "huỷ tại đơn vị vận chuyển sau khi tạo"
            except CarrierError as e:
                _flag(s, "cancel_at_carrier_failed")
                detail = f"không huỷ được tại đơn vị vận chuyển: {e}"
            audit.record(session, _actor(carrier_name), "shipment.created_after_cancel", entity_type="shipment",
                         entity_id=s.id, centre_id=s.centre_id, detail=detail)
        elif not s.tracking_code:
            s.tracking_code = created.tracking_code
            s.fee = created.fee if created.fee is not None else s.fee
            s.last_error = None
            if inbound:
                s.pickup_window = (created.pickup_window or "")[:128] or None
            audit.record(session, _actor(carrier_name),
                         "shipment.pickup_requested" if inbound else "shipment.created_at_carrier",
                         entity_type="shipment", entity_id=s.id, centre_id=s.centre_id,
                         after={"tracking_code": created.tracking_code, "fee": s.fee, "attempt": s.create_attempts,
                                "pickup_window": s.pickup_window})
            if inbound:
                notify_pickup_requested(session, s)
            jobs.enqueue_after_commit(session, fetch_label, s.id)
    if created is None and not permanent:
        raise jobs.RetryableJobError(error or "carrier unavailable")


@events.on("shipment.created")
def _create_after_commit(session: Session, shipment_id: int, **_) -> None:
    """A new shipment is created at its carrier once the transaction that made it commits (the sweep
    `redrive_creation` re-drives one whose job was lost)."""
    jobs.enqueue_after_commit(session, create_at_carrier, shipment_id)


@jobs.job(retries=8)
def fetch_label(shipment_id: int) -> None:
    """Store the label PDF now: carriers' label links and tokens expire."""
    settings = jobs.settings()
    with jobs.session_scope() as session:
        s = session.get(Shipment, shipment_id)
        if s is None or not s.tracking_code or s.label_fetched_at is not None:
            return
        carrier_name, tracking, centre_id = s.carrier, s.tracking_code, s.centre_id
    try:
        with jobs.session_scope() as session:
            carrier = carrier_for_centre(session, settings, carrier_name, centre_id)
        pdf = carrier.get_label(tracking)
    except RetryableCarrierError as e:
        raise jobs.RetryableJobError(str(e)) from e
    except (PermanentCarrierError, NotSupported) as e:
        log.warning("label not available", extra={"shipment_id": shipment_id, "error": str(e)})
        with jobs.session_scope() as session:
            s = session.get(Shipment, shipment_id)
            _flag(s, "label_unavailable")
            s.label_fetched_at = utcnow()  # asked for good; staff print the carrier's own label
        return
    with jobs.session_scope() as session:
        s = session.get(Shipment, shipment_id)
        if s.label_fetched_at is None:
            s.label_pdf, s.label_fetched_at = pdf, utcnow()


def redrive_creation(session: Session, min_age: timedelta = REDRIVE_AFTER) -> int:
    """Sweeper: shipments still waiting for their carrier order (a carrier that was down, a lost job)."""
    cutoff = utcnow() - min_age
    rows = session.scalars(select(Shipment).where(Shipment.status == "pending", Shipment.tracking_code.is_(None))
                           .limit(200)).all()
    ids = [s.id for s in rows if "create_failed" not in (s.flags or [])
           and (s.create_started_at is None or s.create_started_at <= cutoff)]
    for sid in ids:
        jobs.enqueue_after_commit(session, create_at_carrier, sid)
    return len(ids)


def redrive_labels(session: Session) -> int:
    ids = session.scalars(select(Shipment.id).where(Shipment.tracking_code.is_not(None),
                                                    Shipment.label_fetched_at.is_(None),
                                                    Shipment.status.not_in(FINAL_STATUSES)).limit(200)).all()
    for sid in ids:
        jobs.enqueue_after_commit(session, fetch_label, sid)
    return len(ids)


def poll_tracking(session: Session) -> int:
    """Sweeper: read the tracking feed of carriers that have one (VNPost), and track carriers that have
    neither feed nor webhooks; webhook carriers tell us themselves. Each centre's parcels are asked
    about through the account they were ordered with: its own at that carrier, else the deployment's."""
    settings = jobs.settings()
    applied = 0
    active = set(session.scalars(select(Shipment.carrier).where(Shipment.tracking_code.is_not(None),
                                                                Shipment.status.not_in(FINAL_STATUSES)).distinct()))
    for name in sorted(active):
        try:
            carrier = get_carrier(name, settings)
        except CarrierError:
            continue
        if carrier.has_feed:
            applied += _poll_feeds(session, settings, name)
        elif not carrier.has_webhooks:
            applied += _poll_each(session, settings, name)
        else:
            # Webhooks get lost too: ask about parcels we have heard nothing of for a while.
            quiet = timedelta(hours=settings.get_int("HCC_POSTAL_QUIET_HOURS", 6))
            applied += _poll_each(session, settings, name, quiet_since=utcnow() - quiet)
    return applied


def _poll_feeds(session: Session, settings, name: str) -> int:
    """A feed is per account: the deployment's, and that of each centre with its own account there and
    parcels still moving (its cursor kept under 'carrier:account id')."""
    applied = _poll_feed(session, get_carrier(name, settings))
    centres = session.scalars(select(Shipment.centre_id).where(Shipment.carrier == name,
                                                               Shipment.tracking_code.is_not(None),
                                                               Shipment.status.not_in(FINAL_STATUSES)).distinct())
    for centre_id in sorted(centres):
        account = active_account(session, name, centre_id)
        if account is None:
            continue
        try:
            carrier = carrier_for_centre(session, settings, name, centre_id)
        except CarrierError as e:
            log.info("feed unavailable", extra={"carrier": name, "centre_id": centre_id, "error": type(e).__name__})
            continue
        applied += _poll_feed(session, carrier, cursor_key=f"{name}:{account.id}", centre_id=centre_id)
    return applied


def _poll_feed(session: Session, carrier, cursor_key: str | None = None, centre_id: int | None = None) -> int:
    """Read one account's feed from where it got to; with `centre_id` (a centre's own account), only that
    centre's parcels take its events."""
    key = cursor_key or carrier.name
    cursor_row = session.get(CarrierCursor, key)
    if cursor_row is None:
        cursor_row = CarrierCursor(carrier=key, cursor="0")
        session.add(cursor_row)
        session.flush()
    applied = 0
    for _page in range(20):
        try:
            page = carrier.feed(cursor_row.cursor)
        except CarrierError as e:
            log.info("feed unavailable", extra={"carrier": carrier.name, "error": type(e).__name__})
            break
        for ev in page.events:
            s = find_for_event(session, carrier.name, ev)
            if s is not None and (centre_id is None or s.centre_id == centre_id):
                applied += apply_event(session, s, ev, source="feed", actor=_actor(carrier.name)) == "applied"
        cursor_row.polled_at = utcnow()
        if not page.events or page.cursor == cursor_row.cursor:
            break
        cursor_row.cursor = page.cursor
    return applied


def _poll_each(session: Session, settings, name: str, quiet_since=None) -> int:
    applied = 0
    stmt = select(Shipment).where(Shipment.carrier == name, Shipment.tracking_code.is_not(None),
                                  Shipment.status.not_in(FINAL_STATUSES))
    if quiet_since is not None:
        stmt = stmt.where(Shipment.updated_at < quiet_since)
    by_centre: dict[int, Carrier | CarrierError] = {}
    for s in session.scalars(stmt.order_by(Shipment.updated_at).limit(200)).all():
        if s.centre_id not in by_centre:
            try:
                by_centre[s.centre_id] = carrier_for_centre(session, settings, name, s.centre_id)
            except CarrierError as e:
                by_centre[s.centre_id] = e
        carrier = by_centre[s.centre_id]
        if isinstance(carrier, CarrierError):
            continue
        try:
            events = carrier.track(s.tracking_code, s.code)
        except NotSupported:
            break
        except CarrierError:
            continue
        for ev in sorted(events, key=lambda e: e.occurred_at):
            applied += apply_event(session, s, ev, source="poll", actor=_actor(name)) == "applied"
        if quiet_since is not None:
            s.updated_at = utcnow()  # asked now: the next question waits for another quiet spell
    return applied


def drive_sandboxes(session: Session) -> int:
    """Sweeper (sandbox mode only): let the sandbox carriers send the webhooks their parcels have reached."""
    settings = jobs.settings()
    if settings is None or not settings.sandbox:
        return 0
    from carriers.ghn.sandbox import deliver_webhooks as ghn_webhooks
    from carriers.sandbox import store_for
    from carriers.viettelpost.sandbox import deliver_webhooks as vtp_webhooks
    from carriers.vnpost.sandbox import deliver_webhooks as vnpost_webhooks

    store = store_for(settings)
    return vtp_webhooks(store, settings) + ghn_webhooks(store, settings) + vnpost_webhooks(store, settings)


jobs.register_sweeper(redrive_creation)
jobs.register_sweeper(redrive_labels)
jobs.register_sweeper(poll_tracking)
jobs.register_sweeper(drive_sandboxes)


def refresh_from_sandbox(carrier_name: str) -> None:
    """Sandbox mode only: bring a sandbox carrier's news in now (on read), not at the next minute's sweep,
    so an accelerated parcel is seen moving. Never fails the read that asked."""
    settings = jobs.settings()
    if settings is None or not settings.sandbox:
        return
    try:
        from carriers.sandbox import store_for

        module = {"ghn": "carriers.ghn.sandbox", "viettelpost": "carriers.viettelpost.sandbox",
                  "vnpost": "carriers.vnpost.sandbox"}.get(carrier_name)
        if module:
            import importlib

            importlib.import_module(module).deliver_webhooks(store_for(settings), settings)
    except Exception:
        log.warning("sandbox refresh failed", exc_info=True, extra={"carrier": carrier_name})


# The adapters register themselves (and their settings) on import; workers need them without the web app.
carrier_names()
