"""Staff search across payments, receipts and shipments (`/staff/search?q=`), accent-insensitive."""

from api.search import pages


def init_app(app, api) -> None:
    app.register_blueprint(pages.bp)
    pages.register_navigation()
