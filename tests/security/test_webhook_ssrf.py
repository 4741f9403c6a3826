"""Webhook URLs cannot make the service post inside its own network (issue 16, finding 2).

Each test runs real HTTP servers on loopback and checks what they received: a refused URL reaches
nothing, however it spells the address or whatever DNS answers after the URL was checked.
"""

from __future__ import annotations

import dataclasses
import ssl
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from core import outbound
from core.clock import utcnow
from core.errors import InvalidInput
from fees import webhooks
from fees.models import WebhookDelivery, WebhookEndpoint
from tests.factories import bearer, make_api_key
from tests.fakedns import PUBLIC_ADDRESS, FakeDns

INTERNAL_SPELLINGS = [
    "http://127.0.0.1:{port}/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/",
    "http://[::1]:{port}/",
    "http://2130706433:{port}/",
    "http://0x7f.1:{port}/",
    "http://017700000001:{port}/",
    "http://127.1:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://0:{port}/",
    "http://localhost:{port}/",
    "http://192.168.1.10/",
    "http://172.16.0.1/",
    "http://100.64.0.1/",
    "http://[fe80::1]/",
    "http://[fd00::1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:7f00:1::]/",
    "http://224.0.0.1/",
    "http://0.0.0.0:{port}/",
]


class Listener:
    """A real HTTP server on a loopback address that records every request it gets."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, status: int = 200, headers: dict | None = None,
                 tls: ssl.SSLContext | None = None):
        self.requests: list[dict] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                listener.requests.append({"path": self.path, "host": self.headers.get("Host"), "body": body,
                                          "headers": dict(self.headers)})
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listen():
    made: list[Listener] = []

    def make(**kwargs) -> Listener:
        made.append(Listener(**kwargs))
        return made[-1]

    yield make
    for listener in made:
        listener.close()


@pytest.fixture
def admin(session):
    return make_api_key(session, roles=("admin",), name="Quản trị")


def allow(settings, networks: str) -> None:
    settings.extra["HCC_WEBHOOK_ALLOWED_NETWORKS"] = networks


def queue_delivery(session, centre, url: str) -> WebhookDelivery:
    """An endpoint row written straight to the database (as an older version or an operator may have)."""
    endpoint = WebhookEndpoint(centre_id=centre.id, url=url, secret="s" * 64, events=["*"], active=True,
                               created_at=utcnow())
    session.add(endpoint)
    session.flush()
    delivery = WebhookDelivery(endpoint_id=endpoint.id, event_id=f"evt_{endpoint.id:024d}", event="payment.paid",
                               body='{"type": "payment.paid"}', status="pending", attempts=0,
                               next_attempt_at=utcnow(), created_at=utcnow())
    session.add(delivery)
    session.commit()
    return delivery


# --- registration ------------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", INTERNAL_SPELLINGS)
def test_registering_an_internal_address_is_refused_whatever_its_spelling(client, session, centre, settings, admin,
                                                                         listen, spelling):
    server = listen()
    url = spelling.format(port=server.port)
    resp = client.post("/api/v1/webhooks", json={"url": url, "events": ["payment.paid"]}, headers=bearer(admin))
    assert resp.status_code == 422, (url, resp.get_json())
    assert resp.mimetype == "application/problem+json" and "url" in resp.get_json()["errors"]
    # The domain refuses it too (the API's URL syntax check alone lets most of these through).
    with pytest.raises(InvalidInput) as e:
        webhooks.register_endpoint(session, centre.id, url, settings=settings)
    assert "url" in e.value.errors and "internal" in e.value.message
    assert session.query(WebhookEndpoint).count() == 0


def test_a_name_that_resolves_to_a_private_address_is_refused(client, admin, monkeypatch):
    FakeDns(monkeypatch, {"motcua.tinh.example": ["203.0.113.0", "10.1.2.3"]})
    resp = client.post("/api/v1/webhooks", json={"url": "https://motcua.tinh.example/hooks"}, headers=bearer(admin))
    assert resp.status_code == 422
    assert "10.1.2.3" in resp.get_json()["detail"] or "203.0.113.0" in resp.get_json()["detail"]


def test_user_info_and_other_schemes_are_refused(client, admin, monkeypatch):
    FakeDns(monkeypatch, {"motcua.tinh.example": PUBLIC_ADDRESS})
    for url in ("https://user:pw@motcua.tinh.example/hooks", "ftp://motcua.tinh.example/hooks",
                "gopher://motcua.tinh.example/"):
        resp = client.post("/api/v1/webhooks", json={"url": url}, headers=bearer(admin))
        assert resp.status_code == 422 and "url" in resp.get_json()["errors"], url


def test_production_takes_only_https(session, centre, settings, monkeypatch):
    FakeDns(monkeypatch, {"motcua.tinh.example": PUBLIC_ADDRESS})
    production = dataclasses.replace(settings, env="production")
    with pytest.raises(InvalidInput) as e:
        webhooks.register_endpoint(session, centre.id, "http://motcua.tinh.example/hooks", settings=production)
    assert "url" in e.value.errors
    assert webhooks.register_endpoint(session, centre.id, "https://motcua.tinh.example/hooks", settings=production)


def test_a_public_name_is_registered(client, admin, monkeypatch):
    FakeDns(monkeypatch, {"motcua.tinh.example": PUBLIC_ADDRESS})
    resp = client.post("/api/v1/webhooks", json={"url": "https://motcua.tinh.example/hooks"}, headers=bearer(admin))
    assert resp.status_code == 201


def test_the_allow_list_admits_a_listed_private_network_only(client, session, centre, admin, settings, listen):
    server = listen()
    allow(settings, "127.0.0.0/8, 10.20.0.0/16")
    for url in (f"http://127.0.0.1:{server.port}/hook", "http://10.20.1.5/hook"):
        resp = client.post("/api/v1/webhooks", json={"url": url}, headers=bearer(admin))
        assert resp.status_code == 201, (url, resp.get_json())
    assert webhooks.register_endpoint(session, centre.id, f"http://[::ffff:127.0.0.1]:{server.port}/",
                                      settings=settings)
    session.commit()
    for url in ("http://10.21.0.1/hook", "http://169.254.169.254/"):
        resp = client.post("/api/v1/webhooks", json={"url": url}, headers=bearer(admin))
        assert resp.status_code == 422, url


# --- delivery ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", [s for s in INTERNAL_SPELLINGS if "{port}" in s])
def test_a_stored_internal_url_is_not_called(session, centre, settings, listen, spelling):
    server = listen()
    delivery = queue_delivery(session, centre, spelling.format(port=server.port))
    webhooks.deliver(session, delivery.id, settings=settings)
    session.commit()
    assert server.requests == []
    assert delivery.last_error.startswith("refused: address ") and "is internal" in delivery.last_error
    assert delivery.last_status_code is None


def test_a_literal_internal_address_is_given_up_at_once(session, centre, settings, listen):
    server = listen()
    delivery = queue_delivery(session, centre, f"http://127.0.0.1:{server.port}/hook")
    assert webhooks.deliver(session, delivery.id, settings=settings) is True
    assert delivery.status == "failed" and delivery.attempts == 1
    assert delivery.last_error == "refused: address 127.0.0.1 is internal"
    assert server.requests == []


def test_a_name_rebound_to_loopback_after_registration_is_not_called(client, session, admin, settings, listen,
                                                                     monkeypatch):
    server = listen()
    dns = FakeDns(monkeypatch, {"motcua.tinh.example": PUBLIC_ADDRESS})
    resp = client.post("/api/v1/webhooks", json={"url": f"http://motcua.tinh.example:{server.port}/hook"},
                       headers=bearer(admin))
    assert resp.status_code == 201
    dns.answers["motcua.tinh.example"] = "127.0.0.1"  # the attacker's DNS now answers loopback
    endpoint = session.get(WebhookEndpoint, resp.get_json()["id"])
    delivery = WebhookDelivery(endpoint_id=endpoint.id, event_id="evt_rebound", event="payment.paid", body="{}",
                               status="pending", attempts=0, next_attempt_at=utcnow(), created_at=utcnow())
    session.add(delivery)
    session.commit()
    assert webhooks.deliver(session, delivery.id, settings=settings) is False  # DNS may change back: retried
    assert server.requests == []
    assert delivery.status == "pending" and delivery.last_error == "refused: address 127.0.0.1 is internal"
    assert delivery.next_attempt_at > utcnow() + timedelta(seconds=1)


def test_the_connection_goes_to_the_checked_address_with_the_name_as_host(session, centre, settings, listen,
                                                                          monkeypatch):
    # Two servers on one port: 127.0.0.1 is allowed, 127.0.0.2 is not. DNS answers 127.0.0.1 once, then
    # 127.0.0.2: a client that resolved the name again when connecting would reach the second server.
    allowed = listen(host="127.0.0.1")
    try:
        forbidden = listen(host="127.0.0.2", port=allowed.port)
    except OSError:
        pytest.skip("cannot listen on 127.0.0.2 with the same port")
    allow(settings, "127.0.0.1/32")
    answers = ["127.0.0.1"]
    dns = FakeDns(monkeypatch, {"hooks.motcua.test": lambda: answers.pop(0) if answers else "127.0.0.2"})
    delivery = queue_delivery(session, centre, f"http://hooks.motcua.test:{allowed.port}/events")
    assert webhooks.deliver(session, delivery.id, settings=settings) is True
    assert delivery.status == "delivered"
    assert dns.asked == ["hooks.motcua.test"]  # resolved once, by the check; the connection used its answer
    assert forbidden.requests == []
    assert [r["host"] for r in allowed.requests] == [f"hooks.motcua.test:{allowed.port}"]
    assert allowed.requests[0]["headers"]["X-HCC-Event"] == "payment.paid"


def test_a_redirect_is_a_failed_attempt_and_is_not_followed(session, centre, settings, listen):
    target = listen(host="127.0.0.2")
    allow(settings, "127.0.0.1/32")
    redirector = listen(status=307, headers={"Location": f"http://127.0.0.2:{target.port}/"})
    delivery = queue_delivery(session, centre, f"http://127.0.0.1:{redirector.port}/hook")
    assert webhooks.deliver(session, delivery.id, settings=settings) is False
    assert len(redirector.requests) == 1 and target.requests == []
    assert delivery.status == "pending" and delivery.last_status_code == 307 and delivery.last_error == "HTTP 307"


def test_an_allow_listed_endpoint_is_delivered(session, centre, settings, listen):
    server = listen()
    allow(settings, "127.0.0.0/8")
    delivery = queue_delivery(session, centre, f"http://127.0.0.1:{server.port}/hook")
    assert webhooks.deliver(session, delivery.id, settings=settings) is True
    assert delivery.status == "delivered" and len(server.requests) == 1


# --- TLS to a pinned address -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A test CA and a server certificate for hooks.motcua.test (no real keys)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    now = utcnow()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test webhook CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
          .not_valid_after(now + timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.motcua.test")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.motcua.test")]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return folder


def test_https_to_a_pinned_address_sends_and_verifies_the_name(listen, tls_files, monkeypatch):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files / "server.pem")
    seen_sni: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: seen_sni.append(name)
    server = listen(tls=context)
    FakeDns(monkeypatch, {"hooks.motcua.test": "127.0.0.1", "other.motcua.test": "127.0.0.1"})
    policy = outbound.Policy(allowed_networks=outbound.parse_networks("127.0.0.1/32"), require_https=True)

    resp = outbound.post(f"https://hooks.motcua.test:{server.port}/events", policy=policy, data=b"{}", headers={},
                         timeout=5, verify=str(tls_files / "ca.pem"))
    assert resp.status_code == 200
    assert seen_sni == ["hooks.motcua.test"] and server.requests[0]["host"] == f"hooks.motcua.test:{server.port}"
    # The certificate is still checked against the URL's name, not the address connected to.
    with pytest.raises(requests.exceptions.SSLError):
        outbound.post(f"https://other.motcua.test:{server.port}/events", policy=policy, data=b"{}", headers={},
                      timeout=5, verify=str(tls_files / "ca.pem"))
    assert len(server.requests) == 1
