"""`hcc province`, `hcc credentials`, `hcc doctor`, `hcc series`: bring a province up and check it can go live."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click
import yaml
from flask.cli import with_appcontext
from sqlalchemy import select

from api.context import hcc
from core.clock import format_local
from core.errors import DomainError
from core.models import Centre
from province import doctor, secrets, series, units
from province.importer import export_province, import_province
from province.models import CARRIERS, CarrierAccount, CollectingUnit, ReceiptSeries

# What `credentials set` accepts for a unit (secrets.unit_names(): signing and every gateway's own), and
# for a centre's carrier account (hyphens or underscores).
CARRIER_SECRETS = secrets.CARRIER_NAMES


def _prepare() -> None:
    """Bring the schema up to date (embedded default) or insist it is (production); seed nothing.

    Unlike `prepare_embedded`, the demo centre's shipped fee schedule is not seeded here: a province's file
    names its own fees, and the demo catalogue's codes (CT-BANSAO, ...) would clash with the province's.
    """
    from core import migrate

    db = hcc().db
    if hcc().settings.production:
        if not migrate.is_up_to_date(db):
            raise click.ClickException("the database is not up to date: run `hcc db upgrade` first")
        return
    migrate.upgrade(db)


def _actor():
    from api.cli import _cli_actor

    return _cli_actor()


def _fail_with_errors(e: DomainError) -> None:
    """Every error on standard error, with its path, then exit 1."""
    click.echo(e.message, err=True)
    for path, messages in (e.errors or {}).items():
        for message in messages:
            click.echo(f"  {path}: {message}" if path else f"  {message}", err=True)
    sys.exit(1)


@click.group("province")
def province_group():
    """The province file: centres, collecting units, fees, series (secrets excluded)."""


@province_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def province_import(path: Path):
    """Create or update everything the file says; all checked before anything is written."""
    _prepare()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        click.echo(f"{path}: không đọc được YAML: {e}", err=True)
        sys.exit(1)
    with hcc().db.session() as session:
        try:
            report = import_province(session, data, _actor())
        except DomainError as e:
            session.rollback()
            _fail_with_errors(e)
    for line in report.summary():
        click.echo(line)


@province_group.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path), default=None,
              help="Write to this file instead of standard output.")
@with_appcontext
def province_export(output: Path | None):
    """Write the current state in the import format (no secrets)."""
    _prepare()
    with hcc().db.session() as session:
        text = dump_yaml(export_province(session))
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"đã ghi {output}", err=True)


def dump_yaml(data: dict) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=False, width=120)


@click.group("credentials")
def credentials_group():
    """Secrets (signing files and PINs, gateway keys, carrier tokens), encrypted at rest and never shown."""


def _secret_name(name: str) -> str:
    return name.strip().replace("-", "_")


def _read_stdin(label: str) -> bytes:
    stream = sys.stdin.buffer
    if sys.stdin.isatty():
        return click.prompt(label, hide_input=True, default="", show_default=False).encode()
    data = stream.read()
    # A value piped with `echo` ends with a newline that is not part of it.
    return data[:-2] if data.endswith(b"\r\n") else data[:-1] if data.endswith(b"\n") else data


def _owner(session, unit_code, centre_code, carrier):
    if bool(unit_code) == bool(centre_code):
        raise click.UsageError("say whose secret it is: --unit CODE, or --centre CODE --carrier NAME")
    if unit_code:
        return "unit", units.unit_by_code(session, unit_code)
    if not carrier:
        raise click.UsageError("a centre's secret is its carrier token: add --carrier " + "|".join(CARRIERS))
    centre = session.scalar(select(Centre).where(Centre.code == centre_code))
    if centre is None:
        raise click.ClickException(f"no centre with code {centre_code!r}")
    account = session.scalar(select(CarrierAccount).where(CarrierAccount.centre_id == centre.id,
                                                          CarrierAccount.carrier == carrier))
    if account is None:
        raise click.ClickException(f"centre {centre_code} has no {carrier} account (add it in the province file)")
    return "carrier_account", account


@credentials_group.command("set")
@click.argument("name")
@click.option("--unit", "unit_code", default=None, help="Collecting unit code.")
@click.option("--centre", "centre_code", default=None, help="Centre code (with --carrier).")
@click.option("--carrier", type=click.Choice(CARRIERS), default=None)
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Read the value from this file (for signing-pkcs12: the .p12; its password from stdin).")
@with_appcontext
def credentials_set(name, unit_code, centre_code, carrier, file):
    """Store a secret read from standard input (or --file); it is never printed."""
    _prepare()
    name = _secret_name(name)
    allowed = secrets.unit_names() if unit_code else CARRIER_SECRETS
    if name not in allowed:
        raise click.UsageError(f"unknown secret {name!r}; choose from {', '.join(allowed)}")
    settings = hcc().settings
    with hcc().db.session() as session:
        try:
            kind, owner = _owner(session, unit_code, centre_code, carrier)
            if name == "signing_pkcs12":
                if file is None:
                    raise click.UsageError("signing-pkcs12 needs --file FILE.p12 (its password on standard input)")
                units.set_signing_pkcs12(session, settings, owner, file.read_bytes(),
                                         _read_stdin("PKCS#12 password"), actor=_actor())
                detail = f"subject {owner.cert_subject}, valid until {format_local(owner.cert_not_after)}"
            elif name == "signing_pkcs11_pin" and owner.pkcs11_module and not Path(owner.pkcs11_module).exists():
                # The token is not on this machine (the PIN is set from an admin host): stored unchecked, as the
                # doctor's "no-signing-key" only needs it present; the certificate is read where the token is.
                value = _read_stdin("PKCS#11 PIN")
                secrets.set_secret(session, settings, kind, owner.id, name, value, actor=_actor())
                detail = (f"not checked: PKCS#11 module {owner.pkcs11_module} is not on this machine; run this "
                          f"again where the token is to check the PIN and read the certificate")
            elif name == "signing_pkcs11_pin":
                units.set_signing_pkcs11(session, settings, owner, module=owner.pkcs11_module,
                                         pin=_read_stdin("PKCS#11 PIN"), slot=owner.pkcs11_slot,
                                         token_label=owner.pkcs11_token_label, key_label=owner.pkcs11_key_label,
                                         cert_label=owner.pkcs11_cert_label, actor=_actor())
                detail = (f"token opened, subject {owner.cert_subject}, valid until "
                          f"{format_local(owner.cert_not_after)}")
            else:
                value = file.read_bytes() if file is not None else _read_stdin(name)
                secrets.set_secret(session, settings, kind, owner.id, name, value, actor=_actor())
                detail = f"{len(value)} bytes"
        except DomainError as e:
            session.rollback()
            _fail_with_errors(e)
    who = f"unit {unit_code}" if unit_code else f"centre {centre_code} {carrier}"
    click.echo(f"{name} of {who} stored, encrypted ({detail})", err=True)


def _owner_label(session, owner_type: str, owner_id: int) -> str:
    if owner_type == "unit":
        unit = session.get(CollectingUnit, owner_id)
        return f"unit {unit.code}" if unit else f"unit #{owner_id}"
    if owner_type == "carrier_account":
        account = session.get(CarrierAccount, owner_id)
        return f"centre {account.centre.code} {account.carrier}" if account else f"carrier account #{owner_id}"
    if owner_type == "centre":
        centre = session.get(Centre, owner_id)
        return f"centre {centre.code}" if centre else f"centre #{owner_id}"
    return "deployment"


@credentials_group.command("list")
@with_appcontext
def credentials_list():
    """Names, owners, dates and masked hints; never a value."""
    _prepare()
    with hcc().db.session() as session:
        infos = secrets.describe(session)
        if not infos:
            click.echo("Chưa có bí mật nào được lưu.")
        for info in infos:
            click.echo(f"{_owner_label(session, info.owner_type, info.owner_id)}\t{info.name}\t"
                       f"{format_local(info.updated_at)}\t{info.hint}")


@credentials_group.command("rotate")
@with_appcontext
def credentials_rotate():
    """Re-encrypt every secret with the first key of HCC_ENCRYPTION_KEYS (then drop the old keys)."""
    _prepare()
    with hcc().db.session() as session:
        try:
            count = secrets.rotate(session, hcc().settings, actor=_actor())
        except DomainError as e:
            session.rollback()
            _fail_with_errors(e)
    click.echo(f"{count} bí mật đã được mã hóa lại bằng khóa đầu tiên")


@click.command("doctor")
@with_appcontext
def doctor_cmd():
    """List what blocks production, per deployment, centre and unit; exit 1 while anything blocks."""
    _prepare()
    with hcc().db.session() as session:
        blockers = doctor.go_live_blockers(session, hcc().settings)
    for blocker in blockers:
        click.echo(blocker.line())
    code = doctor.exit_code(blockers)
    click.echo("Sẵn sàng vận hành." if code == 0 else
               f"Còn {sum(b.blocking for b in blockers)} điểm chặn vận hành.", err=True)
    sys.exit(code)


@click.group("series")
def series_group():
    """Receipt series of collecting units (ký hiệu mẫu, ký hiệu, năm)."""


@series_group.command("register")
@click.option("--unit", "unit_code", required=True)
@click.option("--template", required=True, help="Ký hiệu mẫu, e.g. EBL01.")
@click.option("--symbol", required=True, help="Ký hiệu, e.g. 27T.")
@click.option("--year", type=int, required=True)
@click.option("--width", type=int, default=7, show_default=True, help="Digits of the receipt number.")
@click.option("--registered-on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Day the tax authority accepted it (omit to keep a draft).")
@with_appcontext
def series_register(unit_code, template, symbol, year, width, registered_on):
    """Add a series to a unit, or record that a draft series was registered."""
    _prepare()
    day: date | None = registered_on.date() if registered_on else None
    with hcc().db.session() as session:
        try:
            unit = units.unit_by_code(session, unit_code)
            existing = session.scalar(select(ReceiptSeries).where(ReceiptSeries.unit_id == unit.id,
                                                                  ReceiptSeries.template == template,
                                                                  ReceiptSeries.symbol == symbol))
            if existing is not None and existing.state == "draft" and day is not None:
                row = series.mark_registered(session, existing, day, actor=_actor())
            else:
                row = series.register_series(session, unit, template, symbol, year, number_width=width,
                                             registered_on=day, actor=_actor())
            line = _series_line(unit.code, row)
        except DomainError as e:
            session.rollback()
            _fail_with_errors(e)
    click.echo(line)


def _series_line(unit_code: str, s: ReceiptSeries) -> str:
    registered = s.registered_on.isoformat() if s.registered_on else "-"
    return f"{unit_code}\t{s.template}\t{s.symbol}\t{s.year}\t{s.state}\t{registered}"


@series_group.command("list")
@click.option("--unit", "unit_code", default=None)
@with_appcontext
def series_list(unit_code):
    """Every series, by unit and year, with its state."""
    _prepare()
    with hcc().db.session() as session:
        stmt = (select(ReceiptSeries, CollectingUnit.code).join(CollectingUnit)
                .order_by(CollectingUnit.code, ReceiptSeries.year, ReceiptSeries.template, ReceiptSeries.symbol))
        if unit_code:
            try:
                stmt = stmt.where(ReceiptSeries.unit_id == units.unit_by_code(session, unit_code).id)
            except DomainError as e:
                _fail_with_errors(e)
        for row, code in session.execute(stmt):
            click.echo(_series_line(code, row))


def register(main: click.Group) -> None:
    for command in (province_group, credentials_group, doctor_cmd, series_group):
        main.add_command(command)
