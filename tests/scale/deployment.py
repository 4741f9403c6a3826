"""The README's production deployment, on one machine, for the scale-out test and the load benchmark.

PostgreSQL: a database of its own (`hcc_scale_<random>`, dropped after) on the server that
HCC_TEST_DATABASE_URL names. Redis: a `redis-server` of its own on a free port (the one on 6379 is shared
with other tests under pytest-xdist, so it is never restarted; this one may be). Then, as the README's
production section runs it: `hcc db upgrade`, `gunicorn -w N -k gthread --threads 8 wsgi:app` and
`hcc worker`s (each one also runs the periodic sweep). The embedded default's demo centre (unit, fee
schedule, registered series) is seeded once and an API key made with `hcc api-keys create`.

HCC_ENV stays `development`: production would refuse the sandboxes and the development signing
certificate this test needs; every other choice (database, queue, processes) is production's.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SEED = ("from api import create_app\nfrom api.cli import prepare_embedded\napp = create_app()\n"
        "with app.app_context():\n    prepare_embedded(app)\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_available() -> bool:
    """The CI's Redis answers at 127.0.0.1:6379 and redis-server is installed (the test starts its own)."""
    if not shutil.which("redis-server") or not shutil.which("redis-cli"):
        return False
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def postgres_url() -> str | None:
    url = os.environ.get("HCC_TEST_DATABASE_URL", "").strip()
    return url if url.startswith("postgresql") else None


