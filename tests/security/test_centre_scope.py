"""Another centre's objects do not exist for a caller, whatever its roles (issue 16, finding 3).

Every route of the OpenAPI document with a path parameter is walked with centre A's objects and the keys
of centre B (its admin, and a key with every other role): each answers 404, and nothing of A changes. The
routes come from the document, so a new one is covered without a change here, or fails until its path
parameter has a factory below.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import inspect, select

from core import audit
from core.clock import local_day
from core.models import ROLES, Centre
from tests.factories import bearer, make_api_key

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
WEBHOOK_HOST = "motcua.example.vn"
# Rows B's refused calls legitimately add: the audit of a refused attempt, the key's last use, the
# Idempotency-Key records. Everything else of centre A must be exactly as before.
NOT_COMPARED = {"audit_log", "api_client", "idempotency_record"}


def make_centre_b(session) -> Centre:
    centre = Centre(code="BN-TTPVHCC", name="Trung tâm Phục vụ hành chính công tỉnh Bắc Ninh",
                    tax_code="2300000000-001", address="Số 10 Lý Thái Tổ, phường Kinh Bắc, tỉnh Bắc Ninh",
                    province_code="27", receipt_template="01BLP0-001", receipt_symbol="BN", receipt_number_width=7)
    session.add(centre)
    session.commit()
    return centre


# Path parameter -> a factory making one object of centre A (the demo centre) and answering its id.
def _pending_payment(session, settings):
    from tests.receipts.factories import pending_payment

    payment = pending_payment(session)
    session.commit()
    return payment.id


def _paid_payment(session):
    from tests.receipts.factories import paid_payment

    return paid_payment(session)


def _receipt(session, settings):
    from receipts.issuance import receipt_id_for_payment

    return receipt_id_for_payment(session, _paid_payment(session).id)


def _refund(session, settings):
    from fees.refunds import request_refund

    payment = _paid_payment(session)
    refund = request_refund(session, payment.id, amount=1_000, reason="Thu thừa", actor=audit.SYSTEM,
                            needs_approval=True)
    session.commit()
    return refund.id


def _shipment(session, settings):
    from tests.postal.factories import make_shipment

    return make_shipment(session, settings, tracking_code="G000000777").id


def _batch(session, settings):
    from core.accounts import ensure_demo_centre
    from postal.shipments import create_batch
    from tests.postal.factories import make_shipment

    shipment = make_shipment(session, settings, tracking_code="G000000888", dossier_code="000.00.01.H26-251124-0888")
    batch = create_batch(session, ensure_demo_centre(session), [shipment.id], actor=audit.SYSTEM)
    session.commit()
    return batch.id


def _statement(session):
    from core.accounts import ensure_demo_centre
    from finance.reconcile import import_statement

    day = local_day() - timedelta(days=1)
    data = f"date,reference,amount,description\n{day},FT-A-1,99000,khong ro\n".encode()
    result = import_statement(session, ensure_demo_centre(session).id, "bank-csv", "sao-ke-a.csv", data,
                              audit.SYSTEM)
    session.commit()
    return result.statement


def _import(session, settings):
    return _statement(session).id


def _discrepancy(session, settings):
    from finance.models import Discrepancy

    statement = _statement(session)
    return session.scalars(select(Discrepancy.id).where(Discrepancy.import_id == statement.id)).first()


def _webhook(session, settings):
    # Made last, so no event of A's is ever sent to it; the name resolves through the fake DNS below.
    from core.accounts import ensure_demo_centre
    from fees.webhooks import register_endpoint

    endpoint = register_endpoint(session, ensure_demo_centre(session).id, f"https://{WEBHOOK_HOST}/hcc",
                                 created_by="api_client:1")
    session.commit()
    return endpoint.id


def _centre_code(session, settings):
    from core.accounts import ensure_demo_centre
    from province.models import CarrierAccount

    centre = ensure_demo_centre(session)
    session.add(CarrierAccount(centre_id=centre.id, carrier=CARRIER, customer_code="KH-HN-01"))
    session.commit()
    return centre.code


def _unit_of_a(session):
    from core.accounts import ensure_demo_centre
    from province.models import CentreUnit, CollectingUnit

    return session.scalars(select(CollectingUnit).join(CentreUnit, CentreUnit.unit_id == CollectingUnit.id)
                           .where(CentreUnit.centre_id == ensure_demo_centre(session).id)
                           .order_by(CollectingUnit.id)).first()


def _unit_code(session, settings):
    return _unit_of_a(session).code


def _series(session, settings):
    from province.models import ReceiptSeries

    return session.scalars(select(ReceiptSeries.id).where(ReceiptSeries.unit_id == _unit_of_a(session).id)).first()


# (part of the path, path parameter) -> a factory of one object of centre A, answering what the URL carries.
# The part of the path tells apart one name used for two kinds of object ("code" of a centre or of a unit).
OBJECT_FACTORIES = {
    ("/", "payment_id"): _pending_payment,
    ("/", "receipt_id"): _receipt,
    ("/", "refund_id"): _refund,
    ("/", "shipment_id"): _shipment,
    ("/", "batch_id"): _batch,
    ("/", "import_id"): _import,
    ("/", "discrepancy_id"): _discrepancy,
    ("/", "endpoint_id"): _webhook,
    ("/admin/centres/", "code"): _centre_code,
    ("/admin/units/", "code"): _unit_code,
    ("/admin/units/", "series_id"): _series,
}
CARRIER = "ghn"
# Parameters naming a part of the object another parameter names (a centre's carrier account, a unit's
# secret): a fixed valid value, so that the object the other parameter names decides the answer.
PARTS = {"carrier": CARRIER, "name": "vnpay_hash_secret"}
# Path parameters that name no object: the route acts on the caller's own centre only.
NOT_OBJECTS = {
    "day": "closing a day closes the caller's own centre's day (checked below: A's day stays open)",
}
NO_SUCH = {"integer": 2**31 - 1, "string": "KHONG-CO-MA-NAY"}


def factory_key(path: str, name: str):
    """The OBJECT_FACTORIES key for a path parameter: the longest path part that matches."""
    keys = [key for key in OBJECT_FACTORIES if key[1] == name and key[0] in path]
    return max(keys, key=lambda k: len(k[0])) if keys else None


def _resolve(doc: dict, node):
    while isinstance(node, dict) and "$ref" in node:
        target = doc
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def example(doc: dict, schema: dict):
    """A valid value for `schema`, so that the request passes validation and reaches the object lookup."""
    schema = _resolve(doc, schema)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        required = set(schema.get("required", []))
        return {name: example(doc, sub) for name, sub in schema.get("properties", {}).items()
                if name in required and not sub.get("readOnly")}
    if kind == "array":
        return [example(doc, schema.get("items", {}))] * max(1, schema.get("minItems", 1))
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return float(max(1, schema.get("minimum", 1)))
    if kind == "boolean":
        return False
    fmt = schema.get("format")
    if fmt == "binary":
        return (io.BytesIO(b"ma,ten\n"), "tep.csv")
    if fmt == "date":
        return (local_day() - timedelta(days=1)).isoformat()
    if fmt == "email":
        return "ketoan@example.vn"
    if fmt == "url":
        return "https://example.vn/hcc"
    return "Lý do kiểm thử"[: schema.get("maxLength", 64)].ljust(schema.get("minLength", 0), "x")


def request_kwargs(doc: dict, operation: dict) -> dict:
    kwargs: dict = {"query_string": {}}
    for param in operation.get("parameters", []):
        param = _resolve(doc, param)
        if param["in"] == "query" and param.get("required"):
            kwargs["query_string"][param["name"]] = example(doc, param["schema"])
    body = _resolve(doc, operation.get("requestBody", {}))
    content = body.get("content", {})
    if "application/json" in content:
        kwargs["json"] = example(doc, content["application/json"]["schema"])
    elif content:
        media_type, spec = next(iter(content.items()))
        kwargs["data"] = example(doc, spec["schema"])
        kwargs["content_type"] = media_type
    return kwargs


def routes_with_path_parameters(doc: dict):
    for path, item in doc["paths"].items():
        shared = [_resolve(doc, p) for p in item.get("parameters", [])]
        for method in HTTP_METHODS:
            if method not in item:
                continue
            operation = item[method]
            params = shared + [_resolve(doc, p) for p in operation.get("parameters", [])]
            names = {p["name"]: p.get("schema", {}).get("type", "string") for p in params if p["in"] == "path"}
            if names:
                yield method, path, names, operation


def snapshot_of_centre(session, centre_id: int) -> dict:
    """Every row the database holds, except centre B's own and the bookkeeping of refused calls."""
    from core.db import Base

    session.expire_all()
    rows = {}
    for table in Base.metadata.sorted_tables:
        if table.name in NOT_COMPARED or not inspect(session.get_bind()).has_table(table.name):
            continue
        stmt = select(table)
        if "centre_id" in table.c:
            stmt = stmt.where(table.c.centre_id == centre_id)
        rows[table.name] = sorted(repr(tuple(r)) for r in session.execute(stmt))
    return rows


