"""API conventions: 422 naming every bad field, Idempotency-Key replays, OpenAPI document."""

import json

from openapi_spec_validator import validate

from tests.factories import bearer, make_api_key

ADDRESS = {"street": "12 Nguyễn Trãi", "ward": "thanh xuan", "province": "ha noi"}


def test_a_malformed_body_gets_422_naming_each_bad_field(client, session):
    key = make_api_key(session)
    r = client.post("/api/v1/addresses/resolve", json={"street": 5, "ward": ""}, headers=bearer(key))
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert set(r.json["errors"]) == {"street", "ward", "province"}


def test_a_body_that_is_not_json_gets_a_problem_not_a_500(client, session):
    key = make_api_key(session)
    r = client.post("/api/v1/addresses/resolve", data="{not json", headers={**bearer(key),
                                                                            "Content-Type": "application/json"})
    assert r.status_code in (400, 422) and r.mimetype == "application/problem+json"


def test_a_domain_rule_breach_gets_422_with_the_field(client, session):
    key = make_api_key(session)
    r = client.post("/api/v1/addresses/resolve", json={**ADDRESS, "ward": "không tồn tại"}, headers=bearer(key))
    assert r.status_code == 422 and "ward" in r.json["errors"]


def test_the_same_idempotency_key_and_body_replay_the_first_answer(client, session):
    key = make_api_key(session)
    headers = {**bearer(key), "Idempotency-Key": "order-2026-0001"}
    first = client.post("/api/v1/addresses/resolve", json=ADDRESS, headers=headers)
    # Same JSON, other key order: still the same request.
    body = json.dumps(dict(reversed(list(ADDRESS.items()))))
    second = client.post("/api/v1/addresses/resolve", data=body, headers={**headers, "Content-Type": "application/json"})
    assert first.status_code == second.status_code == 200
    assert second.json == first.json
    assert second.headers["Idempotent-Replayed"] == "true"


def test_the_same_idempotency_key_with_another_body_gets_409(client, session):
    key = make_api_key(session)
    headers = {**bearer(key), "Idempotency-Key": "order-2026-0002"}
    client.post("/api/v1/addresses/resolve", json=ADDRESS, headers=headers)
    r = client.post("/api/v1/addresses/resolve", json={**ADDRESS, "street": "14 Nguyễn Trãi"}, headers=headers)
    assert r.status_code == 409 and r.mimetype == "application/problem+json"
    assert r.json["type"] == "urn:hcc:problem:idempotency-key-reused"


def test_idempotency_keys_belong_to_their_caller(client, session):
    a, b = make_api_key(session, name="A"), make_api_key(session, name="B")
    client.post("/api/v1/addresses/resolve", json=ADDRESS, headers={**bearer(a), "Idempotency-Key": "k"})
    r = client.post("/api/v1/addresses/resolve", json={**ADDRESS, "street": "khác"},
                    headers={**bearer(b), "Idempotency-Key": "k"})
    assert r.status_code == 200 and "Idempotent-Replayed" not in r.headers


def test_a_422_answer_is_replayed_too(client, session):
    key = make_api_key(session)
    headers = {**bearer(key), "Idempotency-Key": "bad-1"}
    first = client.post("/api/v1/addresses/resolve", json={"street": ""}, headers=headers)
    second = client.post("/api/v1/addresses/resolve", json={"street": ""}, headers=headers)
    assert first.status_code == second.status_code == 422 and second.json == first.json


def test_openapi_document_is_valid_openapi_3(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    spec = r.json
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/addresses/resolve" in spec["paths"]
    # Generated from the schemas, not by hand: the request body refers to the marshmallow schema.
    body = spec["paths"]["/api/v1/addresses/resolve"]["post"]["requestBody"]
    assert "AddressIn" in json.dumps(body)


def test_unknown_api_path_gets_404_problem_json(client, session):
    key = make_api_key(session)
    r = client.get("/api/v1/nothing-here", headers=bearer(key))
    assert r.status_code == 404 and r.mimetype == "application/problem+json"


def test_english_titles_on_request(client):
    r = client.post("/api/v1/addresses/resolve", json=ADDRESS, headers={"Accept-Language": "en"})
    assert r.json["title"] == "Not authenticated"


def test_a_value_the_database_cannot_hold_is_a_422_not_a_500(client, session):
    key = make_api_key(session, roles=("finance",))
    r = client.get(f"/api/v1/reconciliation/discrepancies?page={10**20}", headers=bearer(key))
    assert r.status_code == 422 and r.mimetype == "application/problem+json"


def test_an_upload_replayed_with_its_idempotency_key_gets_the_first_answer(client, session):
    # A multipart body has a new random boundary each time; the same fields and file are the same request.
    import io

    key = make_api_key(session, roles=("finance",))
    headers = {**bearer(key), "Idempotency-Key": "saoke-2026-11-01"}
    data = b"date,reference,amount,description\n2026-11-01,FT1,100000,khong ro\n"

    def upload(content, name="saoke.csv"):
        return client.post("/api/v1/reconciliation/imports", headers=headers,
                           data={"source": "bank-csv", "file": (io.BytesIO(content), name)})

    first, second = upload(data), upload(data)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.headers["Idempotent-Replayed"] == "true" and second.json == first.json
    assert upload(data + b"2026-11-01,FT2,5000,x\n").status_code == 409
    assert upload(data, name="other.csv").status_code == 409
