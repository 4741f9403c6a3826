"""State of the Zalo and eSMS sandboxes: one JSON file per provider in the instance folder, under a lock.

A file (not memory) so that the web process, the worker and tests see the same state; one per instance
folder so that parallel test processes never share it.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from core.settings import Settings


@dataclass
class Reply:
    """A sandbox's answer: the HTTP status and the JSON body (both providers' sandboxes answer with it)."""

    status: int
    body: dict = field(default_factory=dict)


@contextmanager
def state(settings: Settings, provider: str) -> Iterator[dict]:
    folder = Path(settings.instance_dir) / "sandbox-messaging"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{provider}.json"
    with open(folder / f"{provider}.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
            yield data
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            tmp.replace(path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read(settings: Settings, provider: str) -> dict:
    with state(settings, provider) as data:
        return json.loads(json.dumps(data))
