"""HTTP side of `postal`: API blueprints, pages, callbacks and sandboxes (filled in by the postal work)."""


def init_app(app, api) -> None:
    """Register this feature's blueprints, navigation entries, messages and settings."""
