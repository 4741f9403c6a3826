"""HTTP side of the province model: admin REST API, admin pages, and the `hcc province|credentials|doctor|series`
commands."""

from api.admin import cli, pages, v1


def init_app(app, api) -> None:
    api.register_blueprint(v1.blp)
    app.register_blueprint(pages.bp)
    pages.register_navigation()
    from api.cli import main

    cli.register(main)
