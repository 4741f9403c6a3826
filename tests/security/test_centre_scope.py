"""Another centre's objects do not exist for a caller, whatever its roles (issue 16, finding 3; issue 10).

Every route of the OpenAPI document with a path parameter is walked with centre A's objects and the keys
of centre B (its admin, and a key with every other role), then with staff users of centre B signed in
(the API answers their session too): each answers 404, and nothing of A changes. Every staff page with a
URL argument is walked the same way by a user of B with each role. The routes come from the document and
the app's URL map, so a new one is covered without a change here, or fails until its parameter has a
factory below. Keys and users of several centres, or of the whole province, see each of their centres'
objects and still no other's.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import inspect, select

from core import audit
from core.clock import local_day, utcnow
from core.models import ROLES, Centre
from tests.factories import bearer, csrf_token, make_api_key, make_centre, make_user, sign_in

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
WEBHOOK_HOST = "motcua.example.vn"
# Rows B's refused calls legitimately add: the audit of a refused attempt, the key's last use, the
# Idempotency-Key records. Everything else of centre A must be exactly as before.
NOT_COMPARED = {"audit_log", "api_client", "idempotency_record"}


def make_centre_b(session) -> Centre:
    return make_centre(session, "BN-TTPVHCC", name="Trung tâm Phục vụ hành chính công tỉnh Bắc Ninh")


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
    if session.scalar(select(CarrierAccount.id).where(CarrierAccount.centre_id == centre.id,
                                                      CarrierAccount.carrier == CARRIER)) is None:
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


def _user(session, settings):
    return make_user(session, roles=("cashier",), username="thungan.hanoi", centre=_centre_of_a(session)).id


def _api_key(session, settings):
    from core.accounts import create_api_client

    client, _key = create_api_client(session, _centre_of_a(session), "Hệ thống một cửa Hà Nội", ["cashier"])
    session.commit()
    return client.id


def _centre_of_a(session):
    from core.accounts import ensure_demo_centre

    return ensure_demo_centre(session)


def _series(session, settings):
    from province.models import ReceiptSeries

    return session.scalars(select(ReceiptSeries.id).where(ReceiptSeries.unit_id == _unit_of_a(session).id)).first()


def _dossier_code(session, settings, code="000.00.01.H26-261201-0001"):
    """A dossier of centre A, due in a week (so an apology may still be issued for it)."""
    from datetime import timedelta

    from core.clock import local_day, utcnow
    from dossiers.models import Dossier

    if session.scalar(select(Dossier.id).where(Dossier.code == code)) is not None:
        return code
    d = Dossier(centre_id=_centre_of_a(session).id, code=code, procedure_code="1.001612",
                procedure_name="Cấp Phiếu lý lịch tư pháp", level="province", received_at=utcnow(),
                appointment_date=local_day() + timedelta(days=7), status="processing", citizen_name="Trần Thị Bình",
                citizen_phone="0912345678")
    session.add(d)
    session.commit()
    return d.code


def _apology(session, settings):
    from datetime import timedelta

    from core import audit
    from dossiers import calendar
    from dossiers.apologies import issue_apology
    from dossiers.models import Dossier

    d = session.scalar(select(Dossier).where(Dossier.code == _dossier_code(session, settings, "000.00.01.H26-261201-0002")))
    a = issue_apology(session, d, reason="Chờ xác minh", actor=audit.SYSTEM,
                      new_appointment_date=calendar.add_business_days(session, d.appointment_date + timedelta(days=1), 1))
    session.commit()
    return a.id


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
    ("/admin/messages/", "code"): _centre_code,
    ("/admin/units/", "code"): _unit_code,
    ("/admin/units/", "series_id"): _series,
    ("/", "user_id"): _user,
    ("/", "key_id"): _api_key,
    ("/dossiers/", "code"): _dossier_code,
    ("/dossier-apologies/", "code"): _dossier_code,
    ("/", "apology_id"): _apology,
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
    if fmt == "date-time":
        return (utcnow() - timedelta(days=1)).isoformat()
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


@dataclass
class Caller:
    """Someone of centre B calling: a key (Authorization header) or a signed-in user (cookie and CSRF header)."""

    client: object
    headers: dict
    roles: tuple[str, ...]

    @property
    def admin(self) -> bool:
        return "admin" in self.roles


def key_callers(client, keys: dict[str, tuple[str, tuple[str, ...]]]) -> dict[str, Caller]:
    return {who: Caller(client, bearer(key), roles) for who, (key, roles) in keys.items()}


def user_callers(app, session, centre, roles_by_name: dict[str, tuple[str, ...]]) -> dict[str, Caller]:
    callers = {}
    for who, roles in roles_by_name.items():
        user = make_user(session, roles=roles, centre=centre)
        browser = app.test_client()
        assert sign_in(browser, user.username).status_code == 302
        callers[who] = Caller(browser, {"X-CSRFToken": csrf_token(browser)}, roles)
    return callers


# Create-or-update routes keyed by a code the client gives: another centre's code makes the caller's own
# object (codes are per centre), so it cannot be told from a fresh one; checked on their own below.
UPSERTS = {("put", "/api/v1/dossiers/{code}"): "a dossier is created or updated in the caller's centre"}


def walk_api(doc: dict, ids: dict, callers: dict[str, Caller]) -> tuple[dict, dict]:
    """Call every id-bearing route with A's object and with no object; answers, and those that differ."""
    answers, wrong = {}, {}
    for method, path, names, operation in routes_with_path_parameters(doc):
        if any(name in NOT_OBJECTS for name in names) or (method, path) in UPSERTS:
            continue
        mine = {name: PARTS[name] if name in PARTS else ids[factory_key(path, name)] for name in names}
        none = {name: PARTS[name] if name in PARTS else NO_SUCH[kind] for name, kind in names.items()}
        for who, caller in callers.items():
            status = {}
            for case, values in (("A's object", mine), ("no object", none)):
                url = path.format(**values)
                resp = getattr(caller.client, method)(url, headers=caller.headers, **request_kwargs(doc, operation))
                status[case] = (resp.status_code, resp.get_data()[:200])
            answers[(method.upper(), path, who)] = status
            # A's object must look exactly like no object at all: 404, or (only for a caller without the
            # route's role, e.g. webhooks are admin's) the same 403 any id gets before it is looked up.
            ok = status["A's object"][0] == status["no object"][0] and (
                status["A's object"][0] == 404 or (not caller.admin and status["A's object"][0] == 403))
            if not ok:
                wrong[(method.upper(), path, who)] = status
    return answers, wrong


