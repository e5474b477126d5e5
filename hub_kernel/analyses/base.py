"""The analysis interface: facts, results, the ``Analysis`` base class and the registry.

An analysis turns a table (and its profile) into an ``AnalysisResult``: a title, a list of
``Fact`` (one finding per sentence, each carrying exactly one computed number), an optional table,
an optional chart spec a tile can plot, extra data and caveats. Reports check every number in
their narrative against the facts, so a fact's ``text`` shows its ``value`` formatted with
``format_number`` and no other number.

``AnalysisRegistry`` is a ``hub_kernel.core.registry.Registry`` of analyses; hub's own one, with
the built-in analyses, lives in ``hub_kernel.analyses.catalog``. An unknown name raises
``UnknownAnalysisError`` listing the known ones. The base class does the
bookkeeping (checks, timing, error translation) and subclasses fill one hook, ``_run``.

Nothing here escapes text: column names are kept as given and data is escaped where it is
rendered.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd

from hub_kernel.core.formatting import format_number
from hub_kernel.core.registry import Registry
from hub_kernel.exceptions import (
    AnalysisError,
    AnalysisRequestError,
    HubError,
    RegistryError,
    UnknownAnalysisError,
)

if TYPE_CHECKING:
    from hub_kernel.data.profile import DatasetProfile

logger = logging.getLogger("hub_kernel")

ENTRY_POINT_GROUP = "hub.analyses"
FactValue = float | int | str | None
#: how a fact's number is written: ``number`` (``12,346``), ``p_value`` (a computed 0 is
#: ``< 1e-16``) or ``plain`` (years and ids: ``2003``, no thousands separator)
FactStyle = Literal["number", "p_value", "plain"]


# -- facts and results -------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """``value`` as JSON-friendly Python (numpy scalars, arrays, timestamps, NaN -> None)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, pd.Timestamp | np.datetime64):
        return pd.Timestamp(value).isoformat()
    if value is pd.NA or value is pd.NaT:
        return None
    return value


@dataclass(frozen=True)
class Fact:
    """One sentence-level finding; ``value`` is exactly the computed number it states,
    written in ``text`` as ``formatted`` (``format_number`` in the fact's ``style``)."""

    key: str
    text: str
    value: FactValue
    unit: str | None = None
    style: FactStyle = "number"

    def __post_init__(self) -> None:
        value = self.value
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        object.__setattr__(self, "value", value)

    @property
    def formatted(self) -> str:
        """The value as written in the text, without its unit (``2003``, ``< 1e-16``)."""
        return format_number(self.value, plain=self.style == "plain",
                             p_value=self.style == "p_value")

    @property
    def display(self) -> str:
        """The value as written in the text, with its unit (``45.2%``, ``0.52 per day``)."""
        shown = self.formatted
        if not self.unit:
            return shown
        return f"{shown}{self.unit}" if self.unit == "%" else f"{shown} {self.unit}"

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "text": self.text, "value": self.value, "unit": self.unit,
                "style": self.style}


ChartType = Literal["bar", "line", "histogram", "scatter", "heatmap"]


