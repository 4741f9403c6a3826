"""HTTP side of the statistics: `GET /api/v1/stats` and the staff statistics page with charts and exports."""

from api.stats import pages, v1


def init_app(app, api) -> None:
    api.register_blueprint(v1.blp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(pages.assets)
    pages.register_navigation()
