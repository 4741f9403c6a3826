"""Callback benchmark: our VNPAY IPN endpoint against a bare Flask endpoint on the same server.

    python bench/callbacks.py --n 300

One server process (the app on werkzeug's WSGI server, SQLite in a temporary folder, the job queue
in memory so that receipt signing is left to workers, as in production) serves both endpoints; the
client alternates batches of IPNs and of requests to a bare endpoint that only answers JSON, so a
noisy machine slows both alike. Each IPN is a fresh, correctly signed payment notice for its own
pending payment: stored verbatim, verified, deduplicated, the payment locked and made paid, audited,
receipt issuance queued, answered {"RspCode": "00"}. A second series replays IPNs already accepted
(the deduplication path, answered "02"). Printed: requests per second and milliseconds per request
for each, and as the last line `ratio: X.XX` (IPNs per second / bare requests per second).
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVER = textwrap.dedent("""
    import logging, sys
    from flask import jsonify
    from werkzeug.serving import make_server
    from api import create_app
    logging.disable(logging.WARNING)
    app = create_app()

    @app.get("/bench/bare")
    def bare():
        return jsonify(RspCode="00", Message="Confirm Success")

    server = make_server("127.0.0.1", int(sys.argv[1]), app, threaded=False)
    if len(sys.argv) > 2:
        # --profile: cProfile over the serving loop, and SQL statements counted per request path; both are
        # written when the client stops the server (SIGTERM).
        import cProfile, collections, json, signal
        from flask import request as current_request
        from sqlalchemy import event
        statements, seen = collections.Counter(), collections.Counter()

        def count(*_args, **_kwargs):
            try:
                statements[key()] += 1
            except RuntimeError:
                statements["(outside a request)"] += 1

        def key():
            return current_request.path.rsplit("/", 1)[0] + current_request.headers.get("X-Bench-Series", "")

        event.listen(app.extensions["hcc"].db.engine, "before_cursor_execute", count)
        app.before_request(lambda: seen.update([key()]) and None)
        profiler = cProfile.Profile()

        def stop(*_args):
            profiler.disable()
            profiler.dump_stats(sys.argv[2] + ".prof")
            with open(sys.argv[2] + ".sql.json", "w") as f:
                json.dump({"statements": statements, "requests": seen}, f)
            raise SystemExit(0)

        signal.signal(signal.SIGTERM, stop)
        profiler.enable()
    server.serve_forever()
