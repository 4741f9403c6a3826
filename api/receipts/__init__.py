"""HTTP side of `receipts`: API blueprints, pages, callbacks and sandboxes (filled in by the receipts work)."""


def init_app(app, api) -> None:
    """Register this feature's blueprints, navigation entries, messages and settings."""
