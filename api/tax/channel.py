"""Registration and transmission over HTTP and the CLI (`hcc tax register`, `hcc tax send`), and the sandbox."""


def init_app(app, api, group) -> None:
    """Register this part's blueprints and commands on `group`."""
