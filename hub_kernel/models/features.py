"""Preprocessing built from the data: one scikit-learn ``Pipeline`` that predicts from raw rows.

Columns are sorted by their profiled kind (``hub_kernel.data.profile``):

- numeric: coerced to float (missing and infinite values become NaN), median-imputed, scaled;
- categorical and boolean: as text, most-frequent-imputed, one-hot encoded with
  ``handle_unknown="ignore"`` (a category never seen in training predicts fine);
- datetime: expanded to year, month, day of week and ordinal day, then imputed and scaled;
- dropped, each with its reason: free text, identifier-like, constant and all-missing columns.

This module imports scikit-learn at import time: import it only where a pipeline is built.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from hub_kernel.data.profile import profile_dataset
from hub_kernel.exceptions import ModelError

Task = Literal["classification", "regression"]
ModelType = Literal["auto", "classification", "regression"]
logger = logging.getLogger("hub_kernel")

# an integer target with more distinct values than this is a quantity, not a set of classes
_MAX_CLASSES = 20
_ID_NAME = re.compile(r"(^|[_\s.-])(id|uuid|key)$|^(id|uuid)([_\s.-]|$)", re.IGNORECASE)
_MIN_ID_ROWS = 10


def _frame(X: Any) -> pd.DataFrame:
    return X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)


class AsFloat(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Columns as float64; text that is not a number, missing and infinite values become NaN."""

    def fit(self, X: Any, y: Any = None) -> AsFloat:
        self.n_features_in_ = _frame(X).shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        frame = _frame(X)
        out = np.empty(frame.shape, dtype="float64")
        for j in range(frame.shape[1]):
            column = frame.iloc[:, j]
            if pd.api.types.is_bool_dtype(column):
                column = column.astype("float64")
            values = pd.to_numeric(column, errors="coerce").astype("float64")
            out[:, j] = values.to_numpy(dtype="float64", na_value=np.nan)
        out[~np.isfinite(out)] = np.nan
        return out


class AsText(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Columns as an object array of ``str`` with NaN for missing values (any input dtype)."""

    def fit(self, X: Any, y: Any = None) -> AsText:
        self.n_features_in_ = _frame(X).shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        frame = _frame(X)
        out = np.empty(frame.shape, dtype=object)
        for j in range(frame.shape[1]):
            column = frame.iloc[:, j]
            missing = column.isna().to_numpy()
            values = column.astype(object).to_numpy()
            out[:, j] = [np.nan if m else str(v) for v, m in zip(values, missing, strict=True)]
        return out


class DatetimeParts(TransformerMixin, BaseEstimator):
    """Each datetime column as four numbers: year, month, day of week, and days since 1970."""

    parts = ("year", "month", "dayofweek", "ordinal")

    def fit(self, X: Any, y: Any = None) -> DatetimeParts:
        frame = _frame(X)
        self.n_features_in_ = frame.shape[1]
        self.columns_ = [str(c) for c in frame.columns]
        return self

    def transform(self, X: Any) -> np.ndarray:
        frame = _frame(X)
        blocks = []
        for j in range(frame.shape[1]):
            stamps = pd.to_datetime(frame.iloc[:, j], errors="coerce", utc=True)
            days = (stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(days=1)
            blocks.append(np.column_stack([
                stamps.dt.year.to_numpy(dtype="float64", na_value=np.nan),
                stamps.dt.month.to_numpy(dtype="float64", na_value=np.nan),
                stamps.dt.day_of_week.to_numpy(dtype="float64", na_value=np.nan),
                days.to_numpy(dtype="float64", na_value=np.nan),
            ]))
        if not blocks:
            return np.empty((len(frame), 0))
        return np.hstack(blocks)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names = list(input_features) if input_features is not None else self.columns_
        return np.array([f"{c}_{p}" for c in names for p in self.parts], dtype=object)


@dataclass(frozen=True)
class FeaturePlan:
    """Which columns feed the model, by kind, and which were dropped and why."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    datetime: tuple[str, ...]
    dropped: dict[str, str] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical, *self.datetime]

    def summary(self) -> dict[str, str]:
        """Flat text parameters describing the preprocessing (for MLflow params)."""
        return {
            "prep.numeric": f"{len(self.numeric)} cols: median impute + standard scale",
            "prep.categorical": (
                f"{len(self.categorical)} cols: most-frequent impute + one-hot (ignore unknown)"
            ),
            "prep.datetime": f"{len(self.datetime)} cols: year, month, dayofweek, ordinal",
            "prep.dropped": ", ".join(f"{c} ({why})" for c, why in self.dropped.items()) or "-",
        }


