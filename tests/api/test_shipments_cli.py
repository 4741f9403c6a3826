"""`hcc postal`: overdue results, sandbox time, one polling round."""

from __future__ import annotations

from datetime import date

from tests.postal.factories import make_shipment


def test_overdue_results_are_listed(app, runner, session):
    late = make_shipment(session, app.extensions["hcc"].settings, promised_date=date(2026, 1, 5))
    result = runner.invoke(args=["postal", "overdue"])
    assert result.exit_code == 0, result.output
    assert late.code in result.output and "05/01/2026" in result.output


def test_sandbox_time_moves_and_a_poll_round_reports_each_step(runner):
    assert runner.invoke(args=["postal", "sandbox-advance", "24"]).exit_code == 0
    result = runner.invoke(args=["postal", "poll"])
    assert result.exit_code == 0, result.output
    assert "redrive_creation: 0" in result.output and "poll_tracking:" in result.output
