"""HTTP side of finance: reconciliation API, finance dashboard pages, discrepancy list, `hcc reconcile` commands."""

from api.finance import cli, discrepancies, pages, sandbox, v1


def init_app(app, api) -> None:
    api.register_blueprint(v1.blp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(discrepancies.bp)
    app.register_blueprint(sandbox.bp)
    pages.register_navigation()
    from api.cli import main

    main.add_command(cli.reconcile_group)
