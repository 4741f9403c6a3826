"""End-to-end fixtures: the app served over real HTTP in a thread, and the system Chromium via Playwright."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("HCC_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def browser():
    # Module scope, not session: Playwright's sync API keeps an asyncio loop running in this thread
    # while it is started, and later tests that call asyncio.run (pyHanko validation) must not see it.
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium (see .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="vi-VN", viewport={"width": 390, "height": 844}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    # The pages' Content-Security-Policy must not break them: any refusal the browser reports fails the test.
    refused: list[str] = []
    page.on("console", lambda msg: refused.append(msg.text)
            if "Content Security Policy" in msg.text or msg.text.startswith("Refused to") else None)
    yield page
    context.close()
    assert not refused, f"the browser refused something under the CSP: {refused}"


@pytest.fixture
def job_worker(app):
    """Background jobs run by worker threads beside the live server, as the embedded default runs them
    (core.jobs.InProcessWorker), instead of at commit inside the request that queued them.

    Opt-in: a test that needs work to proceed while it goes on (a statement import and its progress bar)
    asks for it; the other tests keep the suite's immediate jobs. Two threads, so a long job (the import)
    leaves one free for the short ones (a receipt)."""
    from core import jobs

    jobs.huey.immediate = False  # a fresh in-memory queue, shared by the server's threads and the workers
    worker = jobs.InProcessWorker(workers=2)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        jobs.huey.immediate = True
