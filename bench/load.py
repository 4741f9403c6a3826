"""Load benchmark: the full flow against the README's scale-out deployment, with Locust, stepping the arrival rate.

    HCC_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres python bench/load.py

Starts the deployment the scale-out test starts (tests/scale/deployment.py: PostgreSQL database of its own,
a Redis of its own, `gunicorn -w 3 -k gthread --threads 8 wsgi:app`, two `hcc worker`s), then runs Locust
headless as a library. Each arrival is one citizen's payment: the one-stop system creates it through the
API (POST /api/v1/payments), VNPAY notifies it (GET /callbacks/vnpay/ipn, signed), and the one-stop
system polls the payment every 0.2 s until its receipt is issued (signed by a worker) and fetches the PDF.
The latency measured is from sending the IPN to having the signed PDF in hand.

The arrival rate is stepped (`--rates`, flows started per second; an open model: each Locust user starts a
flow every --pace seconds whatever became of the last); each step runs --step seconds, then lets its flows
finish. It stops after the first step whose p99 passes --p99-limit (5 s). Printed per step: arrivals/s,
receipts completed per second over the step, p50/p99; then the last step that held (the sustained rate),
per CPU core, the peak RSS (VmHWM) of each gunicorn and worker process, and the projection to receipts per
day for this machine.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import gevent
import locust  # patches the standard library with gevent on import, before requests or sockets are used
from locust import HttpUser, constant_pacing, task

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.scale.deployment import Deployment, postgres_url  # noqa: E402

FLOW = "IPN → signed receipt PDF"


def machine() -> str:
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    return (f"{cpu}; {cores()} CPUs; {platform.system()} {platform.release()}; Python {platform.python_version()}"
            f"{load}")


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set size."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Step:
    def __init__(self, rate: float):
        self.rate = rate
        self.started = 0
        self.latencies: list[float] = []  # seconds, of the flows that finished
        self.failed = 0
        self.pending = 0


class Load:
    """What the Locust users share: the deployment, the fee, the current step."""

    dep: Deployment
    fee_code: str
    step: Step | None = None
    counter = itertools.count(1)
    flow_timeout = 60.0


class OneStopSystem(HttpUser):
    """One arrival per --pace seconds: create the payment, VNPAY's IPN, then (apart) wait for the receipt."""

    wait_time = constant_pacing(1.0)

    @task
    def citizen_pays(self):
        step = Load.step
        if step is None:
            return
        n = next(Load.counter)
        r = self.client.post("/api/v1/payments", headers=Load.dep.headers(), name="POST /api/v1/payments", json={
            "dossier_code": f"000.00.01.H26-LOAD-{n:07d}", "payer": {"name": f"Trần Thị Mai {n}"},
            "items": [{"fee_code": Load.fee_code, "quantity": 1}], "channels": ["vnpay"]})
        if r.status_code != 201:
            step.failed += 1
            return
        payment = r.json()
        query = Load.dep.vnpay_ipn_query(payment, n)
        t_ipn = time.monotonic()
        answer = self.client.get(f"/callbacks/vnpay/ipn?{query}", name="GET /callbacks/vnpay/ipn")
        if answer.status_code != 200 or answer.json().get("RspCode") != "00":
            step.failed += 1
            return
        step.started += 1
        step.pending += 1
        gevent.spawn(self._receipt, step, payment["id"], t_ipn)

    def _receipt(self, step: Step, payment_id: int, t_ipn: float) -> None:
        try:
            while time.monotonic() - t_ipn < Load.flow_timeout:
                gevent.sleep(0.2)
                r = self.client.get(f"/api/v1/payments/{payment_id}", headers=Load.dep.headers(),
                                    name="GET /api/v1/payments/[id]")
                receipts = r.json().get("receipts") or [] if r.status_code == 200 else []
                if receipts and all(x["status"] == "issued" for x in receipts):
                    pdf = self.client.get(f"/api/v1/receipts/{receipts[0]['id']}/pdf", headers=Load.dep.headers(),
                                          name="GET /api/v1/receipts/[id]/pdf")
                    if pdf.status_code == 200 and pdf.content.startswith(b"%PDF"):
                        latency = time.monotonic() - t_ipn
                        step.latencies.append(latency)
                        self.environment.events.request.fire(request_type="FLOW", name=FLOW,
                                                             response_time=latency * 1000, response_length=len(pdf.content),
                                                             exception=None, context={})
                        return
            step.failed += 1  # not signed in time: counted as a failure (and as beyond any percentile)
        finally:
            step.pending -= 1


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("inf")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * len(values)) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=postgres_url() or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL URL on the server to use (a database of its own is made beside it)")
    parser.add_argument("--rates", default="1,2,3,4,6,8,10,12,16,20,24,32",
                        help="arrival rates to step through, flows per second")
    parser.add_argument("--step", type=float, default=30.0, help="seconds per step (default 30)")
    parser.add_argument("--pace", type=float, default=2.0, help="seconds between two flows of one user (default 2)")
    parser.add_argument("--p99-limit", type=float, default=5.0)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="hcc worker processes (default 2)")
    parser.add_argument("--worker-threads", type=int, default=2)
    args = parser.parse_args()
    if not args.db.startswith("postgresql"):
        parser.error("--db must name a PostgreSQL server")

    import logging

    import requests
    from locust.env import Environment

    logging.getLogger("locust").setLevel(logging.WARNING)
    OneStopSystem.wait_time = constant_pacing(args.pace)
    tmp = tempfile.TemporaryDirectory(prefix="hcc-bench-load-")
    dep = Deployment(Path(tmp.name), pg_url=args.db, web_workers=args.web_workers,
                     worker_threads=args.worker_threads)
    rows: list[tuple[Step, float]] = []
    rss: dict[str, float] = {}
    try:
        dep.start()
        for _ in range(args.workers - 2):
            dep.start_worker()
        Load.dep = dep
        fees = requests.get(f"{dep.url}/api/v1/fees", headers=dep.headers(), timeout=60).json()
        Load.fee_code = (fees["items"] if isinstance(fees, dict) else fees)[0]["code"]
        env = Environment(user_classes=[OneStopSystem], host=dep.url, events=locust.events)
        runner = env.create_local_runner()
        print(f"machine: {machine()}", flush=True)
        print(f"deployment: gunicorn -w {args.web_workers} -k gthread --threads 8; {args.workers} hcc workers × "
              f"{args.worker_threads} threads; PostgreSQL; Redis", flush=True)
        print(f"{'arrivals/s':>10} {'receipts/s':>10} {'flows':>6} {'failed':>6} {'p50 s':>7} {'p99 s':>7}", flush=True)
        for rate in [float(x) for x in args.rates.split(",")]:
            step = Step(rate)
            Load.step = step
            users = max(1, round(rate * args.pace))
            t0 = time.monotonic()
            runner.start(users, spawn_rate=users)
            gevent.sleep(args.step)
            Load.step = None  # no new flows; those under way finish
            runner.stop()
            while step.pending and time.monotonic() - t0 < args.step + Load.flow_timeout + 5:
                gevent.sleep(0.2)
            elapsed = time.monotonic() - t0
            done = len(step.latencies)
            # Receipts in hand per second, over the whole step including its tail (the work it caused).
            throughput = done / elapsed
            rows.append((step, throughput))
            p50, p99 = pct(step.latencies, 0.50), pct(step.latencies + [float("inf")] * step.failed, 0.99)
            print(f"{rate:10.1f} {throughput:10.2f} {done:6d} {step.failed:6d} {p50:7.2f} {p99:7.2f}", flush=True)
            if p99 > args.p99_limit:
                break
        import psutil

        web = psutil.Process(dep.web.pid)
        rss["gunicorn master"] = peak_rss_mb(web.pid)
        for i, child in enumerate(web.children(), 1):
            rss[f"gunicorn worker {i}"] = peak_rss_mb(child.pid)
        for i, w in enumerate(dep.workers, 1):
            if w.poll() is None:
                rss[f"hcc worker {i}"] = peak_rss_mb(w.pid)
        runner.quit()
    finally:
        dep.stop()
        tmp.cleanup()

    held = [(s, t) for s, t in rows
            if pct(s.latencies + [float("inf")] * s.failed, 0.99) <= args.p99_limit and s.latencies]
    print()
    for name, mb in rss.items():
        print(f"peak RSS {name}: {mb:.0f} MB")
    if held:
        step, sustained = max(held, key=lambda x: x[1])
        what = "sustained"
    else:
        # Not even the first step held: its figures are still the machine's, named for what they are.
        step, sustained = rows[0]
        what = f"NOT sustained (p99 over {args.p99_limit:g} s at the lowest rate)"
    n = cores()
    print(f"{what}: {sustained:.2f} receipts/s at {step.rate:g} arrivals/s "
          f"(p50 {pct(step.latencies, 0.5):.2f} s, p99 {pct(step.latencies, 0.99):.2f} s IPN to signed PDF)")
    print(f"per CPU core: {sustained / n:.2f} receipts/s ({n} cores)")
    print(f"projection: {sustained * 86400:,.0f} receipts/day on this machine at that rate around the clock "
          f"({sustained / n * 4 * 86400:,.0f} on 4 such cores, if it scales with cores)")
    return 0 if held else 1


if __name__ == "__main__":
    raise SystemExit(main())
