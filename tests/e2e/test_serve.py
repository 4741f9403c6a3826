"""README command 1, in small: `hcc serve` on a fresh instance folder serves health and sign-in."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_hcc_serve_on_a_fresh_instance(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HCC_")}
    env["HCC_INSTANCE_DIR"] = str(tmp_path / "instance")
    hcc = Path(sys.executable).with_name("hcc")
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([str(hcc), "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp_path / "serve.log").read_text()) from None
                time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/staff/login", timeout=5) as r:
            assert r.status == 200 and "Đăng nhập cán bộ" in r.read().decode()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
            assert r.status == 200
        # Links handed to citizens and gateways point at the port actually served.
        key = subprocess.run([str(hcc), "api-keys", "create", "--name", "Một cửa"], env=env, capture_output=True,
                             text=True, check=True).stdout.strip()
        fee = json.load(urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/fees", headers={"Authorization": f"Bearer {key}"}), timeout=5))
        code = (fee["items"] if isinstance(fee, dict) else fee)[0]["code"]
        body = json.dumps({"dossier_code": "HS-1", "payer": {"name": "Trần Văn Bình"},
                           "items": [{"fee_code": code, "quantity": 1}]}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/payments", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 201
            assert json.load(r)["pay_url"].startswith(f"http://127.0.0.1:{port}/pay/")
        # First start generated what the embedded default needs, under the instance folder only.
        assert (tmp_path / "instance" / "signing" / "dev-signing.p12").exists()
        assert (tmp_path / "instance" / "secret_key").exists()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a loaded machine; what is tested is that it served, not how fast it stops
            proc.kill()
            proc.wait(timeout=30)
        log.close()
