"""The overview and missing-values tiles: HTML drawn from the profile alone.

Everything shown from the data goes through ``escape``: column names and values are user text.
"""

from __future__ import annotations

from hub_kernel.core.formatting import format_number, plain_integers
from hub_kernel.data.profile import DatasetProfile
from widgets.markup import escape


def _fmt(value: float, column: object | None = None) -> str:
    """A number of the overview; years and ids of ``column`` without thousands separators."""
    if column is None:
        return format_number(value)
    stats = getattr(column, "stats", {}) or {}
    low, high = stats.get("min"), stats.get("max")
    integer = str(getattr(column, "dtype", "")).lower().startswith(("int", "uint")) or all(
        isinstance(v, int | float) and float(v).is_integer() for v in (low, high))
    plain = plain_integers(str(getattr(column, "name", "")), low, high, integer=integer)
    if integer and isinstance(value, float) and value.is_integer():
        value = int(value)  # a whole number: "4,000", not "4000.0" or "4000"
    return format_number(value, plain=plain)


def overview_html(profile: DatasetProfile) -> str:
    """The overview tile: size of the data and one row per column."""
    rows = []
    for c in profile.columns:
        if c.kind == "numeric" and c.stats:
            summary = f"{_fmt(c.stats['min'], c)} – {_fmt(c.stats['max'], c)}"
        elif c.kind == "datetime" and c.stats:
            summary = f"{c.stats['min'][:10]} – {c.stats['max'][:10]}"
        elif c.stats:
            where = " in the sample" if c.stats.get("top_in_sample") else ""
            summary = f"top{where}: {c.stats['top']} ({c.stats['top_count']:,})"
        else:
            summary = "empty"
        rows.append(
            f"<tr><td class='hub-col'>{escape(c.name)}</td><td>{escape(c.kind)}</td>"
            f"<td>{'≈' if c.stats.get('n_unique_approximate') else ''}{c.n_unique:,}</td>"
            f"<td>{escape(summary)}</td></tr>"
        )
    return (
        f"<div class='hub-overview'><p><b>{profile.n_rows:,}</b> rows × "
        f"<b>{profile.n_columns:,}</b> columns · {profile.memory_bytes / 1e6:,.1f} MB</p>"
        "<table class='hub-table'><thead><tr><th>column</th><th>kind</th><th>distinct</th>"
        f"<th>values</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def missing_html(profile: DatasetProfile) -> str:
    """The missing-values tile: share of missing values per column, worst first."""
    if profile.n_missing == 0:
        return (
            f"<p class='hub-missing-none'>No missing values in any of the "
            f"{profile.n_columns:,} columns ({profile.n_rows:,} rows).</p>"
        )
    rows = []
    for c in sorted(profile.columns, key=lambda c: -c.missing_share):
        if not c.n_missing:
            continue
        pct = 100 * c.missing_share
        rows.append(
            f"<tr><td class='hub-col'>{escape(c.name)}</td><td>{c.n_missing:,}</td>"
            f"<td><span class='hub-bar' style='width:{pct * 0.8:.0f}px'></span>{pct:.1f}%</td></tr>"
        )
    return (
        "<table class='hub-table'><thead><tr><th>column</th><th>missing</th><th>share</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )
