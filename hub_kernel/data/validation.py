"""Validation of a table: what each column is, and what is wrong with it.

``validate(frame)`` never raises on bad data: every problem becomes an ``Issue`` in a
``ValidationReport``. Declared schemas are pandera ``DataFrameSchema`` objects (stored as JSON),
checked on every new batch of a dataset; pandera is imported only when a schema is used.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from hub_kernel.data.io.dates import as_dates, as_numbers
from hub_kernel.data.profile import DatasetProfile, profile_dataset
from hub_kernel.exceptions import ValidationError

Severity = Literal["info", "warning", "error"]
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}

# share of a text column's values that must parse for it to count as "numbers/dates as text"
_PARSE_SHARE = 0.9
_OUTLIER_MADS = 5.0  # robust z-score beyond which a value is an outlier
_MAX_EXAMPLES = 5
_SAMPLE = 1000  # values looked at before deciding to parse a whole text column


@dataclass(frozen=True)
class Issue:
    """One problem found in the data."""

    check: str
    severity: Severity
    message: str
    column: str | None = None
    count: int = 0
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class ColumnReport:
    name: str
    inferred_type: str
    dtype: str
    n_missing: int
    missing_share: float
    n_unique: int


@dataclass
class ValidationReport:
    """The validation result of one table (or one batch of a dataset)."""

    name: str
    n_rows: int
    n_columns: int
    columns: list[ColumnReport]
    issues: list[Issue] = field(default_factory=list)
    schema_checked: bool = False

    @property
    def ok(self) -> bool:
        """No errors (warnings and notes are allowed)."""
        return not self.errors

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    def issues_for(self, column: str) -> list[Issue]:
        return [i for i in self.issues if i.column == column]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        """The issues as a table, most severe first."""
        rows = [asdict(i) | {"examples": ", ".join(i.examples)} for i in self.issues]
        columns = ["severity", "check", "column", "count", "message", "examples"]
        return pd.DataFrame(rows, columns=columns)

    def summary(self) -> str:
        return (
            f"{self.name}: {self.n_rows:,} rows x {self.n_columns:,} columns; "
            f"{len(self.errors)} errors, {len(self.warnings)} warnings, "
            f"{len(self.issues) - len(self.errors) - len(self.warnings)} notes"
        )

    def _repr_html_(self) -> str:
        return report_html(self)


def _examples(values: pd.Series) -> tuple[str, ...]:
    return tuple(str(v)[:80] for v in values.drop_duplicates().head(_MAX_EXAMPLES))


def _text_values(column: pd.Series) -> pd.Series | None:
    if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
        return None
    values = column.dropna()
    if values.empty:
        return None
    return values.astype(str).str.strip()


def _as_text(name: str, what: str, values: pd.Series, parsed: pd.Series) -> Issue:
    """A "numbers/dates stored as text" warning, with the values that do not parse."""
    bad = values[~parsed]
    return Issue(f"{what}_as_text", "warning",
                 f"{parsed.mean():.0%} of {name!r} are {what} stored as text"
                 + (f"; {len(bad):,} values are not {what}" if len(bad) else ""),
                 name, len(bad), _examples(bad))


def _check_text_formats(name: str, column: pd.Series) -> list[Issue]:
    values = _text_values(column)
    if values is None:
        return []
    issues: list[Issue] = []
    sample = values.sample(min(len(values), _SAMPLE), random_state=0)
    parsed = as_numbers(sample).notna()
    if parsed.mean() >= _PARSE_SHARE:
        return [_as_text(name, "numbers", values, as_numbers(values).notna())]
    if sample.str.contains(r"\d", regex=True).mean() < _PARSE_SHARE:
        return issues
    if as_dates(sample).notna().mean() >= _PARSE_SHARE:
        ok = as_dates(values).notna()
        if ok.mean() >= _PARSE_SHARE:
            issues.append(_as_text(name, "dates", values, ok))
    return issues


def _check_identifier(name: str, column: pd.Series, n_rows: int) -> list[Issue]:
    if n_rows < 20 or pd.api.types.is_float_dtype(column) or pd.api.types.is_bool_dtype(column):
        return []
    if pd.api.types.is_datetime64_any_dtype(column):
        return []
    values = column.dropna()
    looks_like_id = "id" in name.lower().replace("-", "_").split("_") or name.lower().endswith("id")
    unique_share = values.nunique() / max(len(values), 1)
    if looks_like_id and unique_share < 1.0 and unique_share >= 0.5:
        dupes = values[values.duplicated(keep=False)]
        return [
            Issue(
                "duplicate_ids",
                "warning",
                f"{name!r} looks like an identifier but {dupes.nunique():,} values repeat",
                name,
                int(values.duplicated().sum()),
                _examples(dupes),
            )
        ]
    if (
        unique_share == 1.0
        and len(values) == n_rows
        and (looks_like_id or pd.api.types.is_integer_dtype(column))
        and not pd.api.types.is_float_dtype(column)
    ):
        diffs = np.diff(values.to_numpy()) if pd.api.types.is_integer_dtype(column) else None
        if looks_like_id or (diffs is not None and bool((diffs == 1).all())):
            return [
                Issue(
                    "identifier",
                    "info",
                    f"{name!r} is a unique identifier: not a measure to analyse",
                    name,
                )
            ]
    return []


def _check_outliers(name: str, column: pd.Series) -> list[Issue]:
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return []
    values = column.dropna().astype("float64")
    values = values[np.isfinite(values)]
    if len(values) < 20:
        return []
    median = values.median()
    mad = (values - median).abs().median() * 1.4826
    if mad == 0:
        return []
    robust_z = (values - median).abs() / mad
    outliers = values[robust_z > _OUTLIER_MADS]
    if outliers.empty:
        return []
    return [
        Issue(
            "outliers",
            "info",
            f"{len(outliers):,} values of {name!r} lie more than {_OUTLIER_MADS:g} robust "
            f"deviations from its median ({median:.4g})",
            name,
            len(outliers),
            _examples(outliers.sort_values(key=abs, ascending=False)),
        )
    ]


def _check_infinite(name: str, column: pd.Series) -> list[Issue]:
    if not pd.api.types.is_float_dtype(column):
        return []
    n = int(np.isinf(column.to_numpy(dtype="float64", na_value=np.nan)).sum())
    if not n:
        return []
    return [Issue("infinite", "warning", f"{n:,} values of {name!r} are infinite", name, n)]


def _check_schema(frame: pd.DataFrame, schema: Any) -> list[Issue]:
    import pandera.errors as pa_errors

    issues = []
    expected = list(schema.columns)
    missing = [c for c in expected if c not in frame.columns]
    extra = [c for c in frame.columns if c not in expected]
    if missing:
        issues.append(
            Issue(
                "schema_missing_columns",
                "error",
                f"columns required by the schema are missing: {missing}",
                count=len(missing),
                examples=tuple(map(str, missing)),
            )
        )
    if extra:
        issues.append(
            Issue(
                "schema_new_columns",
                "warning",
                f"columns not in the schema: {extra}",
                count=len(extra),
                examples=tuple(map(str, extra)),
            )
        )
    present = schema.remove_columns(missing) if missing else schema
    try:
        present.validate(frame, lazy=True)
    except pa_errors.SchemaErrors as exc:
        cases = exc.failure_cases
        for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
            col = None if pd.isna(column) else str(column)
            issues.append(
                Issue(
                    "schema",
                    "error",
                    f"schema check {check} failed for {col!r} in {len(group):,} case(s)",
                    col,
                    len(group),
                    _examples(group["failure_case"].astype(str)),
                )
            )
    except pa_errors.SchemaError as exc:  # non-lazy failure (e.g. whole-frame checks)
        issues.append(Issue("schema", "error", f"schema check failed: {exc}"))
    return issues


def validate(
    frame: pd.DataFrame,
    schema: Any = None,
    name: str = "data",
    profile: DatasetProfile | None = None,
) -> ValidationReport:
    """Check ``frame``; with a pandera ``schema``, also check it against the schema."""
    profile = profile or profile_dataset(frame)
    columns = [
        ColumnReport(c.name, c.kind, c.dtype, c.n_missing, c.missing_share, c.n_unique)
        for c in profile.columns
    ]
    issues: list[Issue] = []
    n_rows = len(frame)
    if n_rows == 0:
        issues.append(Issue("empty", "warning", "the table has no rows"))
    for position, column_profile in enumerate(profile.columns):
        name_ = column_profile.name
        column = frame.iloc[:, position]
        if column_profile.n_missing:
            share = column_profile.missing_share
            issues.append(
                Issue(
                    "missing",
                    "warning" if share >= 0.5 else "info",
                    f"{column_profile.n_missing:,} values of {name_!r} are missing ({share:.1%})",
                    name_,
                    column_profile.n_missing,
                )
            )
        if n_rows > 1 and column_profile.n_unique <= 1:
            value = "empty" if column_profile.n_unique == 0 else "constant"
            issues.append(
                Issue(
                    "constant", "warning", f"{name_!r} is {value}: it carries no information", name_
                )
            )
            continue
        issues += _check_text_formats(name_, column)
        issues += _check_identifier(name_, column, n_rows)
        issues += _check_outliers(name_, column)
        issues += _check_infinite(name_, column)
    if n_rows:
        try:
            duplicated = frame.duplicated()
        except TypeError:  # unhashable cells (lists from JSON): compare their text
            duplicated = frame.astype(str).duplicated()
        n_dup = int(duplicated.sum())
        if n_dup:
            issues.append(
                Issue(
                    "duplicate_rows",
                    "warning",
                    f"{n_dup:,} rows are exact duplicates of an earlier row",
                    count=n_dup,
                    examples=tuple(str(i) for i in frame.index[duplicated][:5]),
                )
            )
    if schema is not None:
        issues += _check_schema(frame, schema)
    issues.sort(key=lambda i: SEVERITY_ORDER[i.severity])
    return ValidationReport(
        name, n_rows, frame.shape[1], columns, issues, schema_checked=schema is not None
    )


# -- declared schemas -----------------------------------------------------------------------
def infer_schema(frame: pd.DataFrame) -> Any:
    """A pandera schema declaring each column's dtype and nullability (no value bounds:
    bounds learned from one batch would reject the next)."""
    import pandera.pandas as pa

    columns = {
        str(name): pa.Column(frame[name].dtype, nullable=bool(frame[name].isna().any()))
        for name in frame.columns
    }
    return pa.DataFrameSchema(columns, coerce=True)


def load_schema(path: str | os.PathLike[str]) -> Any:
    """Read a pandera schema from a JSON or YAML file."""
    import pandera.pandas as pa

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError(f"schema file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"schema file {path} cannot be read: {exc}") from exc
    try:
        if path.suffix.lower() in (".yml", ".yaml"):
            return pa.DataFrameSchema.from_yaml(text)
        json.loads(text)  # pandera would take text that is not JSON for a file name
        return pa.DataFrameSchema.from_json(text)
    except Exception as exc:
        raise ValidationError(f"{path} is not a pandera schema (JSON or YAML): {exc}") from exc


def save_schema(schema: Any, path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(json.loads(schema.to_json()), indent=2), encoding="utf-8")
    tmp.replace(path)
    return path


# -- rendering ------------------------------------------------------------------------------
_COLOURS = {"error": "#b5485d", "warning": "#d9822b", "info": "#3b6ea8"}


def report_html(report: ValidationReport, max_issues: int = 50) -> str:
    """The report as HTML; every piece of data-derived text is escaped."""
    head = (
        f"<p class='hub-report-summary'><b>{escape(report.name)}</b>: {report.n_rows:,} rows"
        f" × {report.n_columns:,} columns · <span style='color:{_COLOURS['error']}'>"
        f"{len(report.errors)} errors</span> · <span style='color:{_COLOURS['warning']}'>"
        f"{len(report.warnings)} warnings</span></p>"
    )
    if not report.issues:
        return head + "<p>No problems found.</p>"
    rows = []
    for issue in report.issues[:max_issues]:
        examples = ", ".join(issue.examples)
        rows.append(
            f"<tr><td style='color:{_COLOURS[issue.severity]}'>{issue.severity}</td>"
            f"<td class='hub-col'>{escape(issue.column or '')}</td>"
            f"<td>{escape(issue.message)}</td><td class='hub-col'>{escape(examples)}</td></tr>"
        )
    more = len(report.issues) - max_issues
    tail = f"<p>… and {more:,} more issues.</p>" if more > 0 else ""
    return (
        head + "<table class='hub-table hub-report'><thead><tr><th>severity</th>"
        "<th>column</th><th>problem</th><th>examples</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{tail}"
    )