def _identifier_like(name: str, column: pd.Series, kind: str, n_unique: int) -> bool:
    non_null = int(column.notna().sum())
    if non_null < _MIN_ID_ROWS or n_unique != non_null:
        return False
    if kind in ("categorical", "text"):
        return True
    if kind == "numeric" and _ID_NAME.search(name):
        values = column.dropna()
        return bool(pd.api.types.is_integer_dtype(values) or (values % 1 == 0).all())
    return False


def plan_features(X: pd.DataFrame) -> FeaturePlan:
    """Sort the columns of ``X`` into numeric, categorical and datetime features (or dropped)."""
    dropped: dict[str, str] = {}
    for name in X.columns:
        column = X[name]
        if pd.api.types.is_object_dtype(column) and column.map(
            lambda v: isinstance(v, list | dict | set | tuple | np.ndarray)
        ).any():
            dropped[str(name)] = "holds lists or mappings"
    profile = profile_dataset(X.drop(columns=list(dropped)))
    numeric: list[str] = []
    categorical: list[str] = []
    datetimes: list[str] = []
    for col in profile.columns:
        column = X[col.name]
        if col.n_missing == profile.n_rows:
            dropped[col.name] = "all values missing"
        elif col.n_unique <= 1:
            dropped[col.name] = "constant"
        elif _identifier_like(col.name, column, col.kind, col.n_unique):
            dropped[col.name] = "identifier-like (every value distinct)"
        elif col.kind == "text":
            dropped[col.name] = "free text (too many distinct values)"
        elif col.kind == "numeric":
            numeric.append(col.name)
        elif col.kind == "datetime":
            datetimes.append(col.name)
        else:  # categorical, boolean
            categorical.append(col.name)
    return FeaturePlan(tuple(numeric), tuple(categorical), tuple(datetimes), dropped)


Scaler = Literal["standard", "quantile", "none"]
Encoding = Literal["onehot", "ordinal"]


def _scale_steps(scaler: Scaler, n_rows: int) -> list[tuple[str, Any]]:
    if scaler == "standard":
        return [("scale", StandardScaler())]
    if scaler == "quantile":
        from sklearn.preprocessing import QuantileTransformer

        return [("scale", QuantileTransformer(output_distribution="normal",
                                              n_quantiles=max(10, min(1000, n_rows))))]
    return []


def build_preprocessor(plan: FeaturePlan, *, scaler: Scaler = "standard",
                       categorical: Encoding = "onehot", max_categories: int | None = None,
                       n_rows: int = 1000) -> ColumnTransformer:
    """The ``ColumnTransformer`` for ``plan`` (columns it does not name are dropped).

    The defaults are the trainer's preprocessing; the pipeline search chooses the numbers'
    ``scaler`` (``quantile`` uses up to ``n_rows`` quantiles, ``none`` leaves them as they are)
    and the categories' encoding (``onehot`` keeping at most ``max_categories`` per column, or
    ``ordinal`` codes for trees).
    """
    from sklearn.preprocessing import OrdinalEncoder

    transformers: list[tuple[str, Any, list[str]]] = []
    if plan.numeric:
        transformers.append(("numeric", Pipeline([
            ("float", AsFloat()),
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            *_scale_steps(scaler, n_rows),
        ]), list(plan.numeric)))
    if plan.categorical:
        encoder: tuple[str, Any] = (
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False,
                                     max_categories=max_categories))
            if categorical == "onehot" else
            ("ordinal", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)))
        transformers.append(("categorical", Pipeline([
            ("text", AsText()),
            ("impute", SimpleImputer(strategy="most_frequent", missing_values=np.nan,
                                     keep_empty_features=True)),
            encoder,
        ]), list(plan.categorical)))
    if plan.datetime:
        transformers.append(("datetime", Pipeline([
            ("parts", DatetimeParts()),
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            *_scale_steps(scaler, n_rows),
        ]), list(plan.datetime)))
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0,
                             verbose_feature_names_out=True)


