"""Server-side charts of the statistics: pygal (LGPL-3.0+, maintained by Kozea) rendered to SVG, shown as
`data:` images so the page needs no script and no inline style (the CSP allows `img-src 'self' data:`)."""

from __future__ import annotations

import base64
import sys

from stats.queries import Stats


def _pygal():
    """pygal, imported on first use. Its package appends a legacy `sys.meta_path` finder (PluginImportFixer, for
    the separately installed pygal_maps_* plugins, which we do not use) that has no `find_spec`: Python 3.11
    warns (ImportWarning) on every import that reaches it, an error under the test suite's warning filter.
    It is taken out again right after the import."""
    import pygal

    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "PluginImportFixer"]
    return pygal


def _style():
    _pygal()
    from pygal.style import Style

    return Style(background="white", plot_background="white", foreground="#222", foreground_strong="#111",
                 foreground_subtle="#555", colors=("#1f5fa8", "#2e9d57", "#8fbf3f", "#f0ad1e", "#c0392b"),
                 font_family="DejaVu Sans, Arial, sans-serif", label_font_size=15, major_label_font_size=15,
                 legend_font_size=16, title_font_size=17, value_font_size=14)


MAX_BARS = 15  # a phone shows so many labels legibly; the table and the exports carry every row


def _config(title: str, columns: int = 2) -> dict:
    # No pygal script (js=[]): an <img> would not run it, and the CSP forbids it.
    return {"title": title, "style": _style(), "js": [], "width": 480, "height": 400, "legend_at_bottom": True,
            "truncate_label": 18, "truncate_legend": -1, "legend_at_bottom_columns": columns, "x_label_rotation": 30, "print_values": False, "disable_xml_declaration": False}


def _count_axis(peak: int) -> list[int]:
    """Whole-number ticks for a chart of counts (pygal would put 0.2, 0.4... under a small maximum)."""
    step = max(1, -(-peak // 8))
    return list(range(0, peak + step + 1, step))


def _uri(chart) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(chart.render()).decode("ascii")


def charts(s: Stats) -> list[tuple[str, str]]:
    """(title, data URI) of each chart: dossiers by timeliness, by post, fees by kind."""
    pygal = _pygal()
    rows = s.rows[:MAX_BARS]
    labels = [r.label for r in rows]
    out = []
    timeliness = pygal.StackedBar(**_config("Hồ sơ đã trả kết quả: trước hạn, đúng hạn, quá hạn", 3),
                                  y_labels=_count_axis(max([r.resolved for r in rows] or [0])))
    timeliness.x_labels = labels
    timeliness.add("Trước hạn", [r.early for r in rows])
    timeliness.add("Đúng hạn", [r.on_time for r in rows])
    timeliness.add("Quá hạn", [r.late_resolved for r in rows])
    out.append(("timeliness", _uri(timeliness)))
    peak = max([max(r.received, r.resolved, r.by_post_received, r.by_post_returned) for r in rows] or [0])
    dossiers = pygal.Bar(**_config("Hồ sơ tiếp nhận, đã trả và qua bưu chính"), y_labels=_count_axis(peak))
    dossiers.x_labels = labels
    dossiers.add("Tiếp nhận", [r.received for r in rows])
    dossiers.add("Đã trả kết quả", [r.resolved for r in rows])
    dossiers.add("Nhận qua bưu chính", [r.by_post_received for r in rows])
    dossiers.add("Trả qua bưu chính", [r.by_post_returned for r in rows])
    out.append(("dossiers", _uri(dossiers)))
    fees = pygal.StackedBar(**_config("Phí, lệ phí đã thu (đồng)"), value_formatter=lambda v: f"{v:,.0f}".replace(",", "."))
    fees.x_labels = labels
    fees.add("Phí", [r.fees_phi for r in rows])
    fees.add("Lệ phí", [r.fees_le_phi for r in rows])
    out.append(("fees", _uri(fees)))
    total = s.total
    if total.fees_collected:
        share = pygal.Pie(**{**_config("Tỷ lệ thu trực tuyến"), "inner_radius": 0.45})
        share.add("Trực tuyến (VNPAY, MoMo, VietQR)", total.fees_online)
        share.add("Tại quầy, COD", total.fees_collected - total.fees_online)
        out.append(("online", _uri(share)))
    return out
