"""The messaging package builds on core only; production names every provider setting."""

from __future__ import annotations

import ast
from pathlib import Path

from core import notify
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_messaging_imports_only_core_and_itself():
    for path in (ROOT / "messaging").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            for name in names:
                top = name.split(".")[0]
                assert top not in {"api", "flask", "fees", "receipts", "postal", "finance", "province", "tax",
                                   "dossiers", "stats", "carriers"}, f"{path.name} imports {name}"


def test_production_refuses_a_provider_without_its_settings():
    s = Settings(extra={"HCC_SMS_PROVIDER": "zalo+esms", "HCC_ESMS_API_KEY": "k"})
    problems = notify._phone_provider_configured(s)
    assert any("HCC_ZALO_REFRESH_TOKEN" in p for p in problems)
    assert not any("HCC_ESMS_API_KEY" in p for p in problems)
    assert notify._phone_provider_configured(Settings(extra={})) == []
    assert notify._phone_provider_configured(Settings(extra={"HCC_SMS_PROVIDER": "twilio"}))