@dataclass
class AnalysisResult:
    """What an analysis found: facts for the narrative, a table and a chart for the tile.

    ``chart`` is data a tile can plot: ``{"type": "bar|line|histogram|scatter|heatmap",
    "x": [...], "y": [...], ...}`` (a heatmap adds ``"z"``, a scatter may add ``"color"``,
    a line may add ``"series"``; ``"x_label"``/``"y_label"`` name the axes).
    """

    name: str
    title: str
    facts: list[Fact] = field(default_factory=list)
    table: pd.DataFrame | None = None
    chart: dict[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    caveats: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: Python objects for callers (e.g. the fitted model); not part of ``to_dict``
    artifacts: dict[str, Any] = field(default_factory=dict, repr=False)

    def fact(self, key: str) -> Fact:
        """The fact with ``key``; ``KeyError`` listing the keys if none."""
        for item in self.facts:
            if item.key == key:
                return item
        raise KeyError(f"no fact {key!r} in {self.name}; facts: "
                       f"{', '.join(f.key for f in self.facts) or 'none'}")

    def value(self, key: str) -> FactValue:
        """The value of fact ``key``."""
        return self.fact(key).value

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (the table as ``{"columns": [...], "rows": [[...], ...]}``)."""
        table = None
        if self.table is not None:
            table = {"columns": [str(c) for c in self.table.columns],
                     "rows": _plain(self.table.astype(object).to_numpy().tolist())}
        return {
            "name": self.name, "title": self.title,
            "facts": [f.to_dict() for f in self.facts], "table": table,
            "chart": _plain(self.chart) if self.chart is not None else None,
            "data": _plain(self.data), "caveats": list(self.caveats),
            "seconds": self.seconds,
        }


@contextlib.contextmanager
def on_column(name: Any) -> Iterator[None]:
    """Work on one column: an exception raised inside names ``name`` in its ``AnalysisError``."""
    try:
        yield
    except Exception as exc:
        if not hasattr(exc, "_hub_column"):
            exc._hub_column = str(name)  # type: ignore[attr-defined]
        raise


# -- the base class ----------------------------------------------------------------------
class Analysis:
    """One kind of analysis. Subclasses set ``name``, ``title`` and ``requirement`` and
    implement ``_run`` (and ``applies`` when it needs particular columns).

    ``run`` profiles the frame when no profile is given, checks the analysis applies, times it
    and turns any unexpected exception into an ``AnalysisError`` naming the analysis and column.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    #: what the data needs for ``applies`` to be true, in words (for error messages)
    requirement: ClassVar[str] = "a table with at least one row"
    #: whether the analysis needs a target column
    needs_target: ClassVar[bool] = False
    #: the hook subclasses implement: ``_run(frame, profile, *, target=None, **their params)``
    _run: Callable[..., AnalysisResult]

    def applies(self, profile: DatasetProfile, target: str | None = None) -> bool:
        """Whether this analysis can say something about data with this profile."""
        if self.needs_target and target is None:
            return False
        return profile.n_rows > 0

    def run(self, frame: pd.DataFrame, profile: DatasetProfile | None = None,
            target: str | None = None, **params: Any) -> AnalysisResult:
        """Run the analysis on ``frame``; raises ``AnalysisError`` when it cannot."""
        from hub_kernel.data.profile import profile_dataset

        if not isinstance(frame, pd.DataFrame):
            raise AnalysisError(self.name, f"expected a pandas DataFrame, got "
                                           f"{type(frame).__name__}")
        if target is not None and target not in frame.columns:
            raise AnalysisRequestError(f"no column {target!r} to use as the target; columns: "
                                       f"{', '.join(map(str, frame.columns[:20]))}")
        if profile is None:
            profile = profile_dataset(frame)
        if not self.applies(profile, target):
            raise AnalysisError(self.name, f"does not apply to this data: it needs "
                                           f"{self.requirement}")
        accepted = self.parameters()
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise AnalysisError(self.name, f"unknown parameter(s) {', '.join(unknown)}; it "
                                           f"takes: {', '.join(accepted) or 'none'}")
        started = time.perf_counter()
        try:
            result = self._run(frame, profile, target=target, **params)
        except HubError:
            raise
        except Exception as exc:
            raise self._error(exc) from exc
        result.seconds = time.perf_counter() - started
        _note_sample(result, len(frame), profile)
        logger.debug("analysis %s: %d facts in %.3f s", self.name, len(result.facts),
                     result.seconds)
        return result

    def parameters(self) -> list[str]:
        """The keyword parameters ``run`` accepts besides ``target``."""
        import inspect

        signature = inspect.signature(self._run)
        return [p.name for p in signature.parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "target"]

    def _error(self, exc: Exception) -> AnalysisError:
        lines = str(exc).strip().splitlines()
        detail = lines[0][:300] if lines else ""
        reason = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        return AnalysisError(self.name, reason, column=getattr(exc, "_hub_column", None))

    def result(self, **fields: Any) -> AnalysisResult:
        """An ``AnalysisResult`` named after this analysis."""
        return AnalysisResult(name=self.name, title=fields.pop("title", self.title), **fields)

    def __repr__(self) -> str:
        return f"<analysis {self.name!r}: {self.title}>"


def _note_sample(result: AnalysisResult, rows: int, profile: DatasetProfile) -> None:
    """A result computed on a sample of a larger dataset (profiled out of core) says so: in
    its caveats ("sample of 50,000 of 11,000,000 rows") and ``data["sample"]``."""
    if not getattr(profile, "out_of_core", False) or rows >= profile.n_rows:
        return
    from hub_kernel.data.large import sample_note

    result.data.setdefault("sample", {"rows": rows, "of": profile.n_rows})
    note = sample_note(rows, profile.n_rows)
    if not any(note in c for c in result.caveats):
        result.caveats.append(note)


# -- the registry ----------------------------------------------------------------------------
def as_analysis(obj: Any) -> Analysis:
    """``obj`` (an ``Analysis`` subclass or instance) as an instance; ``RegistryError`` if it
    is not one."""
    instance = obj() if isinstance(obj, type) else obj
    if not isinstance(instance, Analysis):
        raise RegistryError(f"{instance!r} is not an Analysis: subclass "
                            "hub_kernel.analyses.Analysis")
    return instance


class AnalysisRegistry(Registry[Analysis]):
    """The analyses hub knows, by name, in registration order (``builtins``: called once, on
    first use, for the built-in ones; then the ``hub.analyses`` entry points)."""

    def __init__(self, builtins: Callable[[], Iterable[tuple[str, Any]]] | None = None) -> None:
        super().__init__("analysis", plural="analyses", entry_point_group=ENTRY_POINT_GROUP,
                         builtins=builtins, check=as_analysis, error=UnknownAnalysisError)

    def available(self, profile: DatasetProfile | None = None,
                  target: str | None = None) -> list[str]:
        """Names of the analyses registered; with a profile, those that apply to it."""
        if profile is None:
            return self.names()
        return [n for n, a in self.items() if a.applies(profile, target)]
