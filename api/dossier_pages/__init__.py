"""Late results and apologies over HTTP: the apologies API, the public late list per centre, the admin's
business calendar page and `hcc calendar`."""


def init_app(app, api) -> None:
    """Register the apologies API, the public and admin pages and the `hcc calendar` group."""
    from api.cli import main
    from api.dossier_pages import cli, pages
    from api.dossiers import apologies

    api.register_blueprint(apologies.blp)
    app.register_blueprint(pages.public)
    app.register_blueprint(pages.admin)
    app.register_blueprint(pages.staff)
    pages.register_navigation()
    app.cli.add_command(cli.calendar_group)
    if "calendar" not in main.commands:
        main.add_command(cli.calendar_group)
