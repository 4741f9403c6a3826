"""What every signing module shares, with no import of its own from `receipts`: the error a key raises and
`run_async` for pyHanko's coroutines. Kept apart so that `receipts.signing` and `receipts.remote` both
import it, and neither imports the other at module level (no import cycle).
"""

from __future__ import annotations

import asyncio
import threading


def run_async(coro):
    """Run one of pyHanko's coroutines to completion on a fresh event loop.

    Not `asyncio.run`: on the main thread it installs a SIGINT handler whose set-up formats the
    task's repr, which for pyHanko's coroutines serialises their ASN.1 arguments, costing more than
    the signature itself.
    """
    # _get_running_loop returns None rather than raising, so no exception context leaks into
    # whatever pyHanko logs while the coroutine runs.
    if asyncio._get_running_loop() is None:
        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(coro)
        finally:
            loop.close()
    # Called from inside a running loop (an async server, a browser driver in tests): a loop cannot be
    # nested, so the coroutine runs on its own loop in a short-lived thread.
    box: dict = {}

    def run() -> None:
        try:
            box["result"] = run_async(coro)
        except BaseException as e:
            box["error"] = e

    thread = threading.Thread(target=run, name="hcc-signing")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


class SigningError(Exception):
    """Raised when the signing key cannot be loaded or used."""
