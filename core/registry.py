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
    "finance.discrepancy_jobs",
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
    "finance.imports",
    "finance.discrepancy_jobs",
    "finance.sections",
    "tax.jobs",
    "tax.registration",
    "tax.corrections",
    "dossiers.service",
]


def import_jobs() -> None:
    for name in JOB_MODULES:
        importlib.import_module(name)


# Adapter packages (carriers, payment gateways): each registers itself in its kind's registry
# (core.adapters.Registry) when imported. Adding a carrier or a gateway is one line here; the order is the
# order they are offered in (the citizen's pay page lists gateways in it).
ADAPTER_MODULES = [
    "carriers.vnpost",
    "carriers.viettelpost",
    "carriers.ghn",
    "fees.gateways.vnpay",
    "fees.gateways.momo",
    "fees.gateways.vietqr",
    "fees.gateways.zalopay",
    "fees.gateways.counter",
    "fees.gateways.cod",
]


_adapters_imported: list[str] = []


def import_adapters() -> None:
    # Called on every registry look-up (a callback's hot path): the list is walked once per process.
    if _adapters_imported == ADAPTER_MODULES:
        return
    for name in ADAPTER_MODULES:
        importlib.import_module(name)
    _adapters_imported[:] = ADAPTER_MODULES
