"""HTTP side of `fees`: API blueprints, pages, callbacks and sandboxes (filled in by the fees work)."""


def init_app(app, api) -> None:
    """Register this feature's blueprints, navigation entries, messages and settings."""
