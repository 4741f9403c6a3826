"""Where the app finds every package's models, so metadata and migrations see them all."""

from __future__ import annotations

import importlib

# Feature packages add their models module here (one line each).
MODEL_MODULES = [
    "core.models",
]


def import_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)
