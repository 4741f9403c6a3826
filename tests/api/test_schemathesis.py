"""Every operation of the OpenAPI document, fuzzed: no 5xx, and answers that match what the document promises.

Schemathesis generates requests (valid and invalid ones) from `/api/v1/openapi.json` and checks each answer:
not a server error, a documented status code and content type, a body that conforms to the schema, and a
request the document calls invalid refused with a 4xx. Nothing is excluded: uploads are fuzzed through their
documented multipart bodies, PDF/CSV/XLSX answers are checked for their documented content type.
A caller with every role (admin included) runs them, against a centre that already has a paid payment with
its receipt, a pending payment, a shipment and a discrepancy, so the low ids Hypothesis tries first reach real
objects too. The operations are listed from the document itself, so a new route is fuzzed without a change
here. Deterministic (`derandomize`) and bounded (a few dozen examples per operation) for CI.

Schemathesis' own `from_fixture` cannot be used: it reads a private attribute pytest 9 no longer has
(`Function._nodeid`). So each operation is one pytest item with the usual function-scoped `app`, and the
Hypothesis test is built inside it.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import bearer, make_api_key

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]
MAX_EXAMPLES = 20
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _document() -> dict:
    """The OpenAPI document as the app serves it (it depends on no data, so a throwaway app will do)."""
    from api import create_app
    from core.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        s = Settings.from_env(environ={}, instance_dir=d / "instance", database_url=f"sqlite:///{d / 'doc.db'}",
                              queue_url="memory://", queue_immediate=True, secret_key="doc-" + "k" * 40,
                              public_url="http://localhost", signing_pkcs12=d / "unused.p12",
                              signing_pkcs12_password="unused")
        app = create_app({"settings": s, "TESTING": True})
        try:
            return app.test_client().get("/api/v1/openapi.json").get_json()
        finally:
            app.extensions["hcc"].db.dispose()


OPERATIONS = sorted((method.upper(), path) for path, item in _document()["paths"].items()
                    for method in item if method in HTTP_METHODS)


@pytest.fixture
def all_roles_key(session, settings):
    from core import audit
    from core.clock import local_day
    from core.models import ROLES
    from finance.reconcile import import_statement
    from tests.fees.factories import make_fee
    from tests.postal.factories import make_shipment
    from tests.receipts.factories import paid_payment, pending_payment

    make_fee(session)
    centre_id = paid_payment(session).centre_id
    pending_payment(session)
    session.commit()
    make_shipment(session, settings)
    day = local_day() - timedelta(days=1)
    import_statement(session, centre_id, "bank-csv", "sao-ke.csv",
                     f"date,reference,amount,description\n{day},FT1,99000,khong ro\n".encode(), audit.SYSTEM)
    session.commit()
    return make_api_key(session, roles=ROLES, name="Khoá thử mọi quyền")


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_answers_as_documented(app, all_roles_key, method, path):
    operation = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)[path][method]
    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @given(case=strategy)
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    def run(case):
        case.headers = {**(case.headers or {}), **bearer(all_roles_key)}
        case.call_and_validate(checks=CHECKS)

    run()


# What the fuzzing found, kept as plain examples so they stay fixed whatever Hypothesis draws next time.

def test_an_upload_with_an_unreadable_field_name_and_an_idempotency_key_is_not_a_500(client, session):
    key = make_api_key(session, roles=("finance",))
    body = (b'--B\r\nContent-Disposition: form-data; name="a\nb"\r\n\r\nx\r\n'
            b'--B\r\nContent-Disposition: form-data; name="source"\r\n\r\nbank-csv\r\n'
            b'--B\r\nContent-Disposition: form-data; name="file"; filename="s.csv"\r\n\r\n\x00\x01\r\n--B--\r\n')
    resp = client.post("/api/v1/reconciliation/imports", data=body, content_type="multipart/form-data; boundary=B",
                       headers={**bearer(key), "Idempotency-Key": "sao-ke-1"})
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"


def test_every_error_is_documented_as_a_problem(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert "Error" not in doc["components"]["schemas"]
    for name, response in doc["components"]["responses"].items():
        assert list(response.get("content", {"application/problem+json": 0})) == ["application/problem+json"], name
    cancel = doc["paths"]["/api/v1/receipts/{receipt_id}/cancel"]["post"]
    assert {"401", "403", "404", "409", "422"} <= set(cancel["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in cancel["parameters"])
