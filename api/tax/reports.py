"""Usage reports and error notices from the CLI (`hcc tax report bc26`)."""


def init_app(app, api, group) -> None:
    """Register this part's blueprints and commands on `group`."""