def default_estimator(task: Task, random_state: int | None) -> Any:
    """Histogram gradient boosting, seeded: quick on small data, native missing values."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if task == "classification":
        return HistGradientBoostingClassifier(random_state=random_state)
    return HistGradientBoostingRegressor(random_state=random_state)


def build_pipeline(plan: FeaturePlan, estimator: Any, *, preprocessor: Any = None,
                   select: Any = None) -> Pipeline:
    """One pipeline: preprocessing (default ``build_preprocessor(plan)``), an optional
    feature ``select`` step, then ``estimator`` (logged and served as a whole)."""
    steps: list[tuple[str, Any]] = [
        ("preprocess", preprocessor if preprocessor is not None else build_preprocessor(plan))]
    if select is not None:
        steps.append(("select", select))
    steps.append(("model", estimator))
    return Pipeline(steps)


def infer_task(y: Any) -> Task:
    """``regression`` for a numeric target with many distinct values, else ``classification``.

    A float target holding any non-whole value is a quantity; a whole-number target is a set of
    classes when it has at most ``min(20, max(2, rows // 10))`` distinct values. ``y`` is a
    Series or anything one-dimensional (an array, a list). The one rule of hub: the trainer,
    the A/B gate and the fairness check all type a target with it.
    """
    series = y if isinstance(y, pd.Series) else pd.Series(np.ravel(np.asarray(y)))
    values = series.dropna()
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return "classification"
    floats = values.astype("float64")
    if not np.all(np.isfinite(floats)):
        return "regression"
    if (floats % 1 != 0).any():
        return "regression"
    limit = min(_MAX_CLASSES, max(2, len(values) // 10))
    return "regression" if values.nunique() > limit else "classification"


def estimator_task(model: Any) -> Task | None:
    """The task a fitted or unfitted estimator is for, from its scikit-learn tags (``None``
    when it does not say, e.g. a model that is not scikit-learn's)."""
    from sklearn.base import is_classifier, is_regressor

    try:
        if is_classifier(model):
            return "classification"
        if is_regressor(model):
            return "regression"
    except Exception:  # a non-sklearn model without tags
        logger.debug("cannot tell the task of %r from its tags", model, exc_info=True)
    return None


def regression_target(y: pd.Series) -> pd.Series:
    """``y`` as float64 for regression, or ``ModelError`` naming a value that is not a number."""
    if pd.api.types.is_bool_dtype(y):
        raise ModelError(f"target {y.name!r} is true/false: use model_type='classification'")
    if pd.api.types.is_numeric_dtype(y):
        return y.astype("float64")
    converted = pd.to_numeric(y, errors="coerce")
    bad = y[converted.isna() & y.notna()]
    if not bad.empty:
        raise ModelError(
            f"target {y.name!r} holds text (e.g. {str(bad.iloc[0])!r}) and regression needs "
            "numbers: use model_type='classification' or 'auto', or pick a numeric target"
        )
    return converted.astype("float64")


@dataclass(frozen=True)
class Prepared:
    """A training table ready for cross-validation (``prepare_xy``)."""

    X: pd.DataFrame
    y: Any  # numpy array
    target: str
    task: Task
    plan: FeaturePlan
    folds: int
    notes: tuple[str, ...]


def prepare_xy(X: Any, y: Any, model_type: ModelType = "auto", estimator: Any = None,
               folds: int = 5) -> Prepared:
    """Check and shape a training table: features ``X`` (a frame, or array-like) and target ``y``
    (a column name of ``X`` or values), rows without a target dropped, the task inferred unless
    given (from ``estimator`` when it is a classifier or regressor), classes checked against the
    folds, and the feature plan. Bad input raises ``ModelError`` saying what to change."""

    notes: list[str] = []
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if not isinstance(X, pd.DataFrame):
        try:
            X = pd.DataFrame(X)
        except (ValueError, TypeError) as exc:
            raise ModelError(f"X cannot be read as a table: {exc}") from None
        X.columns = [f"x{i}" for i in range(X.shape[1])]
    X = X.copy(deep=False)
    X.columns = [str(c) for c in X.columns]
    if X.columns.duplicated().any():
        duplicated = sorted(set(X.columns[X.columns.duplicated()]))
        raise ModelError(f"X has duplicate column names: {duplicated}")
    if isinstance(y, str):
        if y not in X.columns:
            raise ModelError(f"no column {y!r} in X to use as the target; columns: "
                             f"{list(X.columns)[:20]}")
        target = X[y]
        X = X.drop(columns=[y])
    else:
        if isinstance(y, pd.DataFrame) and y.shape[1] == 1:
            y = y.iloc[:, 0]
        if not isinstance(y, pd.Series):
            array = np.asarray(y)
            if array.ndim == 2 and array.shape[1] == 1:
                array = array[:, 0]
            if array.ndim != 1:
                raise ModelError(f"y must be one column, not an array of shape "
                                 f"{array.shape}")
            y = pd.Series(array, name="target")
        target = y
        if len(target) != len(X):
            raise ModelError(f"X has {len(X)} rows but y has {len(target)}")
        target = pd.Series(target.to_numpy(), index=X.index,
                           name=target.name if target.name is not None else "target")
    name = str(target.name)
    if X.shape[1] == 0:
        raise ModelError("X has no feature columns")

    missing = target.isna().to_numpy()
    if missing.all():
        raise ModelError(f"target {name!r} has no values")
    if missing.any():
        notes.append(f"dropped {int(missing.sum())} rows whose target is missing")
        X, target = X.loc[~missing], target.loc[~missing]
    if len(X) < folds:
        raise ModelError(
            f"{len(X)} rows with a target is fewer than the {folds} cross-validation folds; "
            "bring more rows or lower cv (at least 2)"
        )

    task: Task
    if model_type == "auto":
        from sklearn.base import is_classifier, is_regressor

        if estimator is not None and is_classifier(estimator):
            task = "classification"
        elif estimator is not None and is_regressor(estimator):
            task = "regression"
        else:
            task = infer_task(target)
        notes.append(f"task inferred from the target: {task}")
    else:
        task = model_type

    if task == "regression":
        values = regression_target(target).to_numpy(dtype="float64")
    else:
        counts = target.astype(str).value_counts() if not (
            pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target)
        ) else target.value_counts()
        if len(counts) < 2:
            raise ModelError(
                f"target {name!r} has a single class ({counts.index[0]!r}): a classifier "
                "needs at least two; check the target column or the rows selected"
            )
        rarest, smallest = counts.index[-1], int(counts.iloc[-1])
        if smallest < 2:
            raise ModelError(
                f"class {rarest!r} of target {name!r} has a single row; stratified "
                "cross-validation needs at least 2 rows per class: drop or merge rare classes"
            )
        if smallest < folds:
            notes.append(f"cross-validation reduced from {folds} to {smallest} folds: class "
                         f"{rarest!r} has {smallest} rows")
            folds = smallest
        if pd.api.types.is_bool_dtype(target) or pd.api.types.is_numeric_dtype(target):
            values = target.to_numpy()
        else:
            values = target.astype(str).to_numpy(dtype=object)

    plan = plan_features(X)
    for column, why in plan.dropped.items():
        notes.append(f"dropped feature {column!r}: {why}")
        logger.info("training without column %s: %s", column, why)
    if not plan.features:
        raise ModelError(
            "no usable feature columns: " + "; ".join(f"{c}: {w}" for c, w in
                                                      plan.dropped.items())
        )
    return Prepared(X=X.reset_index(drop=True), y=values, target=name, task=task,
                     plan=plan, folds=folds, notes=tuple(notes))
