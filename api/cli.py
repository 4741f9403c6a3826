"""The `hcc` command: serve, worker, db, users, api-keys, addresses, settings, sweep (features add theirs)."""

from __future__ import annotations

import logging
import sys

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from api.context import hcc
from core import audit, jobs, migrate
from core.accounts import (
    AccountError,
    create_api_client,
    create_user,
    ensure_demo_centre,
    get_centre,
    get_user,
    set_password,
    unlock_user,
)
from core.models import ROLES

log = logging.getLogger(__name__)


def prepare_embedded(app: Flask) -> None:
    """On the embedded default, bring the database up to date and seed the demo centre."""
    ctx = hcc()
    if ctx.settings.production:
        if not migrate.is_up_to_date(ctx.db):
            raise click.ClickException("the database is not up to date: run `hcc db upgrade` first")
        return
    migrate.upgrade(ctx.db)
    with ctx.db.session() as session:
        ensure_demo_centre(session)
    for hook in app.extensions.get("hcc_seeders", []):
        with ctx.db.session() as session:
            hook(session)


def _create_app(info=None):
    from api import create_app

    return create_app()


class HccGroup(FlaskGroup):
    """`hcc`: its own commands, the app's (`app.cli`), and the ones features add to `main` while the app is
    built (their `init_app`). The factory does not attach commands itself: this module builds the app, so
    the app does not import this module back."""

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        # FlaskGroup looks at `main` before building the app, then only at app.cli.
        return super().get_command(ctx, name) or click.Group.get_command(self, ctx, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.commands))


@click.group(cls=HccGroup, create_app=_create_app, add_default_commands=False, add_version_option=False)
def main():
    """HCC: postal dispatch, fee collection and signed e-receipts for public service centres."""


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int, help="Request threads.")
@click.option("--no-worker", is_flag=True, help="Do not run background jobs in this process.")
@with_appcontext
def serve(host: str, port: int, threads: int, no_worker: bool):
    """Start the service (embedded default: migrations, demo centre, in-process worker)."""
    from gunicorn.app.base import BaseApplication

    app = current_app._get_current_object()
    prepare_embedded(app)
    settings = hcc().settings
    if "HCC_PUBLIC_URL" not in settings.extra:
        # Pay links, sandbox redirects and QR codes must point where this server actually listens.
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        settings.public_url = f"http://{shown}:{port}"
    hcc().db.dispose()
    worker = None if no_worker else jobs.InProcessWorker(workers=settings.queue_workers)

    class Embedded(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", 1)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", threads)
            self.cfg.set("timeout", 120)
            self.cfg.set("accesslog", "-")
            if worker is not None:
                self.cfg.set("post_worker_init", lambda _w: worker.start())
                self.cfg.set("worker_exit", lambda _s, _w: worker.stop())

        def load(self):
            return app

    click.echo(f"HCC serving on http://{host}:{port}/ (sign in at /staff/login)", err=True)
    Embedded().run()


@main.command("worker")
@click.option("--workers", type=int, default=None, help="Worker threads (default HCC_QUEUE_WORKERS).")
@with_appcontext
def worker(workers: int | None):
    """Run background jobs and the periodic sweep (Huey consumer)."""
    from huey.consumer_options import ConsumerConfig

    settings = hcc().settings
    config = ConsumerConfig(workers=workers or settings.queue_workers, worker_type="thread", periodic=True)
    config.validate()
    consumer = jobs.huey.create_consumer(**config.values)
    consumer.run()


@main.command("sweep")
@with_appcontext
def sweep_once():
    """Re-drive unfinished work once (what the periodic sweep does every minute)."""
    for name, count in jobs.sweep().items():
        click.echo(f"{name}: {count}")


@main.group("db")
def db_group():
    """Database migrations."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision: str):
    """Apply migrations up to REVISION (default: head) and sync reference data."""
    migrate.upgrade(hcc().db, revision)
    click.echo(f"database at {migrate.current_revision(hcc().db)}")


@db_group.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision: str):
    """Revert migrations down to REVISION (`base` empties the database)."""
    migrate.downgrade(hcc().db, revision)
    click.echo(f"database at {migrate.current_revision(hcc().db) or 'base'}")


@db_group.command("current")
@with_appcontext
def db_current():
    """Print the database's migration revision."""
    click.echo(migrate.current_revision(hcc().db) or "base")


@main.group("users")
def users_group():
    """Staff users."""


