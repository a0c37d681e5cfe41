"""The report's charts, as inline SVG text, drawn by matplotlib.

Why matplotlib: it is the best kept Python charting library (releases several
times a year, wide use), its SVG backend writes plain ``<svg>`` with no script
and nothing fetched, and with ``svg.fonttype = none`` the labels stay text the
browser renders and searches. pygal, the lighter alternative, links a
tooltip script from the network by default and is rarely released. The
figures are built with ``matplotlib.figure.Figure`` (no pyplot), which needs
no display and keeps no global state between reports.

Each data series gets a ``gid`` (``data-...``), which matplotlib writes as the
id of its SVG group, so a reader (or a test) can find the drawn data points.
"""

from __future__ import annotations

import io
from typing import Any

COLOURS = ["#1f6feb", "#d97706", "#059669", "#9333ea", "#dc2626", "#0891b2", "#65a30d", "#db2777"]
SIZE = (7.5, 2.8)


def _figure(height: float = SIZE[1]) -> Any:
    # imported here on purpose: matplotlib is slow to import (a second or more) and only an HTML report draws charts
    import matplotlib

    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "sqlite2ddb", "font.size": 9})
    from matplotlib.figure import Figure

    return Figure(figsize=(SIZE[0], height), layout="constrained")


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text)


def items_per_second(run: dict[str, Any]) -> str | None:
    """One line per table: items (and deletes) acknowledged per second, over the run's time."""
    series = run["series"]
    tables = sorted({t for point in series for t in point["items_per_s"]})
    if not any(v for point in series for v in point["items_per_s"].values()):
        return None  # nothing was written (a sync that found nothing to change)
    figure = _figure()
    axes = figure.add_subplot()
    times = [p["t"] for p in series]
    for n, table in enumerate(tables):
        values = [p["items_per_s"].get(table, 0) for p in series]
        (line,) = axes.plot(times, values, marker=".", label=table, color=COLOURS[n % len(COLOURS)])
        line.set_gid(f"data-items-{_slug(table)}")
    axes.set_xlabel("seconds since the start")
    axes.set_ylabel("items/s")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    axes.grid(alpha=0.3)
    return _svg(figure)


def retries_and_throttles(run: dict[str, Any]) -> str:
    """Retries and throttled requests per interval."""
    series = run["series"]
    figure = _figure(2.2)
    axes = figure.add_subplot()
    times = [p["t"] for p in series]
    for name, colour in (("retries", "#d97706"), ("throttles", "#dc2626")):
        (line,) = axes.step(times, [p[name] for p in series], where="post", label=name, color=colour, marker=".")
        line.set_gid(f"data-{name}")
    axes.set_xlabel("seconds since the start")
    axes.set_ylabel("per interval")
    axes.set_ylim(bottom=0, top=max([1] + [p["retries"] for p in series]) * 1.2)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    axes.grid(alpha=0.3)
    return _svg(figure)


def durations(run: dict[str, Any]) -> str | None:
    """Seconds each item type took, one horizontal bar each."""
    rows = run["item_types"]
    if not rows:
        return None
    figure = _figure(0.6 + 0.3 * len(rows))
    axes = figure.add_subplot()
    names = [r["name"] for r in rows]
    bars = axes.barh(names, [r["seconds"] for r in rows], color=COLOURS[0])
    for bar, row in zip(bars, rows):
        bar.set_gid(f"data-duration-{_slug(row['name'])}")
    axes.bar_label(bars, labels=[f"{r['seconds']:.1f} s, {r['items']} items" for r in rows], fontsize=8, padding=3)
    axes.invert_yaxis()
    axes.set_xlabel("seconds")
    axes.margins(x=0.25)
    return _svg(figure)


def sync_counts(counts: list[dict[str, Any]]) -> str | None:
    """New, updated, deleted and unchanged items per item type of the last sync, stacked."""
    if not counts:
        return None
    figure = _figure(0.8 + 0.3 * len(counts))
    axes = figure.add_subplot()
    names = [c["item_type"] for c in counts]
    left = [0] * len(counts)
    for n, kind in enumerate(("new", "updated", "deleted", "unchanged")):
        values = [c[kind] for c in counts]
        bars = axes.barh(names, values, left=left, label=kind, color=COLOURS[n])
        for bar, name in zip(bars, names):
            bar.set_gid(f"data-sync-{kind}-{_slug(name)}")
        left = [a + b for a, b in zip(left, values)]
    axes.invert_yaxis()
    axes.set_xlabel("items")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    return _svg(figure)


def capacity(rows: list[dict[str, Any]]) -> str | None:
    """Per table: write units the plan estimated against those DynamoDB reported consumed."""
    if not rows:
        return None
    figure = _figure(0.8 + 0.45 * len(rows))
    axes = figure.add_subplot()
    positions = list(range(len(rows)))
    kinds: tuple[tuple[str, str, str], ...] = (
        ("estimated_wcu", "plan's estimate", "#9ca3af"),
        ("consumed_wcu", "consumed (DynamoDB)", "#1f6feb"),
    )
    # consumed units are drawn only when DynamoDB was asked for them (``consumed_capacity``)
    kinds = tuple(kind for kind in kinds if any(r[kind[0]] is not None for r in rows))
    for n, (key, label, colour) in enumerate(kinds):
        values = [r[key] or 0 for r in rows]
        bars = axes.barh([p + n * 0.4 for p in positions], values, height=0.4, label=label, color=colour)
        for bar, row in zip(bars, rows):
            bar.set_gid(f"data-{key}-{_slug(row['table'])}")
        axes.bar_label(bars, fontsize=8, padding=3, fmt="%g")
    axes.set_yticks([p + 0.2 for p in positions], [r["table"] for r in rows])
    axes.invert_yaxis()
    axes.set_xlabel("write capacity units")
    axes.margins(x=0.2)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    return _svg(figure)
