"""Receipt pipeline benchmark: ours against the naive pipeline, side by side in one run, on one core.

    python bench/receipts.py --n 50

Ours, per receipt, end to end, as `issue_receipt` does it at the counter: take the number and
insert the row, render (font registered and its fixed subset built once per process), build and
XML-sign the data, embed it, PAdES-sign the PDF with the signer loaded once, store the file, commit
(SQLite in a temporary folder). The naive pipeline, per receipt: a reportlab page with the same
content (its TrueType font loaded for the document, reportlab's own per-document subset), then
pyHanko `signers.sign_pdf` with a signer from `SimpleSigner.load_pkcs12` loaded for that document,
defaults otherwise.

The two run in alternating batches of ten (see --batch), so that a noisy machine slows both alike
while each pipeline still runs with its own caches warm, as it would in production. The last
line, `speedup: X.Yx`, is the median over the side-by-side batch pairs; the ratio of the totals
and the spread are printed above it.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}; {os.cpu_count()} CPUs; {platform.system()} {platform.release()}; Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="receipts per pipeline (default 50)")
    parser.add_argument("--batch", type=int, default=10, help="receipts per alternating batch")
    parser.add_argument("--all-cores", action="store_true", help="do not pin the process to one core")
    parser.add_argument("--dir", default=None, help="where the database and stored receipts go (default: the "
                                                    "system temp folder; /dev/shm leaves disk latency out)")
    args = parser.parse_args()
    if not args.all_cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    import logging

    logging.disable(logging.WARNING)
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    from core import audit, events, jobs, migrate
    from core.accounts import ensure_demo_centre
    from core.db import Database
    from core.devcert import ensure_dev_signing
    from core.registry import import_jobs, import_models
    from core.settings import Settings
    from fees.payments import ItemRequest, Payer, create_payment, lock_payment, transition
    from receipts.issuance import issue_receipt
    from receipts.render import FONT_DIR, render_pdf

    tmp = tempfile.TemporaryDirectory(prefix="hcc-bench-", dir=args.dir)
    base = Path(tmp.name)
    files = ensure_dev_signing(base)
    settings = Settings.from_env(environ={}, instance_dir=base, database_url=f"sqlite:///{base / 'bench.sqlite3'}",
                                 queue_url="memory://", signing_pkcs12=files.pkcs12,
                                 signing_pkcs12_password=files.password, public_url="https://hcc.example.gov.vn")
    import_models()
    import_jobs()
    db = Database(settings.database_url)
    migrate.upgrade(db)
    jobs.configure(settings, db)
    events._handlers.pop("payment.paid", None)  # the benchmark issues receipts itself

    lines = [ItemRequest("LP-TL", 2, name="Lệ phí cấp bản sao trích lục hộ tịch", kind="le_phi", unit_amount=8_000),
             ItemRequest("P-TĐ", 1, name="Phí thẩm định hồ sơ đăng ký kinh doanh", kind="phi", unit_amount=184_000)]
    with db.session() as s:
        centre = ensure_demo_centre(s)
        ids = []
        for i in range(args.n):
            p = create_payment(s, centre, dossier_code=f"000.00.01.H26-251124-{i:04d}",
                               payer=Payer("Nguyễn Thị Hồng Nhung", address="Số 12 Lý Thường Kiệt, phường Hoàn Kiếm, "
                                                                     "thành phố Hà Nội"),
                               items=lines, actor=audit.SYSTEM, channels=["vnpay"])
            transition(s, lock_payment(s, payment_id=p.id), "paid", actor=audit.SYSTEM, channel="vnpay",
                       channel_ref=f"1456{i:04d}", paid_amount=p.amount)
            ids.append(p.id)

    contents: list[dict] = []

    def ours(pid: int) -> None:
        # The counter desk's path: number, row, render, sign, store and commit in one transaction.
        with db.session() as s:
            contents.append(issue_receipt(s, pid).content)

    def naive(content: dict) -> bytes:
        pdfmetrics.registerFont(TTFont("NaiveSans", str(FONT_DIR / "DejaVuSans.ttf")))
        pdf = render_pdf(content, font="NaiveSans")
        signer = signers.SimpleSigner.load_pkcs12(str(files.pkcs12), passphrase=files.password.encode())
        out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)),
                               signers.PdfSignatureMetadata(field_name="Signature"), signer=signer)
        return out.getvalue()

    # Warm-up outside the clock: imports, first font parse, first signer load, SQLite pages.
    ours(ids[0])
    naive(contents[0])
    t_ours = t_naive = 0.0
    ratios: list[float] = []
    todo = ids[1:]
    for start in range(0, len(todo), args.batch):
        chunk = todo[start:start + args.batch]
        t0 = time.perf_counter()
        for pid in chunk:
            ours(pid)
        t1 = time.perf_counter()
        for content in contents[-len(chunk):]:
            naive(content)
        t2 = time.perf_counter()
        t_ours += t1 - t0
        t_naive += t2 - t1
        ratios.append((t2 - t1) / (t1 - t0))
    n = len(todo)
    db.dispose()
    tmp.cleanup()
    ours_rate, naive_rate = n / t_ours, n / t_naive
    print(f"machine: {machine()}")
    print(f"cores used: {'all' if args.all_cores else 1}; receipts per pipeline: {n} (after 1 warm-up); "
          f"database and files in {Path(tmp.name).parent}")
    print(f"ours:  {ours_rate:8.1f} receipts/s  ({1000 * t_ours / n:6.1f} ms each: number + row, render, "
          f"XML-DSig, embed, PAdES, store, commit)")
    print(f"naive: {naive_rate:8.1f} receipts/s  ({1000 * t_naive / n:6.1f} ms each: render, load PKCS#12, sign_pdf)")
    print(f"speedup over the whole run: {ours_rate / naive_rate:.1f}x; per batch pair: min "
          f"{min(ratios):.1f}x, max {max(ratios):.1f}x")
    # The median of side-by-side batch pairs: a burst of load from another process hits one pair,
    # not the result.
    print(f"speedup: {statistics.median(ratios):.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