def test_another_centres_keys_get_404_for_every_object_and_change_nothing(client, session, settings, centre_a,
                                                                           keys_of_b, monkeypatch):
    from finance.closing import is_closed
    from tests.fakedns import PUBLIC_ADDRESS, FakeDns

    FakeDns(monkeypatch, {WEBHOOK_HOST: PUBLIC_ADDRESS})

    doc = client.get("/api/v1/openapi.json").get_json()
    assert list(routes_with_path_parameters(doc)), "the OpenAPI document lists no route with a path parameter"
    ids = {key: factory(session, settings) for key, factory in OBJECT_FACTORIES.items()}
    assert all(ids.values()), ids
    before = snapshot_of_centre(session, centre_a.id)

    others = tuple(r for r in ROLES if r != "admin")
    callers = key_callers(client, {"admin of B": (keys_of_b["admin of B"], ("admin",)),
                                   "every other role of B": (keys_of_b["every other role of B"], others)})
    answers, wrong = walk_api(doc, ids, callers)
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


def test_another_centres_staff_get_404_on_the_api_for_every_object_and_change_nothing(app, client, session, settings,
                                                                                    centre_a, monkeypatch):
    """Staff pages call the API with the user's session: the same walk, signed in as users of centre B."""
    from tests.fakedns import PUBLIC_ADDRESS, FakeDns

    FakeDns(monkeypatch, {WEBHOOK_HOST: PUBLIC_ADDRESS})
    doc = client.get("/api/v1/openapi.json").get_json()
    ids = {key: factory(session, settings) for key, factory in OBJECT_FACTORIES.items()}
    centre_b = make_centre_b(session)
    before = snapshot_of_centre(session, centre_a.id)

    callers = user_callers(app, session, centre_b, {"admin of B": ("admin",),
                                                    "every other role of B": tuple(r for r in ROLES if r != "admin")})
    answers, wrong = walk_api(doc, ids, callers)
    assert not wrong, wrong
    assert sum(s["A's object"][0] == 404 for (_m, _p, who), s in answers.items() if who == "admin of B") >= 20
    assert snapshot_of_centre(session, centre_a.id) == before