@pytest.fixture
def centre_a(session):
    from core.accounts import ensure_demo_centre

    centre = ensure_demo_centre(session)
    session.commit()
    return centre


@pytest.fixture
def keys_of_b(session):
    centre_b = make_centre_b(session)
    others = tuple(r for r in ROLES if r != "admin")
    return {"admin of B": make_api_key(session, roles=("admin",), name="Quản trị Bắc Ninh", centre=centre_b),
            "every other role of B": make_api_key(session, roles=others, name="Hệ thống Bắc Ninh", centre=centre_b)}


def test_every_route_naming_an_object_has_a_factory(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    unmapped = {(method.upper(), path, name) for method, path, names, _ in routes_with_path_parameters(doc)
                for name in names if factory_key(path, name) is None and name not in PARTS | NOT_OBJECTS}
    assert not unmapped, f"add a centre-A object factory to OBJECT_FACTORIES for {sorted(unmapped)}"


def test_another_centres_keys_get_404_for_every_object_and_change_nothing(client, session, settings, centre_a,
                                                                           keys_of_b, monkeypatch):
    from finance.closing import is_closed
    from tests.fakedns import PUBLIC_ADDRESS, FakeDns

    FakeDns(monkeypatch, {WEBHOOK_HOST: PUBLIC_ADDRESS})

    doc = client.get("/api/v1/openapi.json").get_json()
    routes = list(routes_with_path_parameters(doc))
    assert routes, "the OpenAPI document lists no route with a path parameter"
    ids = {key: factory(session, settings) for key, factory in OBJECT_FACTORIES.items()}
    assert all(ids.values()), ids
    before = snapshot_of_centre(session, centre_a.id)

    answers, wrong = {}, {}
    for method, path, names, operation in routes:
        if any(name in NOT_OBJECTS for name in names):
            continue
        mine = {name: PARTS[name] if name in PARTS else ids[factory_key(path, name)] for name in names}
        none = {name: PARTS[name] if name in PARTS else NO_SUCH[kind] for name, kind in names.items()}
        for who, key in keys_of_b.items():
            status = {}
            for case, values in (("A's object", mine), ("no object", none)):
                url = path.format(**values)
                resp = getattr(client, method)(url, headers=bearer(key), **request_kwargs(doc, operation))
                status[case] = (resp.status_code, resp.get_data()[:200])
            answers[(method.upper(), path, who)] = status
            # A's object must look exactly like no object at all: 404, or (only for a key without the
            # route's role, e.g. webhooks are admin's) the same 403 any id gets before it is looked up.
            ok = status["A's object"][0] == status["no object"][0] and (
                status["A's object"][0] == 404 or (who != "admin of B" and status["A's object"][0] == 403))
            if not ok:
                wrong[(method.upper(), path, who)] = status
    assert not wrong, wrong
    assert len(answers) >= 2 * 20  # every id-bearing route, for both keys
    assert sum(s["A's object"][0] == 404 for (_m, _p, who), s in answers.items() if who != "admin of B") >= 20
    assert snapshot_of_centre(session, centre_a.id) == before

    # Closing "a day" is B closing its own day: A's same day stays open.
    yesterday = local_day() - timedelta(days=1)
    for key in keys_of_b.values():
        client.post(f"/api/v1/reconciliation/days/{yesterday}/close", json={"allow_empty": True},
                    headers=bearer(key))
    assert not is_closed(session, centre_a.id, yesterday)


def test_the_receipt_register_of_another_centre_is_404_even_for_its_admin(client, session, centre_a, keys_of_b):
    _receipt(session, None)
    for key in keys_of_b.values():
        resp = client.get(f"/api/v1/receipts?centre_id={centre_a.id}", headers=bearer(key))
        assert resp.status_code == 404 and resp.mimetype == "application/problem+json"
    own = make_api_key(session, roles=("admin",), name="Quản trị Hà Nội", centre=centre_a)
    mine = client.get(f"/api/v1/receipts?centre_id={centre_a.id}", headers=bearer(own))
    assert mine.status_code == 200 and mine.get_json()["total"] == 1
