"""HTTP side of `postal`: shipments API, dispatch desk and tracking pages, carrier webhooks, sandboxes, CLI."""

from api.postal import callbacks, carriers_cli, cli, pages, sandbox, v1


def init_app(app, api) -> None:
    """Register this feature's blueprints, navigation entries, messages and settings."""
    api.register_blueprint(v1.blp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(pages.public)
    app.register_blueprint(callbacks.bp)
    if app.extensions["hcc"].settings.sandbox:
        app.register_blueprint(sandbox.bp)
    pages.register_navigation()
    app.cli.add_command(cli.postal_group)
    from api.cli import main

    if "postal" not in main.commands:
        main.add_command(cli.postal_group)
    app.cli.add_command(carriers_cli.carriers_group)
    if "carriers" not in main.commands:
        main.add_command(carriers_cli.carriers_group)