@users_group.command("create")
@click.argument("username")
@click.option("--role", "roles", multiple=True, type=click.Choice(ROLES), required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", "full_name", default=None, help="Full name (Vietnamese, with diacritics).")
@click.option("--email", default=None)
@click.option("--centre", "centres", multiple=True,
              help="Centre code; repeat for more centres, the first is the home centre "
                   "(default outside production: the demo centre / the only centre).")
@click.option("--province", "province_wide", is_flag=True, help="Sees every centre of the province.")
@with_appcontext
def users_create(username, roles, password, full_name, email, centres, province_wide):
    """Create a staff user of one or more centres, or of the whole province."""
    prepare_embedded(current_app._get_current_object())
    try:
        with hcc().db.session() as session:
            home, extra = _centres_of(session, centres)
            user = create_user(session, home, username, password, list(roles), full_name=full_name, email=email)
            _grant(session, "user", user.id, extra, province_wide)
            click.echo(f"created user {user.username} ({', '.join(user.roles)}) of {_scope_label(home, extra, province_wide)}",
                       err=True)
    except AccountError as e:
        raise click.ClickException(str(e)) from e


def _centres_of(session, codes: tuple[str, ...]):
    """The home centre (first --centre) and the extra ones; production never guesses the centre."""
    if not codes and hcc().settings.production:
        raise AccountError("say which centre with --centre CODE (production does not guess)")
    home = get_centre(session, codes[0] if codes else None)
    extra = [get_centre(session, code) for code in dict.fromkeys(codes[1:]) if code != home.code]
    return home, extra


def _grant(session, principal_type: str, principal_id: int, extra, province_wide: bool) -> None:
    from province.access import grant_centre

    for centre in extra:
        grant_centre(session, principal_type, principal_id, centre.id, actor=_cli_actor())
    if province_wide:
        grant_centre(session, principal_type, principal_id, None, actor=_cli_actor())


def _scope_label(home, extra, province_wide: bool) -> str:
    if province_wide:
        return f"the whole province (home centre {home.code})"
    return "centre " + ", ".join([home.code] + [c.code for c in extra])


@users_group.command("set-password")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Read from the prompt (or standard input) when not given; prefer not to put it on the command line.")
@with_appcontext
def users_set_password(username, password):
    """Give a staff user a new password; every session they have open ends."""
    prepare_embedded(current_app._get_current_object())
    try:
        with hcc().db.session() as session:
            set_password(session, get_user(session, username), password, _cli_actor())
    except AccountError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"password of {username} changed; their open sessions are signed out", err=True)


@users_group.command("unlock")
@click.argument("username")
@with_appcontext
def users_unlock(username):
    """Let a user locked by repeated failed sign-ins sign in again (audited)."""
    prepare_embedded(current_app._get_current_object())
    try:
        with hcc().db.session() as session:
            user = get_user(session, username)
            was_locked = user.locked_at is not None
            unlock_user(session, user, _cli_actor())
    except AccountError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"{username} unlocked" if was_locked else f"{username} was not locked; failure count reset", err=True)


def _cli_actor() -> audit.Actor:
    """Who ran the command, as far as the machine knows (the audit log names it)."""
    import getpass

    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = None
    return audit.Actor(type="system", name=f"hcc cli ({name})" if name else "hcc cli")


@main.group("api-keys")
def api_keys_group():
    """API keys of integrating systems."""


@api_keys_group.command("create")
@click.option("--name", required=True, help="The integrating system, e.g. 'Hệ thống một cửa tỉnh'.")
@click.option("--centre", "centres", multiple=True,
              help="Centre code; repeat for more centres, the first is the home centre "
                   "(default outside production: the demo centre / the only centre).")
@click.option("--province", "province_wide", is_flag=True, help="Sees every centre of the province.")
@click.option("--role", "roles", multiple=True, type=click.Choice(ROLES),
              help="Roles of the key (default: cashier and dispatcher).")
@with_appcontext
def api_keys_create(name, centres, province_wide, roles):
    """Create an API key and print it, alone, on standard output (it is not shown again)."""
    prepare_embedded(current_app._get_current_object())
    try:
        with hcc().db.session() as session:
            home, extra = _centres_of(session, centres)
            client, key = create_api_client(session, home, name, list(roles) or None)
            _grant(session, "api_client", client.id, extra, province_wide)
    except AccountError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"created API key {name!r} of {_scope_label(home, extra, province_wide)}", err=True)
    click.echo(key)


@main.group("addresses")
def addresses_group():
    """Administrative units (two-level, since July 2025)."""


@addresses_group.command("sync")
@with_appcontext
def addresses_sync():
    """Load or refresh provinces and wards from the vietnam-provinces package."""
    from core.addresses import sync_reference_data

    with hcc().db.session() as session:
        provinces, wards = sync_reference_data(session)
    click.echo(f"provinces: {provinces}, wards: {wards}")


@addresses_group.command("search")
@click.argument("query")
@click.option("--province", default=None)
@with_appcontext
def addresses_search(query, province):
    """Find wards by name, diacritics optional."""
    from core.addresses import search_wards

    with hcc().db.session() as session:
        for ward in search_wards(session, query, province):
            click.echo(f"{ward.code}\t{ward.name}\t{ward.province.name}")


@main.command("settings")
@click.option("--markdown", is_flag=True, help="Print the README table.")
def settings_cmd(markdown: bool):
    """List every HCC_* setting with its default."""
    import importlib

    from api import FEATURES
    from core.settings import SETTINGS

    for name in FEATURES:  # features register their settings when imported
        importlib.import_module(name)
    if markdown:
        click.echo("| setting | default | what it does |\n| --- | --- | --- |")
    for s in sorted(SETTINGS.values(), key=lambda s: s.name):
        if markdown:
            click.echo(f"| `{s.name}` | {s.default} | {s.help} |")
        else:
            click.echo(f"{s.name}={s.default}\t{s.help}")


if __name__ == "__main__":
    sys.exit(main())