# Staff page URL arguments that are a fixed part of the page, not an object: (part of the path, argument).
PAGE_PARTS = {
    ("/staff/refunds/", "action"): "approve",
    ("/staff/dispatch/", "action"): "cancel",
    ("/staff/admin/centres/", "carrier"): CARRIER,
    ("/staff/admin/units/", "fmt"): "csv",
    ("/staff/admin/messages/", "event"): "paid",
}
# Staff pages whose arguments name no object: they show the user's own centre (checked elsewhere).
PAGE_NOT_OBJECTS = {
    "finance.report_download": "the month's report of the centre the user chose among theirs (`fmt` is csv/xlsx)",
}


def _page_part(path: str, name: str):
    keys = [key for key in PAGE_PARTS if key[1] == name and path.startswith(key[0])]
    return PAGE_PARTS[max(keys, key=lambda k: len(k[0]))] if keys else None


def staff_rules(app):
    """Every staff page rule with URL arguments, with its methods (HEAD and OPTIONS aside)."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/staff/") and rule.arguments:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method


def page_values(rule, ids: dict) -> tuple[dict, dict, list[str]]:
    """A's object and no object for each argument of the rule, and the arguments nothing maps."""
    from werkzeug.routing import IntegerConverter

    mine, none, unmapped = {}, {}, []
    for name in sorted(rule.arguments):
        part = _page_part(rule.rule, name)
        key = factory_key(rule.rule, name)
        if part is not None:
            mine[name] = none[name] = part
        elif key is not None:
            mine[name] = ids[key]
            none[name] = NO_SUCH["integer" if isinstance(rule._converters[name], IntegerConverter) else "string"]
        else:
            unmapped.append(name)
    return mine, none, unmapped


def test_every_staff_page_naming_an_object_has_a_factory(app):
    unmapped = {(rule.rule, name) for rule, _method in staff_rules(app) if rule.endpoint not in PAGE_NOT_OBJECTS
                for name in page_values(rule, dict.fromkeys(OBJECT_FACTORIES, 1))[2]}
    assert not unmapped, f"add a centre-A object factory (or a fixed part) for the staff pages' {sorted(unmapped)}"


def test_another_centres_staff_get_404_on_every_staff_page_of_an_object_and_change_nothing(app, session, settings,
                                                                                         centre_a, monkeypatch):
    from tests.fakedns import PUBLIC_ADDRESS, FakeDns

    FakeDns(monkeypatch, {WEBHOOK_HOST: PUBLIC_ADDRESS})
    ids = {key: factory(session, settings) for key, factory in OBJECT_FACTORIES.items()}
    centre_b = make_centre_b(session)
    before = snapshot_of_centre(session, centre_a.id)
    # Each role on its own, admin included: a role is never a way into another centre.
    callers = user_callers(app, session, centre_b, {role: (role,) for role in ROLES})
    adapter = app.url_map.bind("localhost")

    answers, wrong = {}, {}
    for rule, method in staff_rules(app):
        if rule.endpoint in PAGE_NOT_OBJECTS:
            continue
        mine, none, unmapped = page_values(rule, ids)
        assert not unmapped, (rule.rule, unmapped)
        needed = getattr(app.view_functions[rule.endpoint], "required_roles", ())
        for who, caller in callers.items():
            holds = caller.admin or any(r in caller.roles for r in needed)
            status = {}
            for case, values in (("A's object", mine), ("no object", none)):
                url = adapter.build(rule.endpoint, values, method=method)
                if method == "GET":
                    resp = caller.client.get(url)
                else:
                    resp = caller.client.open(url, method=method, data={"csrf_token": caller.headers["X-CSRFToken"],
                                                                        "reason": "Lý do kiểm thử"})
                status[case] = (resp.status_code, resp.get_data()[:120])
            answers[(method, rule.rule, who)] = status
            # With the page's role: 404, exactly as for no object. Without it: the 403 every id gets.
            expected = 404 if holds else 403
            if not status["A's object"][0] == status["no object"][0] == expected:
                wrong[(method, rule.rule, who)] = status
    assert not wrong, wrong
    assert sum(s["A's object"][0] == 404 for s in answers.values()) >= 15
    assert snapshot_of_centre(session, centre_a.id) == before


