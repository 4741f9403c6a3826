"""`hcc receipts`: verify a receipt PDF offline, issue what is missing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from api.context import hcc


@click.group("receipts")
def receipts_group():
    """Electronic receipts: verify files, re-drive issuance."""


@receipts_group.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@with_appcontext
def verify_cmd(file: Path, as_json: bool):
    """Verify FILE.pdf: our signature, unchanged since signing, embedded XML, our record, not cancelled.

    Exit status 0 when valid, 1 when not."""
    from flask import current_app

    from api.cli import prepare_embedded
    from receipts.verify import verify_pdf

    prepare_embedded(current_app._get_current_object())
    ctx = hcc()
    with ctx.db.session() as session:
        result = verify_pdf(session, ctx.settings, file.read_bytes())
        out = result.as_dict()
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        r = out["receipt"]
        if r:
            click.echo(f"receipt: {r['template']} {r['symbol']} {r['number']} ({r['status']})")
        if out["signer"]:
            click.echo(f"signer: {out['signer']}")
        for reason in out["reasons"]:
            click.echo(f"  - {reason}")
        click.echo("valid: yes" if out["valid"] else "valid: NO")
    sys.exit(0 if out["valid"] else 1)


@receipts_group.command("sweep")
@with_appcontext
def sweep_cmd():
    """Issue receipts for paid payments that have none and finish unsigned ones (what the periodic sweep does)."""
    from core import jobs
    from receipts.jobs import sweep_receipts

    with jobs.session_scope() as session:
        n = sweep_receipts(session)
    click.echo(f"re-driven: {n}")
