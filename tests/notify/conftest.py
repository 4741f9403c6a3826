"""Citizen messages through the Zalo and eSMS sandboxes, reached in-process by a requests transport."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from core import notify
from messaging.sms import sandbox as esms_sandbox
from messaging.zalo import sandbox as zalo_sandbox


class KilledWorker(BaseException):
    """Stands for the worker process dying: not an Exception, so nothing on the way catches it."""


class MessagingTransport(requests.adapters.BaseAdapter):
    """Hands calls under /sandbox/zalo and /sandbox/sms to the sandboxes' logic; can die right after the
    provider took a call (`kill_after` = "zalo" or "sms")."""

    def __init__(self, settings):
        super().__init__()
        self.settings, self.kill_after, self.calls = settings, None, []

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
        ctype = request.headers.get("Content-Type", "")
        path = parts.path
        self.calls.append(path)
        if path.startswith("/sandbox/zalo/"):
            reply = zalo_sandbox.handle(self.settings, request.method, path[len("/sandbox/zalo"):],
                                        dict(request.headers), dict(parse_qsl(body)) if "form" in ctype else {},
                                        json.loads(body) if "json" in ctype and body else None)
            provider = "zalo"
        elif path.startswith("/sandbox/sms/"):
            reply = esms_sandbox.handle(self.settings, request.method, path[len("/sandbox/sms"):],
                                        dict(parse_qsl(parts.query)), json.loads(body) if body else None)
            provider = "sms"
        else:
            raise requests.ConnectionError(f"no sandbox at {request.url}")
        if self.kill_after == provider and "access_token" not in path:
            self.kill_after = None
            raise KilledWorker(provider)
        resp = requests.Response()
        resp.status_code, resp.request, resp.url = reply.status, request, request.url
        resp._content, resp.headers["Content-Type"] = json.dumps(reply.body).encode(), "application/json"
        return resp

    def close(self):
        pass


@pytest.fixture
def transport(settings, monkeypatch):
    t = MessagingTransport(settings)

    def session():
        s = requests.Session()
        s.mount("http://", t)
        return s

    monkeypatch.setattr(notify, "http_session", session)
    return t


@pytest.fixture
def by_zalo(app, settings, transport):
    """The deployment sends Zalo first and SMS as fallback; no quiet hours unless a test sets them."""
    settings.extra.update({"HCC_SMS_PROVIDER": "zalo+esms", "HCC_QUIET_HOURS": "00:00-00:00"})
    return settings
