"""The README's production checklist, followed step by step on a test deployment, ends with `hcc doctor` at 0.

Each step is the command the README gives; the doctor is asked before and after, so a step that stopped
mattering (or a blocker that no step clears) shows up here.
"""

from __future__ import annotations

from datetime import date

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from api.cli import main
from core.clock import local_day
from core.settings import Settings
from province.models import CollectingUnit, ReceiptSeries
from tests.admin.conftest import EXAMPLE
from tests.production_env import production_env, provider_pkcs12


@pytest.fixture
def production(tmp_path, database_url):
    """Steps 1 to 4: production settings, encryption keys, SMTP and the deployment's own gateway secrets."""
    from api import create_app

    env = production_env(tmp_path / "instance", HCC_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
                         HCC_SMTP_HOST="smtp.bacninh.gov.vn", HCC_RATELIMIT_ENABLED="0")
    settings = Settings.from_env(env, database_url=database_url, queue_url="memory://")
    app = create_app({"settings": settings, "TESTING": True})
    yield app
    app.extensions["hcc"].db.dispose()


def doctor(runner):
    result = runner.invoke(main, ["doctor"])
    return result.exit_code, result.output


def test_following_the_checklist_takes_the_doctor_to_zero(production, tmp_path):
    runner = production.test_cli_runner()
    code, before = doctor(runner)
    assert code == 1 and "no-centre" in before and "no-unit" in before

    # Step 5: the province file.
    imported = runner.invoke(main, ["province", "import", str(EXAMPLE)])
    assert imported.exit_code == 0, imported.output
    code, listed = doctor(runner)
    assert code == 1
    for blocker in ("no-signing-key", "no-carrier-token", "incomplete-vnpay"):
        assert blocker in listed, listed

    # Step 6: every unit's signing key, this year's registered series, its own gateway secrets.
    year = local_day().year
    with production.extensions["hcc"].db.session() as session:
        units = {u.code: u for u in session.scalars(select(CollectingUnit))}
        has_series = {u.code for u in units.values() if session.scalars(select(ReceiptSeries).where(
            ReceiptSeries.unit_id == u.id, ReceiptSeries.year == year)).first()}
    for code in ("STP", "UBND-KB"):
        p12 = provider_pkcs12(tmp_path / code)
        result = runner.invoke(main, ["credentials", "set", "signing-pkcs12", "--unit", code, "--file", str(p12)],
                               input="pw\n")
        assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["credentials", "set", "signing-pkcs11-pin", "--unit", "SNNMT"], input="123456\n")
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["credentials", "set", "vnpay-hash-secret", "--unit", "STP"],
                           input="Q8W3E7R1T5Y9U2I6O4P0A8S3D7F1G5H9\n")
    assert result.exit_code == 0, result.output
    for code in set(units) - has_series:  # the example registers 2026 and 2027; a later run registers its year
        result = runner.invoke(main, ["series", "register", "--unit", code, "--template", "EBL01", "--symbol",
                                      f"{year % 100:02d}T", "--year", str(year), "--registered-on",
                                      date(year, 1, 2).isoformat()])
        assert result.exit_code == 0, result.output

    # Step 7: every centre's carrier account token.
    for centre in ("TTPVHCC", "PVHCC-KB"):
        result = runner.invoke(main, ["credentials", "set", "carrier-token", "--centre", centre, "--carrier", "vnpost"],
                               input="vnpost-token-of-" + centre + "\n")
        assert result.exit_code == 0, result.output

    code, after = doctor(runner)
    assert code == 0, after
    assert "CHẶN" not in after
