"""Where the app finds every package's models, so metadata and migrations see them all."""

from __future__ import annotations

import importlib

# Feature packages add their models module here (one line each).
MODEL_MODULES = [
    "core.models",
    "fees.models",
    "receipts.models",
    "postal.models",
    "postal.addressing",
    "finance.models",
    "province.models",
    "tax.models",
    "dossiers.models",
    "dossiers.calendar",
    "dossiers.apologies",
    "messaging.models",
]


def import_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)


# Modules that define jobs, sweepers and event handlers; imported by the app and by `hcc worker`.
JOB_MODULES = [
    "core.notify",
    "fees.jobs",
    "receipts.jobs",
    "postal.jobs",
    "receipts.webhooks",
    "postal.webhooks",
    "finance.closing",
    "finance.sections",
    "tax.jobs",
    "tax.registration",
    "tax.corrections",
    "dossiers.service",
]


def import_jobs() -> None:
    for name in JOB_MODULES:
        importlib.import_module(name)
