"""Model tiles: a model card (name, version, aliases, metrics, drift status) and a chart of a
model's metric across its registered versions.

The card takes a plain mapping (or a dataclass / object with the same attributes)::

    {
        "name": "weather-clf",                # registered model name
        "primary_metric": "accuracy",         # optional; default: first metric of the version
        "champion": "3",                      # optional; version holding the champion alias
        "challenger": "4",                    # optional
        "description": "...",                 # optional
        "versions": [                         # any order
            {"version": "3", "metrics": {"accuracy": 0.91, "f1": 0.88},
             "aliases": ["champion"], "created": "2026-11-02T10:00:00", "run_id": "..."},
            ...
        ],
    }

The card shows the champion's version (else the newest). Everything shown is user text and goes
through ``html.escape``. Computation stays in plain functions, testable without a kernel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import ipywidgets as w
import pandas as pd

from hub_kernel.models.lifecycle.drift import DriftReport
from widgets.bokehjs import ensure_bokehjs
from widgets.charts import PALETTE
from widgets.markup import escape

CHAMPION = "champion"
MAX_METRICS = 6


def _get(obj: Any, key: str, default: Any = None) -> Any:
    """``obj[key]`` for mappings, ``obj.key`` for dataclasses and other objects."""
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return [v for v in value if v is not None and v != ""]
    return [value]


def _version_key(version: Any) -> tuple[int, float, str]:
    """Sort versions numerically when they are numbers ("10" after "9"), else by text."""
    try:
        return (0, float(version), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(version))


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if value != value:  # NaN
        return "–"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _versions(info: Any) -> list[Any]:
    return sorted(_as_list(_get(info, "versions")),
                  key=lambda v: _version_key(_get(v, "version")))


def _aliases(info: Any, version: Any) -> list[str]:
    """Aliases of one version: its own list plus the card's champion/challenger keys."""
    names = [str(a) for a in _as_list(_get(version, "aliases"))]
    number = str(_get(version, "version"))
    for alias in (CHAMPION, "challenger"):
        holder = _get(info, alias)
        if holder is not None and str(holder) == number and alias not in names:
            names.append(alias)
    return names


def _shown_version(info: Any, versions: Sequence[Any]) -> Any:
    """The champion's version, else the newest."""
    for v in versions:
        if CHAMPION in _aliases(info, v):
            return v
    return versions[-1] if versions else None


def drift_status_html(drift: DriftReport | None) -> str:
    """One line: no drift check yet, stable, or drifted (with the explanation as a tooltip)."""
    if drift is None:
        return "<p class='hub-drift hub-drift-unknown'>Drift: not checked yet</p>"
    n = len(drift.features)
    k = len(drift.drifted_features)
    if drift.should_retrain:
        label = "retrain recommended (" + ", ".join(drift.reasons) + ")"
        css, color = "hub-drift-alert", "#b5485d"
    else:
        label = "stable"
        css, color = "hub-drift-ok", "#4c9a6a"
    return (f"<p class='hub-drift {css}' title='{escape(drift.explanation)}'>"
            f"<b style='color:{color}'>Drift: {escape(label)}</b> · {k} of {n} features "
            f"drifted</p><p class='hub-drift-explanation'>{escape(drift.explanation)}</p>")


def model_card_html(info: Any, drift: DriftReport | None = None) -> str:
    """The card's HTML (see the module docstring for the shape of ``info``)."""
    name = str(_get(info, "name") or "(unnamed model)")
    versions = _versions(info)
    shown = _shown_version(info, versions)
    parts = [f"<div class='hub-model-card-body'><h3 class='hub-model-name'>{escape(name)}</h3>"]
    description = _get(info, "description")
    if description:
        parts.append(f"<p class='hub-model-description'>{escape(str(description))}</p>")
    if shown is None:
        parts.append("<p class='hub-model-empty'>No registered versions yet.</p>")
    else:
        aliases = _aliases(info, shown)
        badges = "".join(f"<span class='hub-alias hub-alias-{escape(_slug(a))}'>{escape(a)}"
                         "</span> " for a in aliases)
        created = _get(shown, "created")
        parts.append(
            f"<p class='hub-model-version'>version <b>{escape(str(_get(shown, 'version')))}</b>"
            f" {badges}· {len(versions)} version{'s' if len(versions) != 1 else ''}"
            + (f" · created {escape(str(created)[:19])}" if created else "") + "</p>"
        )
        others = [(a, str(_get(v, "version"))) for v in versions if v is not shown
                  for a in _aliases(info, v)]
        if others:
            parts.append("<p class='hub-model-other-aliases'>" + ", ".join(
                f"{escape(a)}: v{escape(n)}" for a, n in others) + "</p>")
        metrics = dict(_get(shown, "metrics") or {})
        primary = _get(info, "primary_metric")
        ordered = sorted(metrics, key=lambda m: (m != primary, str(m)))[:MAX_METRICS]
        if ordered:
            rows = "".join(
                f"<tr class='{'hub-primary' if m == primary else ''}'><td>{escape(str(m))}"
                f"</td><td>{escape(_fmt(metrics[m]))}</td></tr>" for m in ordered)
            parts.append("<table class='hub-table hub-model-metrics'><thead><tr><th>metric</th>"
                         f"<th>value</th></tr></thead><tbody>{rows}</tbody></table>")
    parts.append(drift_status_html(drift))
    parts.append("</div>")
    return "".join(parts)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower())