def _pg_admin(server_url: str, statement: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(server_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


class Deployment:
    """Start with `start()`, stop with `stop()` (drops the database); `logs` holds every process's output."""

    def __init__(self, base: Path, *, pg_url: str, web_workers: int = 3, threads: int = 8,
                 worker_threads: int = 2, extra_env: dict[str, str] | None = None, root: Path = ROOT):
        self.root = Path(root)
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.db_name = f"hcc_scale_{secrets.token_hex(6)}"
        self.pg_server = pg_url
        self.db_url = pg_url.rsplit("/", 1)[0] + "/" + self.db_name
        self.redis_port = free_port()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.web_workers, self.threads, self.worker_threads = web_workers, threads, worker_threads
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HCC_")}
        self.env.update(
            HCC_INSTANCE_DIR=str(self.base / "instance"), HCC_DATABASE_URL=self.db_url,
            HCC_QUEUE_URL=f"redis://127.0.0.1:{self.redis_port}/0", HCC_PUBLIC_URL=self.url,
            HCC_QUEUE_WORKERS=str(worker_threads), HCC_LOG_LEVEL="WARNING", **(extra_env or {}))
        # The code served is the tree at `root` (a package added since the editable install included).
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.root), os.environ.get("PYTHONPATH")]))
        self.redis: subprocess.Popen | None = None
        self.web: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self._logs: list[Path] = []
        self._db_made = False
        self.api_key = ""

    # -- processes -------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], **kw) -> subprocess.Popen:
        """Start a process with its output appended to <name>.log (the child keeps the file open, not we)."""
        path = self.base / f"{name}.log"
        if path not in self._logs:
            self._logs.append(path)
        with path.open("ab") as out:
            return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **kw)

    def _hcc(self, *args: str) -> str:
        done = subprocess.run([str(BIN / "hcc"), *args], cwd=self.root, env=self.env, capture_output=True, text=True,
                              timeout=300)
        if done.returncode:
            raise RuntimeError(f"hcc {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start_redis(self) -> None:
        (self.base / "redis").mkdir(exist_ok=True)
        self.redis = self._spawn("redis", [
            "redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.base / "redis")])
        deadline = time.monotonic() + 20
        while subprocess.run(["redis-cli", "-p", str(self.redis_port), "ping"], capture_output=True,
                             text=True).stdout.strip() != "PONG":
            if time.monotonic() > deadline or self.redis.poll() is not None:
                raise RuntimeError(f"redis-server did not start on port {self.redis_port}")
            time.sleep(0.1)

    def restart_redis(self) -> None:
        """As an operator would: `redis-cli shutdown nosave` (everything queued is gone), then start it again."""
        subprocess.run(["redis-cli", "-p", str(self.redis_port), "shutdown", "nosave"], capture_output=True,
                       timeout=20)
        self.redis.wait(timeout=20)
        self.start_redis()

    def start_worker(self) -> subprocess.Popen:
        n = len(self.workers) + 1
        proc = self._spawn(f"worker{n}", [str(BIN / "hcc"), "worker"], cwd=self.root, env=self.env)
        self.workers.append(proc)
        return proc

    def kill_worker(self, proc: subprocess.Popen) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=20)

    def start(self) -> None:
        _pg_admin(self.pg_server, f'CREATE DATABASE "{self.db_name}"')
        self._db_made = True
        from core.devcert import ensure_dev_signing

        # The development signing identity, made once before several processes start (and named, so the
        # test's own verifier trusts the same CA).
        files = ensure_dev_signing(self.base / "instance", public_url=self.url)
        self.env.update(HCC_SIGNING_PKCS12=str(files.pkcs12), HCC_SIGNING_PKCS12_PASSWORD=files.password)
        self.start_redis()
        self._hcc("db", "upgrade")  # the README's step; also makes the instance's secret and keys, once
        # The service starts while the demo centre is seeded and the API key made (each `hcc` is an app start).
        self.web = self._spawn("gunicorn", [
            str(BIN / "gunicorn"), "-w", str(self.web_workers), "-k", "gthread", "--threads", str(self.threads),
            "-b", f"127.0.0.1:{self.port}", "--timeout", "120", "wsgi:app"], cwd=self.root, env=self.env)
        self.start_worker()
        self.start_worker()
        subprocess.run([sys.executable, "-c", SEED], cwd=self.root, env=self.env, check=True, capture_output=True,
                       timeout=300)
        self.api_key = self._hcc("api-keys", "create", "--name", "Hệ thống một cửa (thử tải)").strip()
        self.wait_ready()

    def wait_ready(self, timeout: float = 90) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.web.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not become ready:\n" + self.logs())
            time.sleep(0.3)

    def stop(self) -> None:
        for proc in [*self.workers, self.web]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, self.web]:
            if proc is not None:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        if self.redis is not None and self.redis.poll() is None:
            subprocess.run(["redis-cli", "-p", str(self.redis_port), "shutdown", "nosave"], capture_output=True,
                           timeout=20)
            try:
                self.redis.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.redis.kill()
        if self._db_made:
            _pg_admin(self.pg_server, f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            self._db_made = False

    def logs(self, tail: int = 4000) -> str:
        out = []
        for path in self._logs:
            if path.exists():
                out.append(f"--- {path.name}\n{path.read_text(errors='replace')[-tail:]}")
        return "\n".join(out)

    # -- the service's own view -----------------------------------------------------------------------

    def settings(self):
        from core.settings import Settings

        return Settings.from_env(self.env)

    def database(self):
        from core.db import Database
        from core.registry import import_models

        import_models()
        return Database(self.db_url)

    def queue_size(self) -> int:
        out = subprocess.run(["redis-cli", "-p", str(self.redis_port), "llen", "huey.redis.hcc"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        return int(out or 0)

    def enqueue(self, task, *args) -> None:
        """Put one more `task(*args)` on the deployment's queue, as a sweep elsewhere would."""
        from core import jobs

        saved = jobs.huey.storage
        jobs.huey.storage = jobs.storage_for(self.env["HCC_QUEUE_URL"])
        try:
            task(*args)
        finally:
            jobs.huey.storage = saved

    def pending_jobs(self) -> Counter:
        """Names of the jobs waiting in the queue, counted."""
        from core import jobs
        from core.registry import import_jobs

        import_jobs()
        saved = jobs.huey.storage
        jobs.huey.storage = jobs.storage_for(self.env["HCC_QUEUE_URL"])
        try:
            return Counter(t.name for t in jobs.huey.pending())
        finally:
            jobs.huey.storage = saved

    def vnpay_ipn_query(self, payment: dict, n: int) -> str:
        """The signed query string VNPAY sends to our IPN URL for a successful payment of `payment` (as the API
        answered it): fees/gateways/vnpay/sandbox.py's fields, signed HMAC-SHA512 with the merchant's hash secret.
        The order reference is the payment's code (an order opened before attempts had references of their
        own, which fees.gateways.attempts still maps to its payment)."""
        from urllib.parse import urlencode

        from fees.gateways import vnpay

        if not hasattr(self, "_vnpay"):
            self._vnpay = vnpay.VnpayGateway(self.settings())
        gw = self._vnpay
        params = {"vnp_Amount": str(payment["amount"] * 100), "vnp_BankCode": "NCB",
                  "vnp_BankTranNo": f"VNP{14000000 + n}", "vnp_CardType": "ATM",
                  "vnp_OrderInfo": f"Thanh toan ho so {payment['dossier_code']}", "vnp_PayDate": vnpay.vn_time(),
                  "vnp_ResponseCode": "00", "vnp_TmnCode": gw.tmn_code, "vnp_TransactionNo": str(14000000 + n),
                  "vnp_TransactionStatus": "00", "vnp_TxnRef": payment["code"]}
        params["vnp_SecureHash"] = vnpay.sign_params(params, gw.secret)
        return urlencode(params)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}
