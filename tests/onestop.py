"""The one-stop system's side of our outbound webhooks, for tests: a real HTTP receiver and its fixture."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fees import webhooks


class OneStopReceiver:
    """The one-stop system's webhook endpoint: records every POST (headers and body) and answers 200."""

    def __init__(self):
        self.received: list[tuple[dict, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                outer.received.append((dict(self.headers), body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hcc-events"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def events(self, secret: str, name: str) -> list[dict]:
        out = []
        for headers, body in self.received:
            assert webhooks.verify_header(secret, headers["X-HCC-Signature"], body), "the signature must verify"
            event = json.loads(body)
            if event["type"] == name:
                out.append(event)
        return out


@pytest.fixture
def one_stop(app):
    receiver = OneStopReceiver()
    # The receiver is on this machine: allowed as an outbound webhook target for this test only.
    app.extensions["hcc"].settings.extra["HCC_WEBHOOK_ALLOWED_NETWORKS"] = "127.0.0.1/32"
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()
    receiver.thread.join(timeout=5)