class ModelCard(w.HTML):
    """A model card tile. ``show(info, drift)`` refreshes it."""

    def __init__(self, info: Any, drift: DriftReport | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class("hub-model-card")
        self.show(info, drift)

    def show(self, info: Any, drift: DriftReport | None = None) -> None:
        self.info, self.drift = info, drift
        self.value = model_card_html(info, drift)


def history_from_info(info: Any, metric: str | None = None) -> pd.DataFrame:
    """Metric history rows (version, metric, value, alias) from a card's ``info``."""
    rows = []
    for v in _versions(info):
        aliases = _aliases(info, v)
        for name, value in dict(_get(v, "metrics") or {}).items():
            if metric is None or name == metric:
                rows.append({"version": str(_get(v, "version")), "metric": str(name),
                             "value": value, "alias": ",".join(aliases)})
    return pd.DataFrame(rows, columns=["version", "metric", "value", "alias"])


def metric_history_data(history: Sequence[Mapping[str, Any]] | pd.DataFrame,
                        metric: str | None = None) -> tuple[str, dict[str, list[Any]]]:
    """The metric shown and its points, one per version in version order (the last value of a
    version wins). ``metric`` defaults to the first metric in ``history``."""
    frame = pd.DataFrame(list(history)) if not isinstance(history, pd.DataFrame) else history
    empty: dict[str, list[Any]] = {"version": [], "value": [], "alias": [], "champion": []}
    if frame.empty:
        return metric or "value", empty
    missing = {"version", "value"} - set(frame.columns)
    if missing:
        raise ValueError(f"metric history needs columns {sorted(missing)}")
    frame = frame.copy()
    if "metric" in frame.columns:
        metric = metric if metric is not None else str(frame["metric"].iloc[0])
        frame = frame[frame["metric"].astype(str) == metric]
    metric = metric or "value"
    if "alias" not in frame.columns:
        frame["alias"] = ""
    frame["version"] = frame["version"].astype(str)
    frame["alias"] = [",".join(str(a) for a in _as_list(x)) if not _is_na(x) else ""
                      for x in frame["alias"]]
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    frame = frame.drop_duplicates("version", keep="last")
    frame = frame.iloc[sorted(range(len(frame)),
                              key=lambda i: _version_key(frame["version"].iloc[i]))]
    aliases = frame["alias"].tolist()
    return metric, {"version": frame["version"].tolist(), "value": frame["value"].tolist(),
                    "alias": aliases, "champion": [CHAMPION in a.split(",") for a in aliases]}


def _is_na(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists
        return False


def metric_history_figure(history: Sequence[Mapping[str, Any]] | pd.DataFrame,
                          metric: str | None = None, height: int = 240) -> Any:
    """A bokeh figure of one metric across versions: a line with a marker per version, the
    champion drawn larger in another colour."""
    from bokeh.models import ColumnDataSource, FactorRange, HoverTool
    from bokeh.plotting import figure

    label, data = metric_history_data(history, metric)
    source = ColumnDataSource(data)
    fig = figure(x_range=FactorRange(factors=data["version"]), height=height,
                 sizing_mode="stretch_width", toolbar_location=None, tools="",
                 title=None if data["version"] else f"no versions of {label} yet")
    fig.line(x="version", y="value", source=source, line_color=PALETTE[0], line_width=2)
    fig.scatter(x="version", y="value", source=source, size=8, fill_color=PALETTE[0],
                line_color="white", name="versions")
    champion = {k: [v for v, c in zip(values, data["champion"], strict=True) if c]
                for k, values in data.items()}
    fig.scatter(x="version", y="value", source=ColumnDataSource(champion), size=16,
                marker="star", fill_color=PALETTE[1], line_color="white", name="champion",
                legend_label="champion")
    fig.add_tools(HoverTool(tooltips=[("version", "@version"), (label, "@value{0.0000}"),
                                      ("alias", "@alias")]))
    fig.legend.location = "bottom_right"
    fig.xaxis.axis_label = "version"
    fig.yaxis.axis_label = label
    return fig


def metric_history_widget(history: Sequence[Mapping[str, Any]] | pd.DataFrame,
                          metric: str | None = None, height: int = 240) -> w.Widget:
    """The metric history chart as a widget (BokehJS put on the page first)."""
    ensure_bokehjs()
    from jupyter_bokeh import BokehModel

    model = BokehModel(metric_history_figure(history, metric, height),
                       layout=w.Layout(width="100%"))
    model.add_class("hub-metric-history")
    return model


def model_card_with_history(info: Any, drift: DriftReport | None = None,
                            metric: str | None = None) -> w.VBox:
    """The card and, below it, the primary metric across versions."""
    metric = metric or _get(info, "primary_metric")
    box = w.VBox([ModelCard(info, drift),
                  metric_history_widget(history_from_info(info, metric), metric)])
    box.add_class("hub-model-tile")
    return box


__all__ = [
    "ModelCard",
    "drift_status_html",
    "history_from_info",
    "metric_history_data",
    "metric_history_figure",
    "metric_history_widget",
    "model_card_html",
    "model_card_with_history",
]
