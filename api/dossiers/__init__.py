"""HTTP side of `dossiers`: the dossiers API, the one-stop system's signed webhook, `hcc dossiers`."""

from api.dossiers import cli, inbound, v1


def init_app(app, api) -> None:
    """Register this feature's blueprints and CLI group."""
    # The jobs, sweeper and event handlers of dossiers.service (and the online-fee lookup) are imported with v1.
    api.register_blueprint(v1.blp)
    app.register_blueprint(inbound.bp)
    app.cli.add_command(cli.dossiers_group)
    from api.cli import main

    if "dossiers" not in main.commands:
        main.add_command(cli.dossiers_group)
