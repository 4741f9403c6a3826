"""HTTP side of `fees`: API, callbacks, citizen and cashier pages, gateway sandboxes, `hcc fees` commands."""

from api.fees import callbacks, cli, messages, pages, sandbox, v1


def init_app(app, api) -> None:
    """Register this feature's blueprints, navigation entries, messages, commands and seeders."""
    from api.cli import main
    from api.i18n import register_messages
    from api.pages import NAV

    api.register_blueprint(v1.blp)
    app.register_blueprint(callbacks.bp)
    app.register_blueprint(pages.citizen)
    app.register_blueprint(pages.desk)
    app.register_blueprint(sandbox.bp)
    register_messages(messages.MESSAGES)
    for entry in (("fees_desk.cashier", "nav.cashier", ("cashier",)),
                  ("fees_desk.refunds", "nav.refunds", ("finance",))):
        if entry not in NAV:
            NAV.append(entry)
    app.cli.add_command(cli.fees_group)
    if "fees" not in main.commands:
        main.add_command(cli.fees_group)
    app.extensions.setdefault("hcc_seeders", []).append(cli.seed_default_schedule)