def test_keys_of_several_centres_or_the_province_see_each_of_theirs_and_no_other(client, session, settings,
                                                                                centre_a):
    from finance.models import StatementImport
    from finance.reconcile import import_statement

    centre_b, centre_c = make_centre(session, "BN-B"), make_centre(session, "BN-C")
    payment_a = _pending_payment(session, settings)
    import_a = _import(session, settings)
    day = local_day() - timedelta(days=1)
    import_b = import_statement(session, centre_b.id, "bank-csv", "sao-ke-b.csv",
                                f"date,reference,amount,description\n{day},FT-B-1,55000,khong ro\n".encode(),
                                audit.SYSTEM).statement.id
    session.commit()
    roles = ("cashier", "finance", "dispatcher")
    a_and_b = make_api_key(session, roles=roles, name="Hai trung tâm", centre=centre_b, also=[centre_a])
    b_and_c = make_api_key(session, roles=roles, name="B và C", centre=centre_b, also=[centre_c])
    province = make_api_key(session, roles=roles, name="Toàn tỉnh", centre=centre_c, province_wide=True)

    def imports(key):
        return {i["id"] for i in client.get("/api/v1/reconciliation/imports", headers=bearer(key)).get_json()["items"]}

    def payments(key):
        return {p["id"] for p in client.get("/api/v1/payments", headers=bearer(key)).get_json()["items"]}

    for key in (a_and_b, province):
        one = client.get(f"/api/v1/payments/{payment_a}", headers=bearer(key))
        assert one.status_code == 200 and one.get_json()["centre_code"] == centre_a.code
        assert imports(key) == {import_a, import_b}
        assert payment_a in payments(key)
    assert client.get(f"/api/v1/payments/{payment_a}", headers=bearer(b_and_c)).status_code == 404
    assert client.get(f"/api/v1/payments/{payment_a}/refunds", headers=bearer(b_and_c)).status_code == 404
    assert imports(b_and_c) == {import_b}
    assert payment_a not in payments(b_and_c)

    me = client.get("/api/v1/me", headers=bearer(a_and_b)).get_json()
    assert me["centre"]["code"] == centre_b.code and not me["province_wide"]
    assert {c["code"] for c in me["centres"]} == {centre_a.code, centre_b.code}
    assert client.get("/api/v1/me", headers=bearer(province)).get_json()["province_wide"] is True

    # Creating: at the home centre by default, at another of the caller's centres when named, never at one
    # it does not see (404, as if that centre did not exist) and then nothing is written.
    def upload(key, name, centre_code=None):
        form = {"source": "bank-csv",
                "file": (io.BytesIO(f"date,reference,amount,description\n{day},{name},1000,x\n".encode()), name)}
        if centre_code:
            form["centre_code"] = centre_code
        return client.post("/api/v1/reconciliation/imports", data=form, content_type="multipart/form-data",
                           headers=bearer(key))

    def centre_of_import(resp):
        return session.get(StatementImport, resp.get_json()["statement"]["id"]).centre_id

    resp = upload(a_and_b, "FT-AB-1", centre_a.code)
    assert resp.status_code == 201, resp.get_json()
    assert centre_of_import(resp) == centre_a.id
    assert centre_of_import(upload(a_and_b, "FT-AB-2")) == centre_b.id
    count = session.query(StatementImport).count()
    refused = upload(b_and_c, "FT-BC-1", centre_a.code)
    assert refused.status_code == 404 and refused.mimetype == "application/problem+json"
    assert session.query(StatementImport).count() == count
    assert client.get(f"/api/v1/reports/summary?from={day}&to={day}&centre_code={centre_a.code}",
                      headers=bearer(b_and_c)).status_code == 404
    assert client.get(f"/api/v1/reports/summary?from={day}&to={day}&centre_code={centre_a.code}",
                      headers=bearer(a_and_b)).status_code == 200


