"""The table of domain events (core.domain_events) is the truth: who reacts, who emits, with what data."""

from __future__ import annotations

import ast
import importlib
import re
import sys
from pathlib import Path

import pytest

from core import events, registry
from core.domain_events import BY_NAME, EVENTS

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted({p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"})


def load_the_app_modules() -> None:
    """What create_app and `hcc worker` import: models, job and handler modules, adapters, features."""
    registry.import_models()
    registry.import_jobs()
    if hasattr(registry, "import_adapters"):
        registry.import_adapters()
    from api import FEATURES

    for name in FEATURES:
        importlib.import_module(name)


def our_modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def test_the_handlers_subscribed_are_the_tables_in_its_order():
    load_the_app_modules()
    subscribed = {name: [events.handler_name(h) for h in handlers]
                  for name, handlers in events._handlers.items() if handlers}
    for event in EVENTS:
        assert subscribed.pop(event.name, []) == list(event.handlers), event.name
    assert subscribed == {}


def test_every_module_that_subscribes_is_loaded_by_the_app():
    """A handler in a module the app never imports would never run."""
    load_the_app_modules()
    subscribing = [module for module, path in our_modules()
                   if "events.on(" in path.read_text(encoding="utf-8") and module != "core.events"]
    assert subscribing
    assert [m for m in subscribing if m not in sys.modules] == []


def test_an_undeclared_event_is_refused():
    with pytest.raises(events.UndeclaredEventError, match="payment.teleported"):
        events.on("payment.teleported")
    with pytest.raises(events.UndeclaredEventError, match="payment.teleported"):
        events.emit(None, "payment.teleported", payment_id=1)
    assert "payment.teleported" not in events._handlers


def test_handlers_run_in_the_tables_order_whatever_the_import_order(monkeypatch):
    monkeypatch.setitem(events._handlers, "receipt.cancelled", [])
    ran = []

    def _on_correction(session, **data):
        ran.append("tax")

    def _announce(session, **data):
        ran.append("webhook")

    # Stand-ins named as the table names the real ones.
    _on_correction.__module__, _on_correction.__qualname__ = "tax.corrections", "_on_correction"
    _announce.__module__, _announce.__qualname__ = "receipts.webhooks", "_announce"
    events.on("receipt.cancelled")(_on_correction)  # imported first, listed second
    events.on("receipt.cancelled")(_announce)
    events.emit(None, "receipt.cancelled", receipt_id=1, payment_id=1, correction_id=1)
    assert ran == ["webhook", "tax"]


# ---- the emitters: every `events.emit(...)` in the code, read from the source --------------------------------


def _names(node: ast.expr, constants: dict[str, str]) -> tuple[set[str], re.Pattern | None]:
    """The event names an emit's first argument can be: literal names, or a pattern for an f-string."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}, None
    if isinstance(node, ast.Name) and node.id in constants:
        return {constants[node.id]}, None
    if isinstance(node, ast.IfExp):
        (a, _), (b, _) = _names(node.body, constants), _names(node.orelse, constants)
        return a | b, None
    if isinstance(node, ast.JoinedStr):
        pattern = "".join(re.escape(part.value) if isinstance(part, ast.Constant) else "[a-z_]+"
                          for part in node.values)
        return set(), re.compile(pattern)
    raise AssertionError(f"an event name the test cannot read: {ast.unparse(node)}")


def emit_calls():
    """(module, line, literal names, f-string pattern, keyword names) of every events.emit call."""
    for module, path in our_modules():
        if module in ("core.events", "core.domain_events"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                     and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
                     for t in n.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "emit"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "events"):
                names, pattern = _names(node.args[1], constants)
                yield module, node.lineno, names, pattern, {kw.arg for kw in node.keywords}


def test_each_event_is_emitted_where_the_table_says_with_its_data():
    calls = list(emit_calls())
    literal = {name for _, _, names, _, _ in calls for name in names}
    emitted: dict[str, set[str]] = {}
    for module, line, names, pattern, keys in calls:
        if pattern is not None:
            # An f-string (`payment.{to}`): the events of that family this module emits and nobody names.
            names = {e.name for e in EVENTS if pattern.fullmatch(e.name) and e.emitted_by == module
                     and e.name not in literal}
        assert names, f"{module}:{line} emits no declared event"
        for name in names:
            assert name in BY_NAME, f"{module}:{line} emits {name}, which core/domain_events.py does not declare"
            assert keys == set(BY_NAME[name].data), f"{module}:{line} emits {name} with {sorted(keys)}"
            emitted.setdefault(name, set()).add(module)
    assert {e.name: {e.emitted_by} for e in EVENTS} == emitted
