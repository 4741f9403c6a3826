"""Registration and transmission over HTTP and the CLI (`hcc tax register`, `hcc tax send`), and the sandbox."""


def init_app(app, api, group) -> None:
    """Register this part's blueprints and commands on `group`."""
    # core/registry.py does not list the tax package yet: its models, jobs and event handlers load here.
    import tax.jobs  # noqa: F401
    import tax.models  # noqa: F401
