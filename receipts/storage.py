"""Where the signed receipt bytes live: a small interface, the filesystem by default."""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path

from core.settings import Setting, Settings, register_settings

register_settings(
    Setting("HCC_RECEIPTS_STORAGE_DIR", "`<instance>/receipts`", "Folder where signed receipt PDFs are kept."),
)


class StorageError(Exception):
    """Raised when stored receipt bytes cannot be written or read."""


class ReceiptStorage(ABC):
    """Keeps the exact signed bytes under a key; never rewrites a key that holds other bytes."""

    @abstractmethod
    def put(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def get(self, key: str) -> bytes: ...

    @abstractmethod
    def local_path(self, key: str) -> Path | None:
        """A filesystem path for the key when there is one (e-mail attachments), else None."""


class FileStorage(ReceiptStorage):
    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise StorageError(f"bad storage key {key!r}")
        return path

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError as e:
            Path(tmp).unlink(missing_ok=True)
            raise StorageError(str(e)) from e

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except OSError as e:
            raise StorageError(f"receipt file {key!r} cannot be read") from e

    def local_path(self, key: str) -> Path | None:
        return self._path(key)


def storage_for(settings: Settings) -> ReceiptStorage:
    root = settings.get("HCC_RECEIPTS_STORAGE_DIR") or str(settings.instance_dir / "receipts")
    return FileStorage(Path(root))
