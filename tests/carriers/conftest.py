"""The carrier sandboxes behind `responses`: every adapter talks HTTP to a fake at the wire that speaks
its carrier's protocol, so one contract suite runs against all of them without a server."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import requests.adapters
import responses

from carriers.base import get_carrier
from carriers.ghn import sandbox as ghn_sandbox
from carriers.sandbox import Call, store_for
from carriers.viettelpost import sandbox as vtp_sandbox
from carriers.vnpost import sandbox as vnpost_sandbox
from core.settings import Settings

WIRE = "http://carriers.test"
SANDBOXES = {"vnpost": vnpost_sandbox, "viettelpost": vtp_sandbox, "ghn": ghn_sandbox}


@pytest.fixture
def carrier_settings(tmp_path) -> Settings:
    return Settings.from_env(environ={}, instance_dir=tmp_path / "instance", public_url=WIRE, queue_url="memory://")


@pytest.fixture
def store(carrier_settings):
    return store_for(carrier_settings)


@pytest.fixture
def wire(carrier_settings, store):
    """`responses` routing every call under WIRE/sandbox/<carrier>/ to that carrier's sandbox."""

    def route(request):
        parts = urlsplit(request.url)
        carrier, _, rest = parts.path[len("/sandbox/"):].partition("/")
        body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
        ctype = request.headers.get("Content-Type", "")
        call = Call(method=request.method, path="/" + rest, headers=dict(request.headers),
                    query=dict(parse_qsl(parts.query)),
                    form=dict(parse_qsl(body)) if "form" in ctype else {},
                    json=json.loads(body) if "json" in ctype and body else None)
        reply = SANDBOXES[carrier].handle(store, carrier_settings, call)
        if isinstance(reply.body, bytes):
            return reply.status, {"Content-Type": reply.content_type}, reply.body
        return reply.status, {"Content-Type": "application/json"}, json.dumps(reply.body)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in ("GET", "POST"):
            mock.add_callback(method, re.compile(re.escape(WIRE) + r"/sandbox/.*"), callback=route)
        yield mock


@pytest.fixture(autouse=True)
def _fresh_tokens():
    from carriers.viettelpost.client import reset_token_cache as vtp_reset
    from carriers.vnpost.client import reset_token_cache as vnpost_reset

    vnpost_reset()
    vtp_reset()
    yield


@pytest.fixture(params=["vnpost", "viettelpost", "ghn"])
def adapter(request, carrier_settings):
    carrier = get_carrier(request.param, carrier_settings)
    yield carrier
    carrier.http.close()


@pytest.fixture(autouse=True)
def _closed_circuits():
    from carriers.base import breaker

    breaker.reset()
    yield
    breaker.reset()


class SandboxTransport(requests.adapters.BaseAdapter):
    """A requests transport that hands each call under WIRE/sandbox/<carrier>/ to that carrier's sandbox
    in-process: no server, no global patching (so it nests inside any `responses` mock)."""

    def __init__(self, settings: Settings):
        super().__init__()
        self.settings, self.store = settings, store_for(settings)

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        carrier, _, rest = parts.path[len("/sandbox/"):].partition("/")
        body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
        ctype = request.headers.get("Content-Type", "")
        call = Call(method=request.method, path="/" + rest, headers=dict(request.headers),
                    query=dict(parse_qsl(parts.query)), form=dict(parse_qsl(body)) if "form" in ctype else {},
                    json=json.loads(body) if "json" in ctype and body else None)
        reply = SANDBOXES[carrier].handle(self.store, self.settings, call)
        resp = requests.Response()
        resp.status_code, resp.request, resp.url = reply.status, request, request.url
        if isinstance(reply.body, bytes):
            resp._content, resp.headers["Content-Type"] = reply.body, reply.content_type
        else:
            resp._content, resp.headers["Content-Type"] = json.dumps(reply.body).encode(), "application/json"
        return resp

    def close(self):
        pass


_units: dict[str, list] = {}
_wire_dir: list = []


def sandbox_units(carrier: str) -> list:
    """The carrier's address catalogue as its adapter reads it (`units()`) from its sandbox, computed
    once per test session: postal's fixtures store it instead of reading it over HTTP in every test.
    A carrier without a catalogue raises NotSupported, as its adapter does."""
    if carrier not in _units:
        import tempfile

        from carriers.base import NotSupported

        if not _wire_dir:
            _wire_dir.append(tempfile.TemporaryDirectory(prefix="hcc-catalogues-"))
        settings = Settings.from_env(environ={}, instance_dir=_wire_dir[0].name, public_url=WIRE, queue_url="memory://")
        http = requests.Session()
        http.mount(WIRE, SandboxTransport(settings))
        try:
            _units[carrier] = get_carrier(carrier, settings, http=http).units()
        except NotSupported:
            _units[carrier] = []
        finally:
            http.close()
    if not _units[carrier]:
        from carriers.base import NotSupported

        raise NotSupported(f"{carrier}: address catalogue")
    return list(_units[carrier])
