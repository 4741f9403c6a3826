"""HTTP side of `tax`: the tax authority sandbox (as a T-VAN relays it) and `hcc tax`."""

import click


def init_app(app, api) -> None:
    """Register the `hcc tax` group; its commands and pages come from `channel` and `reports`."""
    from api.cli import main
    from api.tax import channel, reports

    group = click.Group("tax", help="Cơ quan thuế: đăng ký sử dụng biên lai, truyền dữ liệu, thông báo sai sót, báo cáo.")
    channel.init_app(app, api, group)
    reports.init_app(app, api, group)
    app.cli.add_command(group)
    if "tax" not in main.commands:
        main.add_command(group)
