"""HTTP side of `receipts`: the receipts API, the public lookup page, finance pages and `hcc receipts`."""

# The domain modules that register HCC_* settings, so `hcc settings` and the README list them.
import receipts.signing  # noqa: F401
import receipts.storage  # noqa: F401


def init_app(app, api) -> None:
    """Register this feature's blueprints, navigation entries, messages and CLI."""
    import logging

    # Anyone may upload a forged or foreign receipt to verify; pyHanko logs each untrusted path as a
    # warning with a traceback. The answer already says why, so only its errors reach the log.
    logging.getLogger("pyhanko.sign.validation").setLevel(logging.ERROR)
    from api import auth
    from api.cli import main
    from api.receipts import cli, pages, v1

    api.register_blueprint(v1.blp)
    app.register_blueprint(pages.public)
    app.register_blueprint(pages.staff)
    pages.register_navigation()
    if app.extensions["hcc"].settings.sandbox:
        from api.receipts import sandbox

        app.register_blueprint(sandbox.bp)
    # Verifying a receipt is open to anyone, like the public lookup page that offers the same check.
    auth.PUBLIC_API_PATHS.add("/api/v1/receipts/verify")
    app.cli.add_command(cli.receipts_group)
    if "receipts" not in main.commands:
        main.add_command(cli.receipts_group)