def test_staff_of_several_centres_see_each_of_theirs_on_pages_and_no_other(app, session, settings, centre_a):
    centre_b, centre_c = make_centre(session, "BN-B"), make_centre(session, "BN-C")
    receipt_a = _receipt(session, settings)
    shipment_a = _shipment(session, settings)
    import_a = _import(session, settings)
    pages = {f"/staff/receipts/{receipt_a}", f"/staff/dispatch/{shipment_a}",
             f"/staff/finance/discrepancies?centre={centre_a.code}",
             f"/staff/finance/discrepancies?centre={centre_a.code}&import={import_a}",
             f"/staff/finance/discrepancies?import={import_a}"}
    for also, expected in (([centre_a], 200), ([centre_c], 404)):
        user = make_user(session, roles=("finance", "dispatcher"), centre=centre_b, also=also)
        browser = app.test_client()
        sign_in(browser, user.username)
        assert {p: browser.get(p).status_code for p in pages} == dict.fromkeys(pages, expected)
        desk = browser.get("/staff/dispatch/").get_data(as_text=True)
        # A list of several centres says whose each row is.
        assert (centre_a.code in desk) == (expected == 200)
        register = browser.get(f"/staff/receipts/?centre={centre_a.code}")
        assert register.status_code == expected
        # B's own discrepancy list never holds A's import, whoever asks; nor do its bulk forms reach A's rows.
        assert browser.get(f"/staff/finance/discrepancies?centre={centre_b.code}&import={import_a}").status_code == 404
        if expected == 404:
            token = csrf_token(browser, "/staff/finance/discrepancies")
            for step in ("confirm", "resolve"):
                for centre_arg in ({"centre": centre_a.code}, {}):
                    resp = browser.post(f"/staff/finance/discrepancies/{step}",
                                        data={"csrf_token": token, "import": import_a, "scope": "all",
                                              "action": "accept", "note": "Kiểm thử", "confirm": "1",
                                              "expected": "1", "max_id": "1", **centre_arg})
                    assert resp.status_code == 404, (step, centre_arg)


def test_a_fee_of_a_unit_not_served_at_the_keys_centre_is_refused_naming_it(client, session, centre_a):
    from fees.models import FeeType

    unit = _unit_of_a(session)
    session.add(FeeType(centre_id=centre_a.id, unit_id=unit.id, code="LLTP-HN", name="Phí lý lịch tư pháp",
                        kind="phi", amount=200_000, effective_from=date(2020, 1, 1), active=True))
    session.commit()
    body = {"dossier_code": "000.00.01.H26-251124-0999", "payer": {"name": "Trần Văn Bình"},
            "items": [{"fee_code": "LLTP-HN"}], "channels": ["counter"]}
    of_b = make_api_key(session, roles=("cashier",), name="Bắc Ninh", centre=make_centre_b(session))
    resp = client.post("/api/v1/payments", json=body, headers=bearer(of_b))
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert "LLTP-HN" in " ".join(resp.get_json()["errors"]["items.0.fee_code"])
    # The same fee is fine for a key of the centre that serves its unit.
    of_a = make_api_key(session, roles=("cashier",), centre=centre_a)
    assert client.post("/api/v1/payments", json=body, headers=bearer(of_a)).status_code == 201


def test_the_receipt_register_of_another_centre_is_404_even_for_its_admin(client, session, centre_a, keys_of_b):
    _receipt(session, None)
    for key in keys_of_b.values():
        resp = client.get(f"/api/v1/receipts?centre_id={centre_a.id}", headers=bearer(key))
        assert resp.status_code == 404 and resp.mimetype == "application/problem+json"
    own = make_api_key(session, roles=("admin",), name="Quản trị Hà Nội", centre=centre_a)
    mine = client.get(f"/api/v1/receipts?centre_id={centre_a.id}", headers=bearer(own))
    assert mine.status_code == 200 and mine.get_json()["total"] == 1


def test_pushing_another_centres_dossier_code_makes_ones_own_and_leaves_theirs_alone(client, session, settings,
                                                                                       centre_a, keys_of_b):
    from dossiers.models import Dossier

    code = _dossier_code(session, settings)
    before = snapshot_of_centre(session, centre_a.id)
    body = {"procedure_code": "1.000001", "procedure_name": "Thủ tục khác", "received_at": utcnow().isoformat(),
            "appointment_date": (local_day() + timedelta(days=3)).isoformat(), "submission": "online",
            "delivery": "desk", "status": "received", "citizen": {"name": "Người khác", "phone": "0987654321"}}
    for key in keys_of_b.values():
        resp = client.put(f"/api/v1/dossiers/{code}", json=body, headers={**bearer(key), "Idempotency-Key": key[-12:]})
        assert resp.status_code in (200, 201, 403), resp.get_data()
        if resp.status_code != 403:
            assert resp.get_json()["procedure_name"] == "Thủ tục khác"  # B's own record, answered as B's
    assert snapshot_of_centre(session, centre_a.id) == before
    session.expire_all()
    theirs = session.scalar(select(Dossier).where(Dossier.code == code, Dossier.centre_id == centre_a.id))
    assert theirs.procedure_name == "Cấp Phiếu lý lịch tư pháp" and theirs.citizen_name == "Trần Thị Bình"
