"""The datasets of ``automl.py``: bundled real ones (tuning) and generated ones with a known
structure (held out); see that module's docstring."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: the searcher was developed on these (with seed 0); the others are held out
TUNING_DATASETS = ("breast_cancer", "wine", "digits", "iris", "diabetes", "seattle_weather",
                   "cars")


@dataclass
class Dataset:
    name: str
    X: pd.DataFrame
    y: pd.Series
    task: str  # classification | regression
    metric: str

    @property
    def role(self) -> str:
        return "tuning" if self.name in TUNING_DATASETS else "held-out"


# -- the datasets ------------------------------------------------------------------------------
def _mixed_frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Numbers, a 4-level and a 30-level text category, a flag and a date, 15% missing."""
    frame = pd.DataFrame({
        "x1": rng.normal(size=n), "x2": rng.normal(size=n), "x3": rng.uniform(0, 10, n),
        "x4": rng.lognormal(size=n),
        "colour": rng.choice(["red", "green", "blue", "grey"], n),
        "city": rng.choice([f"city_{i:02d}" for i in range(30)], n),
        "member": rng.random(n) < 0.4,
        "joined": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, n), "D"),
    })
    for column in ("x1", "x2", "x4", "colour", "city"):
        missing = rng.random(n) < 0.15
        if frame[column].dtype == object:
            frame[column] = frame[column].where(~missing, None)
        else:
            frame[column] = frame[column].mask(missing)
    return frame


def generated(seed: int) -> list[Dataset]:
    """The held-out datasets, generated with a known structure (see the module docstring)."""
    from sklearn.datasets import make_classification

    rng = np.random.default_rng(seed)
    out: list[Dataset] = []
    frame = _mixed_frame(rng, 2000)
    colour = frame["colour"].map({"red": 1.0, "green": -0.5, "blue": 0.0, "grey": 0.5})
    city = frame["city"].map({f"city_{i:02d}": v for i, v in
                              enumerate(rng.normal(0, 0.8, 30))})
    logit = (1.5 * frame["x1"].fillna(0) + colour.fillna(0.8) + city.fillna(0)
             + 0.6 * frame["x2"].fillna(0) * (frame["x3"] - 5) / 3
             + 1.0 * frame["x4"].isna() + 0.5 * frame["member"])
    label = rng.random(len(frame)) < 1 / (1 + np.exp(-logit))
    out.append(Dataset("mixed_missing", frame, pd.Series(np.where(label, "yes", "no"),
                                                         name="target"),
                       "classification", "accuracy"))
    X, y = make_classification(3000, n_features=12, n_informative=5, n_redundant=2,
                               weights=[0.96], flip_y=0.01, class_sep=0.8, random_state=seed)
    imbalanced = pd.DataFrame(X, columns=[f"f{i}" for i in range(12)])
    imbalanced["segment"] = rng.choice(list("ABCDE"), len(imbalanced))
    out.append(Dataset("imbalanced", imbalanced, pd.Series(y, name="target"),
                       "classification", "balanced_accuracy"))
    noise = _mixed_frame(rng, 1200)
    out.append(Dataset("noise_target", noise,
                       pd.Series(rng.choice(["a", "b"], len(noise), p=[0.6, 0.4]),
                                 name="target"), "classification", "accuracy"))
    frame = _mixed_frame(rng, 1500)
    value = (np.sin(2 * frame["x1"].fillna(0)) * 3 + frame["x3"] ** 1.5 / 4
             + frame["colour"].map({"red": 2.0, "green": 0.0, "blue": -1.0, "grey": 1.0})
             .fillna(0.5) + np.log1p(frame["x4"].fillna(1)) * frame["member"]
             + rng.normal(0, 1.0, len(frame)))
    out.append(Dataset("mixed_regression", frame, value.rename("target"), "regression", "r2"))
    return out


def load_datasets(names: list[str] | None, data_seed: int = 0) -> list[Dataset]:
    """The benchmark's datasets (those of ``names``; unavailable ones are skipped)."""
    from sklearn import datasets as sk

    found: list[Dataset] = []
    for name, loader, task in (("breast_cancer", sk.load_breast_cancer, "classification"),
                               ("wine", sk.load_wine, "classification"),
                               ("digits", sk.load_digits, "classification"),
                               ("iris", sk.load_iris, "classification"),
                               ("diabetes", sk.load_diabetes, "regression")):
        bunch = loader(as_frame=True)
        found.append(Dataset(name, bunch.data, bunch.target.rename("target"), task,
                             "accuracy" if task == "classification" else "r2"))
    from hub_kernel.data import read_table, sample_path

    weather = read_table(sample_path())
    found.append(Dataset("seattle_weather", weather.drop(columns=["weather"]),
                         weather["weather"].astype(str), "classification", "accuracy"))
    try:
        from vega_datasets import local_data

        cars = local_data.cars().dropna(subset=["Miles_per_Gallon"]).reset_index(drop=True)
        found.append(Dataset("cars", cars.drop(columns=["Miles_per_Gallon", "Name"]),
                             cars["Miles_per_Gallon"], "regression", "r2"))
    except ImportError:
        print("vega_datasets not installed: cars skipped", file=sys.stderr)
    found += generated(data_seed)
    if names:
        unknown = set(names) - {d.name for d in found}
        if unknown:
            raise SystemExit(f"unknown datasets {sorted(unknown)}; known: "
                             f"{', '.join(d.name for d in found)}")
        found = [d for d in found if d.name in names]
    return found