""")


def machine() -> str:
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}; {os.cpu_count()} CPUs; {platform.system()} {platform.release()}; Python {platform.python_version()}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="IPNs (and bare requests) to send (default 300)")
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--legacy-orders", action="store_true",
                        help="IPNs for orders opened before checkout attempts were recorded (vnp_TxnRef = payment "
                             "code, no attempt row): the slower path the benchmark measured before 2 Dec 2026")
    parser.add_argument("--profile", metavar="PREFIX",
                        help="run the server under cProfile: PREFIX.prof, and SQL statements per request printed")
    args = parser.parse_args()

    import logging

    import requests

    logging.disable(logging.WARNING)
    from core import audit, migrate
    from core.accounts import ensure_demo_centre
    from core.db import Database
    from core.devcert import ensure_dev_signing
    from core.registry import import_jobs, import_models
    from core.settings import Settings
    from fees import merchants
    from fees.gateways import attempts, vnpay
    from fees.gateways.base import get_gateway
    from fees.payments import ItemRequest, Payer, create_payment

    tmp = tempfile.TemporaryDirectory(prefix="hcc-bench-cb-")
    base = Path(tmp.name)
    files = ensure_dev_signing(base)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HCC_")}
    env.update(HCC_INSTANCE_DIR=str(base), HCC_QUEUE_URL="memory://", HCC_SIGNING_PKCS12=str(files.pkcs12),
               HCC_SIGNING_PKCS12_PASSWORD=files.password, HCC_LOG_LEVEL="WARNING")
    settings = Settings.from_env(env)
    import_models()
    import_jobs()
    db = Database(settings.database_url)
    migrate.upgrade(db)
    gateway_settings = Settings.from_env(env)
    gw = vnpay.VnpayGateway(gateway_settings)
    with db.session() as s:
        centre = ensure_demo_centre(s)
        payments = [create_payment(s, centre, dossier_code=f"000.00.01.H26-251124-{i:04d}", payer=Payer("Lê Văn Cường"),
                                   items=[ItemRequest("LP", 1, name="Lệ phí thử", kind="le_phi", unit_amount=50_000)],
                                   actor=audit.SYSTEM, channels=["vnpay"]) for i in range(args.n + 1)]
        notices = []
        for i, p in enumerate(payments):
            # The citizen's checkout, as the pay page opens it (api/fees/pages.py: start): the order is an
            # attempt of its own, with the merchant it was opened with; the IPN names that order.
            txn_ref = p.code
            if not args.legacy_orders:
                account = merchants.account_for_payment(s, settings, p, "vnpay")
                checkout = attempts.start_checkout(s, p, get_gateway("vnpay", settings, account),
                                                   return_url=f"{settings.public_url}/pay/{p.code}/result",
                                                   client_ip="127.0.0.1")
                p.extra = {**(p.extra or {}), "checkout_channel": "vnpay",
                           merchants.CHECKOUT_MERCHANT: account.merchant_id}
                txn_ref = checkout.reference
            params = {"vnp_Amount": str(p.amount * 100), "vnp_BankCode": "NCB", "vnp_OrderInfo": "Thanh toan",
                      "vnp_PayDate": vnpay.vn_time(), "vnp_ResponseCode": "00", "vnp_TmnCode": gw.tmn_code,
                      "vnp_TransactionNo": str(14000000 + i), "vnp_TransactionStatus": "00", "vnp_TxnRef": txn_ref}
            params["vnp_SecureHash"] = vnpay.sign_params(params, gw.secret)
            notices.append(urlencode(params))
    db.dispose()

    port = free_port()
    profile = [str(Path(args.profile).resolve())] if args.profile else []
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), *profile], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    http = requests.Session()
    try:
        # Up to two minutes for the server to start: on a loaded machine building the app has taken 45 s.
        for _ in range(1200):
            if server.poll() is not None:
                raise SystemExit(f"the server did not start:\n{server.stderr.read().decode()}")
            try:
                http.get(f"{url}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)

        def ipn(query: str, expect: str) -> None:
            # Profiling only: the series is named in a header so SQL statements are counted per series.
            headers = {"X-Bench-Series": f"-{expect}"} if profile else None
            answer = http.get(f"{url}/callbacks/vnpay/ipn?{query}", headers=headers, timeout=10).json()
            assert answer["RspCode"] == expect, answer

        def bare() -> None:
            assert http.get(f"{url}/bench/bare", timeout=10).json()["RspCode"] == "00"

        ipn(notices[0], "00")  # warm-up outside the clock
        bare()
        t_ipn = t_replay = t_bare = 0.0
        todo = notices[1:]
        ratios = []
        for start in range(0, len(todo), args.batch):
            chunk = todo[start:start + args.batch]
            t0 = time.perf_counter()
            for q in chunk:
                ipn(q, "00")
            t1 = time.perf_counter()
            for _ in chunk:
                bare()
            t2 = time.perf_counter()
            for q in chunk:
                ipn(q, "02")
            t3 = time.perf_counter()
            t_ipn, t_bare, t_replay = t_ipn + t1 - t0, t_bare + t2 - t1, t_replay + t3 - t2
            ratios.append((t2 - t1) / (t1 - t0))
    finally:
        server.terminate()
        server.wait(timeout=10)
        http.close()
        tmp.cleanup()
    n = len(todo)
    print(f"machine: {machine()}")
    print(f"server: werkzeug, one thread, SQLite; requests per series: {n} (after 1 warm-up)")
    print(f"bare endpoint: {n / t_bare:8.1f} req/s  ({1000 * t_bare / n:6.2f} ms each)")
    print(f"VNPAY IPN:     {n / t_ipn:8.1f} req/s  ({1000 * t_ipn / n:6.2f} ms each: store, verify, lock, paid, audit, "
          "queue receipt, answer 00)")
    print(f"IPN replay:    {n / t_replay:8.1f} req/s  ({1000 * t_replay / n:6.2f} ms each: store, verify, dedup, answer 02)")
    if profile:
        import json
        import pstats

        counts = json.loads(Path(profile[0] + ".sql.json").read_text())
        for key, seen in sorted(counts["requests"].items()):
            print(f"SQL statements per request, {key}: {counts['statements'].get(key, 0) / seen:.1f}")
        pstats.Stats(profile[0] + ".prof").sort_stats("cumulative").print_stats(40)
    print(f"ratio: {statistics.median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
