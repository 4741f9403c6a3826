"""POST /api/v1/payments: bad input is refused field by field, never silently changed."""

import pytest

from fees.schedule import seed_default
from tests.factories import bearer, make_api_key


@pytest.fixture
def key(session, centre):
    seed_default(session, centre)
    session.commit()
    return make_api_key(session)


def body(**over):
    return {"dossier_code": "000.00.12.H26-260101-0042", "payer": {"name": "Lê Văn Cường"},
            "items": [{"fee_code": "LLTP", "quantity": 1}], **over}


@pytest.mark.parametrize("items", [[{"fee_code": "LLTP", "quantity": 1.5}], [{"fee_code": "LLTP", "quantity": "2"}],
                                   [{"fee_code": "LLTP", "quantity": 0}]])
def test_a_quantity_that_is_not_a_positive_whole_number_is_refused(client, key, items):
    resp = client.post("/api/v1/payments", json=body(items=items), headers=bearer(key))
    assert resp.status_code == 422
    assert "quantity" in resp.get_json()["errors"]["items"]["0"]


def test_an_empty_channel_list_is_refused_not_replaced(client, key):
    resp = client.post("/api/v1/payments", json=body(channels=[]), headers=bearer(key))
    assert resp.status_code == 422 and "channels" in resp.get_json()["errors"]


@pytest.mark.parametrize("raw", ["", "[]", "null", "{", '{"dossier_code": 5}', '{"payer": "a"}'])
def test_a_malformed_body_gets_a_problem_not_a_500(client, key, raw):
    resp = client.post("/api/v1/payments", data=raw, content_type="application/json", headers=bearer(key))
    assert resp.status_code in (400, 422)
    assert resp.headers["Content-Type"].startswith("application/problem+json")
